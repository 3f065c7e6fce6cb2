/* opath: O_PATH fds, which only name a file.
 *   file:  opath.f (with "file data"), opath.d (a directory holding
 *          "inner"), opath.l (a symlink to "target-of-l", O_NOFOLLOW:
 *          the symlink itself), opath.p (a FIFO; not with OPATH_NO_FIFO,
 *          set when CRIU dumps: it reads the pipe data of an O_PATH FIFO
 *          and fails), /dev/null;
 *   gone:  opath.gf (a file, "gone data"), opath.gl (a symlink to
 *          "target-of-gl", O_NOFOLLOW) and opath.gd (a directory), each
 *          opened O_PATH, then removed.
 * Checks: O_PATH in the flags, read refused (EBADF), each the file at its
 * path (inode) or, for the removed ones, a file of its kind with no link;
 * contents through /proc/self/fd, symlink targets (readlinkat), a file
 * opened through the directory fd, fchdir into it. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crtest.h"

static int opath(const char *path, int flags)
{
	int fd = open(path, O_PATH | flags);
	if (fd < 0)
		crt_setup_fail("open %s: %s", path, strerror(errno));
	return fd;
}

static void make_file(const char *path, const char *data)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0640);
	if (fd < 0 || write(fd, data, strlen(data)) != (ssize_t)strlen(data) || close(fd))
		crt_setup_fail("make %s: %s", path, strerror(errno));
}

/* holds says whether reading the file fd names (through /proc) gives data. */
static int holds(int fd, const char *data)
{
	char path[64], buf[64] = "";
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	int r = open(path, O_RDONLY);
	int n = r < 0 ? -1 : read(r, buf, sizeof(buf) - 1);
	if (r >= 0)
		close(r);
	return n == (int)strlen(data) && !memcmp(buf, data, n);
}

static int points_to(int fd, const char *target)
{
	char buf[64] = "";
	int n = readlinkat(fd, "", buf, sizeof(buf) - 1);
	return n == (int)strlen(target) && !memcmp(buf, target, n);
}

static int is_at(int fd, const char *path, mode_t type)
{
	struct stat a, b;
	return !fstat(fd, &a) && !lstat(path, &b) && a.st_ino == b.st_ino && a.st_dev == b.st_dev &&
	       (a.st_mode & S_IFMT) == type;
}

static int gone(int fd, mode_t type)
{
	struct stat st;
	return !fstat(fd, &st) && st.st_nlink == 0 && (st.st_mode & S_IFMT) == type;
}

static int is_opath(int fd)
{
	char c;
	return (fcntl(fd, F_GETFL) & O_PATH) && read(fd, &c, 1) < 0 && errno == EBADF;
}

int main(int argc, char **argv)
{
	crt_init(argc, argv);
	char *f = crt_path("opath.f"), *d = crt_path("opath.d"), *l = crt_path("opath.l"), *p = crt_path("opath.p");
	char *gf = crt_path("opath.gf"), *gl = crt_path("opath.gl"), *gd = crt_path("opath.gd");
	make_file(f, "file data");
	make_file(gf, "gone data");
	if (mkdir(d, 0750) || mkdir(gd, 0700) || symlink("target-of-l", l) || symlink("target-of-gl", gl) ||
	    mkfifo(p, 0600))
		crt_setup_fail("setup: %s", strerror(errno));
	make_file(crt_path("opath.d/inner"), "inner data");

	int ff = opath(f, 0), fd = opath(d, O_DIRECTORY), fl = opath(l, O_NOFOLLOW);
	int fp = getenv("OPATH_NO_FIFO") ? opath(f, 0) : opath(p, 0);
	int fn = opath("/dev/null", 0);
	int fgf = opath(gf, 0), fgl = opath(gl, O_NOFOLLOW), fgd = opath(gd, 0);
	if (unlink(gf) || unlink(gl) || rmdir(gd))
		crt_setup_fail("remove: %s", strerror(errno));

	crt_ready();
	crt_wait();

	int fds[] = {ff, fd, fl, fp, fn, fgf, fgl, fgd};
	for (unsigned i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
		CHECK(is_opath(fds[i]), "fd %d: not O_PATH", fds[i]);
	CHECK(is_at(ff, f, S_IFREG) && holds(ff, "file data"), "file: not opath.f");
	CHECK(is_at(fd, d, S_IFDIR), "dir: not opath.d");
	int in = openat(fd, "inner", O_RDONLY);
	CHECK(in >= 0 && holds(in, "inner data"), "dir: inner through the fd");
	CHECK(is_at(fl, l, S_IFLNK) && points_to(fl, "target-of-l"), "symlink: not opath.l itself");
	CHECK(getenv("OPATH_NO_FIFO") || is_at(fp, p, S_IFIFO), "fifo: not opath.p");
	CHECK(is_at(fn, "/dev/null", S_IFCHR), "device: not /dev/null");
	CHECK(gone(fgf, S_IFREG) && holds(fgf, "gone data"), "removed file");
	CHECK(gone(fgl, S_IFLNK) && points_to(fgl, "target-of-gl"), "removed symlink");
	CHECK(gone(fgd, S_IFDIR), "removed directory");
	CHECK(access(gf, F_OK) && faccessat(AT_FDCWD, gl, F_OK, AT_SYMLINK_NOFOLLOW) && access(gd, F_OK),
	      "a removed name came back");
	CHECK(!fchdir(fd) && access("inner", F_OK) == 0, "dir: fchdir");
	return crt_finish();
}
