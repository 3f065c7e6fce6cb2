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

#include <signal.h>
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

#endif
