/* crtest: the protocol every C/R test program follows (see ../README.md).
 *
 *   prog --pidfile FILE --outfile FILE [--workdir DIR]
 *
 * The program sets up its state, calls crt_ready() (which writes its pid to
 * the pidfile), waits for SIGTERM with crt_wait(), checks its state with
 * CHECK() and ends with `return crt_finish();`, which writes "PASS" or
 * "FAIL: <first failure>" to the outfile. Files the program creates go in
 * the workdir (default: the outfile's directory). */
#ifndef CRTEST_H
#define CRTEST_H

#include <netinet/in.h>
#include <signal.h>
#include <stddef.h>
#include <sys/types.h>

/* Set by the SIGTERM handler (installed by crt_init with SA_RESTART). */
extern volatile sig_atomic_t crt_term;

/* Absolute path of the work directory. */
extern const char *crt_workdir;

/* Parses the options; exits with status 2 on a usage error. */
void crt_init(int argc, char **argv);

/* Returns "<workdir>/<name>" in a buffer that is never freed. */
char *crt_path(const char *name);

/* Writes the pid to the pidfile (through a rename, so the harness never
 * reads a partial file). */
void crt_ready(void);

/* Writes pid, not the caller's, to the pidfile: the pid the harness is to
 * know the program's task by (the init of a pid namespace the program
 * made, which sees itself as 1), or the root's when another task writes
 * it (the root is stopped). */
void crt_ready_pid(pid_t pid);

/* Sleeps until SIGTERM has arrived. */
void crt_wait(void);

/* Sleeps ms milliseconds even if signals interrupt the sleep. */
void crt_sleep_ms(long ms);

/* Records a failure (the first one is reported) unless cond holds. */
void crt_check(int cond, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define CHECK(cond, ...) crt_check(!!(cond), __VA_ARGS__)

/* Setup failed: writes "FAIL: setup: <why>" and exits with status 1. */
void crt_setup_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* Writes the verdict to the outfile; returns the exit status (0 on PASS). */
int crt_finish(void);

/* Data patterns: byte i of seed's pattern, so that a lost, doubled or
 * foreign byte in a queue or a file shows. */
unsigned char crt_pat(int seed, long i);

/* Fills b with bytes off..off+n-1 of seed's pattern. */
void crt_fill_pat(unsigned char *b, int seed, long off, size_t n);

/* Returns the index in b of the first byte that is not seed's pattern
 * from off on, or -1 when all n are. */
long crt_diff_pat(const unsigned char *b, int seed, long off, size_t n);

/* Writes n bytes of seed's pattern to fd in one write; returns 1 when all
 * of them went. */
int crt_send_pat(int fd, int seed, size_t n);

/* Reads n bytes from the stream fd, waiting up to timeout_ms for each
 * piece (0: only what is queued now); returns 1 when they came and are
 * seed's pattern. */
int crt_recv_pat(int fd, int seed, size_t n, int timeout_ms);

/* Makes a pid namespace (and a user namespace when not root) and forks its
 * init, which runs init_main(fd) and exits with what it returns; init_main
 * writes one byte to fd when it is ready. Returns init's pid, as the
 * caller's namespace sees it, once that byte came; a failure is a setup
 * failure. */
pid_t crt_pidns_init(int (*init_main)(int ready_fd));

/* An int socket option of fd, or -1 when getsockopt fails. */
int crt_sockopt_int(int fd, int level, int opt);

/* The port fd is bound to (peer: connected to), IPv4 or IPv6; -1 on
 * failure. */
int crt_port_of(int fd, int peer);

/* 127.0.0.1:port. */
struct sockaddr_in crt_loopback(int port);

/* Whether reading addr raises SIGSEGV (a guard page, PROT_NONE, a hole). */
int crt_faults(volatile const unsigned char *addr);

#endif
