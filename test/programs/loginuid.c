/* loginuid: the audit login uid, set by the program itself (one may set
 * one's own while it is unset, the harness's case) to 4242 in the main
 * task and in a child it forks afterwards (which inherits it), then 4343
 * in the child (a change needs CAP_AUDIT_CONTROL: as root only).
 * Checks: /proc/self/loginuid of both tasks. Only the task itself may
 * write it, so a restore must have the task write it. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "crtest.h"

static long read_loginuid(void)
{
	char buf[32] = "";
	int fd = open("/proc/self/loginuid", O_RDONLY);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	return n > 0 ? strtol(buf, NULL, 10) : -1;
}

static int write_loginuid(long v)
{
	char buf[32];
	int len = snprintf(buf, sizeof(buf), "%ld", v);
	int fd = open("/proc/self/loginuid", O_WRONLY);
	if (fd < 0)
		return -1;
	int ok = write(fd, buf, len) == len;
	close(fd);
	return ok ? 0 : -1;
}

int main(int argc, char **argv)
{
	crt_init(argc, argv);
	if (read_loginuid() < 0)
		crt_setup_fail("no /proc/self/loginuid: %s", strerror(errno));
	if (write_loginuid(4242))
		crt_setup_fail("set loginuid 4242: %s", strerror(errno));
	long child_want = geteuid() == 0 ? 4343 : 4242;
	int tochild[2], fromchild[2];
	if (pipe(tochild) || pipe(fromchild))
		crt_setup_fail("pipe: %s", strerror(errno));
	pid_t pid = fork();
	if (pid < 0)
		crt_setup_fail("fork: %s", strerror(errno));
	if (pid == 0) {
		close(tochild[1]);
		close(fromchild[0]);
		char c = 1;
		if (child_want != 4242 && write_loginuid(child_want))
			c = 2;
		if (write(fromchild[1], &c, 1) != 1)
			_exit(1);
		/* Told to check once the parent got SIGTERM. */
		if (read(tochild[0], &c, 1) != 1)
			_exit(1);
		c = read_loginuid() == child_want ? 0 : 3;
		if (write(fromchild[1], &c, 1) != 1)
			_exit(1);
		_exit(0);
	}
	close(tochild[0]);
	close(fromchild[1]);
	char c;
	if (read(fromchild[0], &c, 1) != 1 || c != 1)
		crt_setup_fail("child could not set loginuid %ld", child_want);

	crt_ready();
	crt_wait();

	CHECK(read_loginuid() == 4242, "loginuid %ld, want 4242", read_loginuid());
	c = 1;
	CHECK(write(tochild[1], &c, 1) == 1 && read(fromchild[0], &c, 1) == 1 && c == 0, "child's loginuid is not %ld", child_want);
	waitpid(pid, NULL, 0);
	return crt_finish();
}
