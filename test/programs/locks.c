/* locks: file locks of three kinds (dumped with --file-locks).
 *   posix.dat: an fcntl (POSIX) write lock on bytes 100..199;
 *   flock.dat: an flock exclusive lock;
 *   ofd.dat:   an OFD write lock on bytes 0..9.
 * Checks, from a child forked after the restore (a process cannot see its
 * own POSIX locks as conflicts): F_GETLK on posix.dat reports the write
 * lock with its range and the parent's pid, bytes outside it are free;
 * flock on a new open of flock.dat would block; F_OFD_GETLK on a new open
 * of ofd.dat reports the write lock with its range. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include "crtest.h"

static int open_file(const char *name)
{
	int fd = open(crt_path(name), O_RDWR | O_CREAT, 0600);
	if (fd < 0)
		crt_setup_fail("open %s: %s", name, strerror(errno));
	if (ftruncate(fd, 4096))
		crt_setup_fail("ftruncate %s: %s", name, strerror(errno));
	return fd;
}

/* child_check runs in a child; returns 0 if every lock is seen, else a
 * number saying which check failed. */
static int child_check(pid_t parent)
{
	struct flock fl;
	int fd = open(crt_path("posix.dat"), O_RDWR);

	memset(&fl, 0, sizeof(fl));
	fl.l_type = F_WRLCK, fl.l_whence = SEEK_SET, fl.l_start = 0, fl.l_len = 0;
	if (fd < 0 || fcntl(fd, F_GETLK, &fl) || fl.l_type != F_WRLCK || fl.l_start != 100 || fl.l_len != 100 ||
	    fl.l_pid != parent)
		return 1;
	memset(&fl, 0, sizeof(fl));
	fl.l_type = F_WRLCK, fl.l_whence = SEEK_SET, fl.l_start = 200, fl.l_len = 100;
	if (fcntl(fd, F_GETLK, &fl) || fl.l_type != F_UNLCK)
		return 2;
	fd = open(crt_path("flock.dat"), O_RDWR);
	if (fd < 0 || flock(fd, LOCK_EX | LOCK_NB) == 0 || errno != EWOULDBLOCK)
		return 3;
	fd = open(crt_path("ofd.dat"), O_RDWR);
	memset(&fl, 0, sizeof(fl));
	fl.l_type = F_WRLCK, fl.l_whence = SEEK_SET, fl.l_start = 0, fl.l_len = 0;
	if (fd < 0 || fcntl(fd, F_OFD_GETLK, &fl) || fl.l_type != F_WRLCK || fl.l_start != 0 || fl.l_len != 10)
		return 4;
	return 0;
}

int main(int argc, char **argv)
{
	crt_init(argc, argv);
	int pfd = open_file("posix.dat"), ffd = open_file("flock.dat"), ofd = open_file("ofd.dat");
	struct flock fl;

	memset(&fl, 0, sizeof(fl));
	fl.l_type = F_WRLCK, fl.l_whence = SEEK_SET, fl.l_start = 100, fl.l_len = 100;
	if (fcntl(pfd, F_SETLK, &fl))
		crt_setup_fail("F_SETLK: %s", strerror(errno));
	if (flock(ffd, LOCK_EX | LOCK_NB))
		crt_setup_fail("flock: %s", strerror(errno));
	memset(&fl, 0, sizeof(fl));
	fl.l_type = F_WRLCK, fl.l_whence = SEEK_SET, fl.l_start = 0, fl.l_len = 10;
	if (fcntl(ofd, F_OFD_SETLK, &fl))
		crt_setup_fail("F_OFD_SETLK: %s", strerror(errno));

	crt_ready();
	crt_wait();

	pid_t parent = getpid(), child = fork();
	if (child == 0)
		_exit(child_check(parent));
	int ws = 0;
	CHECK(child > 0 && waitpid(child, &ws, 0) == child, "fork/wait: %s", strerror(errno));
	static const char *what[] = { "", "the POSIX write lock on 100..199 is gone", "bytes 200.. are locked",
				      "the flock lock is gone", "the OFD write lock on 0..9 is gone" };
	int code = WIFEXITED(ws) ? WEXITSTATUS(ws) : 9;
	CHECK(code == 0, "%s", code < 5 ? what[code] : "the checking child died");
	return crt_finish();
}
