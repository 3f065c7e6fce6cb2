/* crtest: option parsing, pidfile, SIGTERM wait and verdict for the C/R
 * test programs, and the helpers several of them share. */
#define _GNU_SOURCE
#include "crtest.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

volatile sig_atomic_t crt_term;
const char *crt_workdir;

static const char *pidfile, *outfile;
static char failure[512];

static void on_term(int sig)
{
	(void)sig;
	crt_term = 1;
}

static void usage(const char *prog)
{
	fprintf(stderr, "usage: %s --pidfile FILE --outfile FILE [--workdir DIR]\n", prog);
	exit(2);
}

/* Makes p absolute against the current directory, so that a program that
 * changes directory still finds its files. */
static char *absolute(const char *p)
{
	char cwd[PATH_MAX], *r;

	if (p[0] == '/')
		return strdup(p);
	if (!getcwd(cwd, sizeof(cwd)) || asprintf(&r, "%s/%s", cwd, p) < 0) {
		perror("absolute path");
		exit(2);
	}
	return r;
}

void crt_init(int argc, char **argv)
{
	const char *work = NULL;

	for (int i = 1; i < argc; i++) {
		const char **dst = NULL;
		if (!strcmp(argv[i], "--pidfile"))
			dst = &pidfile;
		else if (!strcmp(argv[i], "--outfile"))
			dst = &outfile;
		else if (!strcmp(argv[i], "--workdir"))
			dst = &work;
		if (!dst || i + 1 == argc)
			usage(argv[0]);
		*dst = argv[++i];
	}
	if (!pidfile || !outfile)
		usage(argv[0]);
	pidfile = absolute(pidfile);
	outfile = absolute(outfile);

	char *dir;
	if (work) {
		dir = absolute(work);
	} else {
		dir = strdup(outfile);
		*strrchr(dir, '/') = '\0';
		if (!dir[0])
			strcpy(dir, "/");
	}
	/* Canonical, so programs may compare it with getcwd(). */
	crt_workdir = realpath(dir, NULL);
	if (!crt_workdir)
		crt_setup_fail("workdir %s: %s", dir, strerror(errno));
	free(dir);

	struct sigaction sa = { .sa_handler = on_term, .sa_flags = SA_RESTART };
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGTERM, &sa, NULL))
		crt_setup_fail("sigaction SIGTERM: %s", strerror(errno));
}

char *crt_path(const char *name)
{
	char *p;

	if (asprintf(&p, "%s/%s", crt_workdir, name) < 0)
		crt_setup_fail("asprintf: out of memory");
	return p;
}

/* Writes text to path through path.tmp and a rename. */
static int write_file(const char *path, const char *text)
{
	char tmp[PATH_MAX];
	int fd, n = (int)strlen(text);

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -1;
	if (write(fd, text, n) != n || fsync(fd) || close(fd)) {
		close(fd);
		return -1;
	}
	return rename(tmp, path);
}

void crt_ready(void)
{
	crt_ready_pid(getpid());
}

void crt_ready_pid(pid_t pid)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%d\n", (int)pid);
	if (write_file(pidfile, buf))
		crt_setup_fail("write pidfile %s: %s", pidfile, strerror(errno));
}

void crt_wait(void)
{
	/* A SIGTERM that lands between the test and pause() is only seen at
	 * the next one: the harness repeats SIGTERM until the outfile appears. */
	while (!crt_term)
		pause();
}

void crt_sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

static void vrecord(const char *prefix, const char *fmt, va_list ap)
{
	char msg[sizeof(failure)];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	fprintf(stderr, "FAIL: %s%s\n", prefix, msg);
	if (!failure[0])
		snprintf(failure, sizeof(failure), "%s%s", prefix, msg);
}

void crt_check(int cond, const char *fmt, ...)
{
	va_list ap;

	if (cond)
		return;
	va_start(ap, fmt);
	vrecord("", fmt, ap);
	va_end(ap);
}

int crt_finish(void)
{
	char buf[sizeof(failure) + 16];

	snprintf(buf, sizeof(buf), "%s%s\n", failure[0] ? "FAIL: " : "PASS", failure);
	if (write_file(outfile, buf)) {
		fprintf(stderr, "write outfile %s: %s\n", outfile, strerror(errno));
		return 1;
	}
	return failure[0] != 0;
}

void crt_setup_fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vrecord("setup: ", fmt, ap);
	va_end(ap);
	if (outfile)
		crt_finish();
	exit(1);
}

unsigned char crt_pat(int seed, long i)
{
	return (unsigned char)(i * 7 + seed * 31 + i / 251);
}

void crt_fill_pat(unsigned char *b, int seed, long off, size_t n)
{
	for (size_t i = 0; i < n; i++)
		b[i] = crt_pat(seed, off + (long)i);
}

long crt_diff_pat(const unsigned char *b, int seed, long off, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (b[i] != crt_pat(seed, off + (long)i))
			return (long)i;
	return -1;
}

int crt_send_pat(int fd, int seed, size_t n)
{
	unsigned char *b = malloc(n ? n : 1);
	int ok;

	if (!b)
		return 0;
	crt_fill_pat(b, seed, 0, n);
	ok = write(fd, b, n) == (ssize_t)n;
	free(b);
	return ok;
}

int crt_recv_pat(int fd, int seed, size_t n, int timeout_ms)
{
	unsigned char b[65536];
	size_t got = 0;

	while (got < n) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (poll(&p, 1, timeout_ms) != 1)
			return 0;
		size_t want = n - got < sizeof(b) ? n - got : sizeof(b);
		ssize_t k = recv(fd, b, want, MSG_DONTWAIT);
		if (k <= 0)
			return 0;
		if (crt_diff_pat(b, seed, (long)got, (size_t)k) >= 0)
			return 0;
		got += (size_t)k;
	}
	return 1;
}

pid_t crt_pidns_init(int (*init_main)(int ready_fd))
{
	int flags = CLONE_NEWPID;
	int ready[2];
	char c;

	if (geteuid() != 0)
		flags |= CLONE_NEWUSER;
	if (unshare(flags))
		crt_setup_fail("unshare: %s", strerror(errno));
	if (pipe(ready))
		crt_setup_fail("pipe: %s", strerror(errno));
	pid_t init = fork();
	if (init < 0)
		crt_setup_fail("fork init: %s", strerror(errno));
	if (init == 0) {
		close(ready[0]);
		exit(init_main(ready[1]));
	}
	close(ready[1]);
	if (read(ready[0], &c, 1) != 1)
		crt_setup_fail("the namespace's init did not get ready");
	close(ready[0]);
	return init;
}

static sigjmp_buf probe_env;

static void on_segv(int sig)
{
	(void)sig;
	siglongjmp(probe_env, 1);
}

int crt_faults(volatile const unsigned char *addr)
{
	struct sigaction sa, old;
	int hit;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_segv;
	sigaction(SIGSEGV, &sa, &old);
	if (sigsetjmp(probe_env, 1) == 0) {
		(void)*addr;
		hit = 0;
	} else {
		hit = 1;
	}
	sigaction(SIGSEGV, &old, NULL);
	return hit;
}

int crt_sockopt_int(int fd, int level, int opt)
{
	int v = -1;
	socklen_t l = sizeof(v);

	if (getsockopt(fd, level, opt, &v, &l))
		return -1;
	return v;
}

int crt_port_of(int fd, int peer)
{
	struct sockaddr_in6 a;
	socklen_t l = sizeof(a);

	memset(&a, 0, sizeof(a));
	if ((peer ? getpeername : getsockname)(fd, (struct sockaddr *)&a, &l))
		return -1;
	return ntohs(a.sin6_port); /* sin_port is at the same offset */
}

struct sockaddr_in crt_loopback(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return a;
}
