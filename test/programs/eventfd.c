/* eventfd: event counters.
 *   e1: O_NONBLOCK | close-on-exec, counter 100 (created with 90, +10);
 *   e2: blocking, counter 0;
 *   e3: dup of e1 (one file, two fds).
 * Checks: the fds are eventfds with their flags, e1 and e3 are one file,
 * the counters, that an empty non-blocking counter says EAGAIN, and that
 * the counters still count. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crtest.h"

static int is_eventfd(int fd)
{
	char path[64], link[64] = "";

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	return readlink(path, link, sizeof(link) - 1) > 0 && !strcmp(link, "anon_inode:[eventfd]");
}

int main(int argc, char **argv)
{
	crt_init(argc, argv);
	int e1 = eventfd(90, EFD_NONBLOCK | EFD_CLOEXEC);
	int e2 = eventfd(0, 0);
	uint64_t v = 10;
	if (e1 < 0 || e2 < 0 || write(e1, &v, sizeof(v)) != sizeof(v))
		crt_setup_fail("eventfd: %s", strerror(errno));
	int e3 = dup(e1);
	if (e3 < 0)
		crt_setup_fail("dup: %s", strerror(errno));
	crt_ready();
	crt_wait();

	CHECK(is_eventfd(e1) && is_eventfd(e2) && is_eventfd(e3), "not eventfds");
	CHECK((fcntl(e1, F_GETFL) & (O_ACCMODE | O_NONBLOCK)) == (O_RDWR | O_NONBLOCK), "e1 flags %#x", fcntl(e1, F_GETFL));
	CHECK(fcntl(e1, F_GETFD) == FD_CLOEXEC, "e1 not close-on-exec");
	CHECK((fcntl(e2, F_GETFL) & (O_ACCMODE | O_NONBLOCK)) == O_RDWR, "e2 flags %#x", fcntl(e2, F_GETFL));
	CHECK(fcntl(e2, F_GETFD) == 0 && fcntl(e3, F_GETFD) == 0, "e2/e3 close-on-exec");
	struct stat a, b;
	CHECK(!fstat(e1, &a) && !fstat(e3, &b) && a.st_ino == b.st_ino, "e1 and its dup are not one file");

	v = 0;
	CHECK(read(e3, &v, sizeof(v)) == sizeof(v) && v == 100, "e1 counter %llu, want 100", (unsigned long long)v);
	errno = 0;
	CHECK(read(e1, &v, sizeof(v)) < 0 && errno == EAGAIN, "empty e1: errno %d, want EAGAIN", errno);
	v = 7;
	CHECK(write(e2, &v, sizeof(v)) == sizeof(v), "write e2: %s", strerror(errno));
	v = 0;
	CHECK(read(e2, &v, sizeof(v)) == sizeof(v) && v == 7, "e2 counter %llu, want 7", (unsigned long long)v);
	return crt_finish();
}
