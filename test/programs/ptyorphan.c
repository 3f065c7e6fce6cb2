/* ptyorphan: a pty slave whose master was closed (hung up): open twice,
 * O_RDWR (with a dup) and O_RDONLY|O_NONBLOCK, then the master closed.
 * Checks: each fd still a pty slave of the same index, hung up as before
 * (read gives end of file, write and TCGETS give EIO, poll says
 * POLLHUP), status flags, the dup sharing its file with the first fd
 * (O_APPEND set through one shows through the other) and not with the
 * second. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <termios.h>
#include <unistd.h>

#include "crtest.h"

static void hung(int fd, const char *name)
{
	char c;
	struct termios t;
	ssize_t r = read(fd, &c, 1);
	CHECK(r == 0, "%s: read gives %zd (%s), want end of file", name, r, r < 0 ? strerror(errno) : "data");
	errno = 0;
	CHECK(write(fd, "x", 1) < 0 && errno == EIO, "%s: write: %s, want EIO", name, strerror(errno));
	errno = 0;
	CHECK(ioctl(fd, TCGETS, &t) < 0 && errno == EIO, "%s: TCGETS: %s, want EIO", name, strerror(errno));
	struct pollfd p = {.fd = fd, .events = POLLIN | POLLOUT};
	CHECK(poll(&p, 1, 0) == 1 && (p.revents & POLLHUP), "%s: poll revents %#x, want POLLHUP", name, p.revents);
}

int main(int argc, char **argv)
{
	crt_init(argc, argv);
	int m = posix_openpt(O_RDWR | O_NOCTTY);
	if (m < 0 || grantpt(m) || unlockpt(m))
		crt_setup_fail("open a pty: %s", strerror(errno));
	char name[64];
	if (ptsname_r(m, name, sizeof(name)))
		crt_setup_fail("ptsname: %s", strerror(errno));
	int s1 = open(name, O_RDWR | O_NOCTTY);
	int s2 = open(name, O_RDONLY | O_NOCTTY | O_NONBLOCK);
	int d1 = dup(s1);
	if (s1 < 0 || s2 < 0 || d1 < 0)
		crt_setup_fail("open %s: %s", name, strerror(errno));
	struct stat st;
	fstat(s1, &st);
	dev_t rdev = st.st_rdev;
	close(m);
	char b;
	if (read(s1, &b, 1) != 0 || write(s1, "x", 1) >= 0)
		crt_setup_fail("%s not hung up once its master was closed", name);

	crt_ready();
	crt_wait();

	int fds[] = {s1, s2, d1};
	for (int i = 0; i < 3; i++) {
		CHECK(!fstat(fds[i], &st) && S_ISCHR(st.st_mode) && st.st_rdev == rdev, "fd %d: device %u:%u, want %u:%u", fds[i],
		      major(st.st_rdev), minor(st.st_rdev), major(rdev), minor(rdev));
	}
	CHECK((fcntl(s1, F_GETFL) & O_ACCMODE) == O_RDWR, "first: flags %#x", fcntl(s1, F_GETFL));
	CHECK((fcntl(s2, F_GETFL) & (O_ACCMODE | O_NONBLOCK)) == (O_RDONLY | O_NONBLOCK), "second: flags %#x", fcntl(s2, F_GETFL));
	hung(s1, "first");
	hung(d1, "dup");
	char c;
	CHECK(read(s2, &c, 1) == 0, "second: read: %s", strerror(errno));
	fcntl(s1, F_SETFL, fcntl(s1, F_GETFL) | O_APPEND);
	CHECK(fcntl(d1, F_GETFL) & O_APPEND, "dup: not the first fd's file");
	CHECK(!(fcntl(s2, F_GETFL) & O_APPEND), "second: shares the first fd's file");
	return crt_finish();
}
