/* crtest: option parsing, pidfile, SIGTERM wait and verdict for the C/R
 * test programs. */
#define _GNU_SOURCE
#include "crtest.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
