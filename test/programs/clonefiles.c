/* clonefiles: tasks sharing one fd table (clone(CLONE_FILES)).
 *   the root holds a pipe with 100 unread bytes, a file at offset 7 and a
 *   dup of it at fd 60; child A shares the root's table, grandchild G
 *   (cloned by A with CLONE_FILES) shares it too; child B is forked and
 *   has a copy of its own.
 * Checks: kcmp(KCMP_FILES) says root, A and G have one table and B
 *   another; an fd the root opens now is open in A and G, not in B; fd 60
 *   closed by A is closed for the root; the pipe's bytes, the file's
 *   offset.
 * With CLONEFILES_SIBLING=1 child B also clones S with CLONE_FILES and
 * CLONE_PARENT: a child of the root sharing B's table, which no restore
 * can clone from its parent; the images are refused (pkg/restore's
 * TestCheckCloneFilesSibling) and the program runs on. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/kcmp.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "crtest.h"

#define DUPFD 60

struct kid {
	pid_t pid;
	int req[2], ans[2];
};

static struct kid A, G, B;
static char stack_a[64 * 1024], stack_g[64 * 1024], stack_s[64 * 1024];
static pid_t S = -1;

static int s_main(void *arg)
{
	(void)arg;
	for (;;)
		pause();
	return 0;
}

/* serve: answers requests of two bytes, an op and an fd: 'q' is the fd
 * open here ('y'/'n'), 'c' close it ('y'). Ends at end of file. */
static void serve(struct kid *k)
{
	unsigned char m[2];
	while (read(k->req[0], m, 2) == 2) {
		char c = 'n';
		if (m[0] == 'q')
			c = fcntl(m[1], F_GETFD) >= 0 ? 'y' : 'n';
		else if (m[0] == 'c')
			c = close(m[1]) == 0 ? 'y' : 'n';
		if (write(k->ans[1], &c, 1) != 1)
			break;
	}
	_exit(0);
}

static int g_main(void *arg)
{
	(void)arg;
	serve(&G);
	return 0;
}

static int a_main(void *arg)
{
	(void)arg;
	G.pid = clone(g_main, stack_g + sizeof(stack_g), CLONE_FILES | SIGCHLD, NULL);
	if (G.pid < 0)
		_exit(1);
	/* The table is shared: the root reads G's pid from here. */
	if (write(A.ans[1], &G.pid, sizeof(G.pid)) != sizeof(G.pid))
		_exit(1);
	serve(&A);
	return 0;
}

static char ask(struct kid *k, char op, int fd)
{
	unsigned char m[2] = { (unsigned char)op, (unsigned char)fd };
	char c = '?';
	if (write(k->req[1], m, 2) != 2 || read(k->ans[0], &c, 1) != 1)
		return '?';
	return c;
}

static long kcmp_files(pid_t a, pid_t b)
{
	return syscall(SYS_kcmp, a, b, KCMP_FILES, 0, 0);
}

int main(int argc, char **argv)
{
	crt_init(argc, argv);
	int p[2];
	char buf[100];

	if (pipe(p))
		crt_setup_fail("pipe: %s", strerror(errno));
	memset(buf, 'x', sizeof(buf));
	if (write(p[1], buf, sizeof(buf)) != sizeof(buf))
		crt_setup_fail("write pipe: %s", strerror(errno));
	int f = open(crt_path("clonefiles.dat"), O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (f < 0 || write(f, "0123456789abcdef", 16) != 16 || lseek(f, 7, SEEK_SET) != 7)
		crt_setup_fail("file: %s", strerror(errno));
	if (dup2(f, DUPFD) != DUPFD)
		crt_setup_fail("dup2: %s", strerror(errno));

	if (pipe(A.req) || pipe(A.ans) || pipe(G.req) || pipe(G.ans) || pipe(B.req) || pipe(B.ans))
		crt_setup_fail("pipe: %s", strerror(errno));
	A.pid = clone(a_main, stack_a + sizeof(stack_a), CLONE_FILES | SIGCHLD, NULL);
	if (A.pid < 0)
		crt_setup_fail("clone: %s", strerror(errno));
	if (read(A.ans[0], &G.pid, sizeof(G.pid)) != sizeof(G.pid) || G.pid <= 0)
		crt_setup_fail("no grandchild");
	B.pid = fork();
	if (B.pid < 0)
		crt_setup_fail("fork: %s", strerror(errno));
	if (B.pid == 0) {
		close(B.req[1]);
		close(B.ans[0]);
		if (getenv("CLONEFILES_SIBLING")) {
			pid_t s = clone(s_main, stack_s + sizeof(stack_s), CLONE_FILES | CLONE_PARENT | SIGCHLD, NULL);
			if (s < 0 || write(B.ans[1], &s, sizeof(s)) != sizeof(s))
				_exit(1);
		}
		serve(&B);
	}
	close(B.req[0]);
	close(B.ans[1]);
	if (getenv("CLONEFILES_SIBLING") && (read(B.ans[0], &S, sizeof(S)) != sizeof(S) || S <= 0))
		crt_setup_fail("no sibling sharing B's table");
	if (ask(&A, 'q', DUPFD) != 'y' || ask(&G, 'q', DUPFD) != 'y' || ask(&B, 'q', DUPFD) != 'y')
		crt_setup_fail("the children do not answer");
	if (kcmp_files(getpid(), A.pid) != 0 || kcmp_files(getpid(), G.pid) != 0 || kcmp_files(getpid(), B.pid) == 0)
		crt_setup_fail("kcmp KCMP_FILES: not as set up (%s)", strerror(errno));

	crt_ready();
	crt_wait();

	CHECK(kcmp_files(getpid(), A.pid) == 0, "child A: not the root's fd table");
	CHECK(kcmp_files(getpid(), G.pid) == 0, "grandchild G: not the root's fd table");
	CHECK(kcmp_files(getpid(), B.pid) != 0, "child B: the root's fd table");
	/* At a number no table held before. */
	int n = open("/dev/null", O_RDONLY);
	if (n >= 0) {
		int h = fcntl(n, F_DUPFD, 200);
		close(n);
		n = h;
	}
	CHECK(n >= 200 && n < 256, "open /dev/null: %d", n);
	if (n >= 0 && n < 256) {
		CHECK(ask(&A, 'q', n) == 'y', "child A does not see fd %d the root opened", n);
		CHECK(ask(&G, 'q', n) == 'y', "grandchild G does not see fd %d the root opened", n);
		CHECK(ask(&B, 'q', n) == 'n', "child B sees fd %d the root opened", n);
	}
	CHECK(ask(&B, 'q', DUPFD) == 'y', "child B lost fd %d", DUPFD);
	CHECK(ask(&A, 'c', DUPFD) == 'y', "child A could not close fd %d", DUPFD);
	CHECK(fcntl(DUPFD, F_GETFD) < 0 && errno == EBADF, "fd %d closed by child A is open in the root", DUPFD);
	CHECK(ask(&B, 'q', DUPFD) == 'y', "child B lost fd %d when A closed it", DUPFD);
	if (S > 0)
		CHECK(kcmp_files(B.pid, S) == 0, "sibling S: not B's fd table");
	CHECK(lseek(f, 0, SEEK_CUR) == 7, "file offset %ld, want 7", (long)lseek(f, 0, SEEK_CUR));
	char got[sizeof(buf)];
	CHECK(read(p[0], got, sizeof(got)) == sizeof(got) && !memcmp(got, buf, sizeof(buf)), "pipe: data lost");

	int ret = crt_finish();
	/* One table: closing these ends closes them for A and G too. */
	close(A.req[1]);
	close(G.req[1]);
	close(B.req[1]);
	waitpid(A.pid, NULL, 0);
	waitpid(B.pid, NULL, 0);
	if (S > 0) {
		kill(S, SIGKILL);
		waitpid(S, NULL, 0);
	}
	return ret;
}
