/* deldir: deleted directories and device nodes held open.
 *   cwd:   deldir.cwd, the working directory, removed (rmdir) while it is,
 *          and an fd of it opened before (one inode for both);
 *   fd:    deldir.fd, a directory open O_RDONLY|O_DIRECTORY, removed;
 *   child: a child whose working directory is deldir.kid, removed; it
 *          answers over a pipe whether its cwd is still a deleted
 *          directory of that mode;
 *   node:  (as root) deldir.null, a copy of /dev/null made with mknod,
 *          open O_RDWR and unlinked;
 *   inner: deldir.outer/inner open, then both removed (zdtm's
 *          rmdir_open: the restore makes the parent again for the ghost);
 *   tmp:   a file made with O_TMPFILE in the work directory (tmpfile(3),
 *          zdtm's fd01), never linked, holding "tmpfile".
 * Checks: each is a directory (or the device 1:3) with no link left, the
 * cwd is the fd's directory and getcwd says it is unreachable (ENOENT),
 * nothing can be made in a deleted directory, their names are gone, the
 * child's answer, the device reads nothing and takes writes, inner is a
 * deleted directory and deldir.outer gone, tmp's contents and nlink 0. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "crtest.h"

static int deleted_dir(int fd)
{
	struct stat st;
	return !fstat(fd, &st) && S_ISDIR(st.st_mode) && st.st_nlink == 0;
}

int main(int argc, char **argv)
{
	crt_init(argc, argv);
	char *cwd = crt_path("deldir.cwd"), *fdd = crt_path("deldir.fd"), *kid = crt_path("deldir.kid");
	char *node = crt_path("deldir.null");

	if (mkdir(cwd, 0750) || mkdir(fdd, 0700) || mkdir(kid, 0755))
		crt_setup_fail("mkdir: %s", strerror(errno));
	int dfd = open(fdd, O_RDONLY | O_DIRECTORY);
	int cfd = open(cwd, O_RDONLY | O_DIRECTORY);
	if (dfd < 0 || cfd < 0 || rmdir(fdd))
		crt_setup_fail("fd dir: %s", strerror(errno));
	char *outer = crt_path("deldir.outer"), *inner = crt_path("deldir.outer/inner");
	if (mkdir(outer, 0700) || mkdir(inner, 0710))
		crt_setup_fail("mkdir %s: %s", inner, strerror(errno));
	int ifd = open(inner, O_RDONLY | O_DIRECTORY);
	if (ifd < 0 || rmdir(inner) || rmdir(outer))
		crt_setup_fail("inner dir: %s", strerror(errno));
	int tfd = open(crt_path("."), O_TMPFILE | O_RDWR, 0600);
	if (tfd < 0 || write(tfd, "tmpfile", 7) != 7)
		crt_setup_fail("O_TMPFILE: %s", strerror(errno));

	int ask[2], answer[2];
	if (pipe(ask) || pipe(answer))
		crt_setup_fail("pipe: %s", strerror(errno));
	pid_t child = fork();
	if (child < 0)
		crt_setup_fail("fork: %s", strerror(errno));
	if (child == 0) {
		close(ask[1]);
		close(answer[0]);
		if (chdir(kid))
			_exit(1);
		struct stat now;
		char c = 'r';
		if (write(answer[1], &c, 1) != 1)
			_exit(1);
		while (read(ask[0], &c, 1) == 1) {
			char buf[64];
			int ok = !stat(".", &now) && S_ISDIR(now.st_mode) && now.st_nlink == 0 &&
				 (now.st_mode & 07777) == 0755 && !getcwd(buf, sizeof(buf)) && errno == ENOENT &&
				 open("new", O_CREAT | O_RDWR, 0600) < 0 && errno == ENOENT;
			c = ok ? 'y' : 'n';
			if (write(answer[1], &c, 1) != 1)
				_exit(1);
		}
		_exit(0);
	}
	close(ask[0]);
	close(answer[1]);
	char c = '?';
	if (read(answer[0], &c, 1) != 1 || c != 'r')
		crt_setup_fail("child: not ready (%c)", c);
	if (rmdir(kid))
		crt_setup_fail("rmdir %s: %s", kid, strerror(errno));
	if (write(ask[1], "?", 1) != 1 || read(answer[0], &c, 1) != 1 || c != 'y')
		crt_setup_fail("child: answered %c", c);

	int nfd = -1;
	if (geteuid() == 0) {
		if (mknod(node, S_IFCHR | 0640, makedev(1, 3)) || (nfd = open(node, O_RDWR)) < 0 || unlink(node))
			crt_setup_fail("mknod: %s", strerror(errno));
	}

	if (chdir(cwd) || rmdir(cwd))
		crt_setup_fail("cwd: %s", strerror(errno));

	crt_ready();
	crt_wait();

	struct stat st, cst;
	char buf[64];
	CHECK(!stat(".", &st) && S_ISDIR(st.st_mode) && st.st_nlink == 0, "cwd: not a deleted directory");
	CHECK(deleted_dir(cfd) && !fstat(cfd, &cst) && cst.st_ino == st.st_ino && cst.st_dev == st.st_dev,
	      "cwd: the fd opened on it is another directory");
	CHECK((st.st_mode & 07777) == 0750, "cwd: mode %o", st.st_mode & 07777);
	CHECK(!getcwd(buf, sizeof(buf)) && errno == ENOENT, "cwd: getcwd gives %s", buf);
	CHECK(open("new", O_CREAT | O_RDWR, 0600) < 0 && errno == ENOENT, "cwd: a file could be made in it");
	CHECK(deleted_dir(dfd), "fd: not a deleted directory");
	CHECK(!fstat(dfd, &st) && (st.st_mode & 07777) == 0700, "fd: mode %o", st.st_mode & 07777);
	CHECK(openat(dfd, "new", O_CREAT | O_RDWR, 0600) < 0 && errno == ENOENT, "fd: a file could be made in it");
	CHECK(access(cwd, F_OK) && access(fdd, F_OK) && access(kid, F_OK), "a removed directory came back");
	CHECK(deleted_dir(ifd) && !fstat(ifd, &st) && (st.st_mode & 07777) == 0710, "inner: not a deleted directory of mode 710");
	/* DELDIR_PARENT_STAYS=1: a restore that leaves it (CRIU's). */
	if (!getenv("DELDIR_PARENT_STAYS"))
		CHECK(access(outer, F_OK), "outer: its name came back");
	char tb[8] = "";
	CHECK(pread(tfd, tb, 7, 0) == 7 && !memcmp(tb, "tmpfile", 7) && !fstat(tfd, &st) && st.st_nlink == 0, "tmp: %.7s", tb);
	c = '?';
	if (write(ask[1], "?", 1) != 1 || read(answer[0], &c, 1) != 1)
		c = '?';
	CHECK(c == 'y', "child: answered %c", c);

	if (nfd >= 0) {
		CHECK(!fstat(nfd, &st) && S_ISCHR(st.st_mode) && st.st_rdev == makedev(1, 3) && st.st_nlink == 0 &&
			      (st.st_mode & 07777) == 0640,
		      "node: not a deleted 1:3 device of mode 640");
		CHECK(write(nfd, "x", 1) == 1 && read(nfd, buf, 1) == 0, "node: not /dev/null");
		CHECK(access(node, F_OK), "node: its name came back");
	}
	close(ask[1]);
	int status;
	CHECK(waitpid(child, &status, 0) == child && WIFEXITED(status) && WEXITSTATUS(status) == 0, "child exit");
	return crt_finish();
}
