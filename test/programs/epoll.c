/* epoll: an epoll instance with targets.
 *   p1 read end (EPOLLIN, data 0x1111, 10 bytes queued) and write end
 *   (EPOLLOUT, data 0x2222); an eventfd (EPOLLIN | EPOLLET, data 0x3333);
 *   p2's read end added under fd number N, then moved: dup'ed to another
 *   fd and N closed, so the target's number names no open fd (data
 *   0x4444); a second epoll, O_NONBLOCK-free and without targets.
 * Checks: the events epoll_wait reports before and after making the
 * targets ready, with their data, that a registration still exists
 * (EPOLL_CTL_ADD says EEXIST), and the flags. (A restore registers the
 * moved target under the fd that now holds it, as CRIU does: which fd
 * number it was added under is not checked.) */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "crtest.h"

static int add(int ep, int fd, uint32_t events, uint64_t data)
{
	struct epoll_event ev = {.events = events, .data.u64 = data};
	return epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
}

/* ready returns the data values epoll reports as a bit set: 1 for 0x1111,
 * 2 for 0x2222, 4 for 0x3333, 8 for 0x4444, 16 for anything else. */
static int ready(int ep)
{
	struct epoll_event evs[8];
	int n = epoll_wait(ep, evs, 8, 0), set = 0;

	for (int i = 0; i < n; i++) {
		switch (evs[i].data.u64) {
		case 0x1111: set |= 1; break;
		case 0x2222: set |= 2; break;
		case 0x3333: set |= 4; break;
		case 0x4444: set |= 8; break;
		default: set |= 16;
		}
	}
	return set;
}

int main(int argc, char **argv)
{
	crt_init(argc, argv);
	int p1[2], p2[2];
	if (pipe(p1) || pipe(p2))
		crt_setup_fail("pipe: %s", strerror(errno));
	int ep = epoll_create1(EPOLL_CLOEXEC);
	int ep2 = epoll_create1(0);
	int ev = eventfd(0, EFD_NONBLOCK);
	if (ep < 0 || ep2 < 0 || ev < 0)
		crt_setup_fail("create: %s", strerror(errno));
	if (write(p1[1], "0123456789", 10) != 10)
		crt_setup_fail("write: %s", strerror(errno));
	if (add(ep, p1[0], EPOLLIN, 0x1111) || add(ep, p1[1], EPOLLOUT, 0x2222) ||
	    add(ep, ev, EPOLLIN | EPOLLET, 0x3333) || add(ep, p2[0], EPOLLIN, 0x4444))
		crt_setup_fail("epoll_ctl: %s", strerror(errno));
	/* Move p2's read end away from the number it was added under. */
	int moved = fcntl(p2[0], F_DUPFD, 100);
	if (moved < 0 || close(p2[0]))
		crt_setup_fail("move p2: %s", strerror(errno));
	crt_ready();
	crt_wait();

	CHECK(fcntl(ep, F_GETFD) == FD_CLOEXEC && fcntl(ep2, F_GETFD) == 0, "close-on-exec flags");
	int r = ready(ep);
	CHECK(r == 3, "ready before: %#x, want p1 in and out only", r);
	CHECK(ready(ep2) == 0, "empty epoll reports events");
	uint64_t one = 1;
	CHECK(write(ev, &one, sizeof(one)) == sizeof(one) && write(p2[1], "x", 1) == 1, "make targets ready");
	r = ready(ep);
	CHECK(r == 15, "ready after: %#x, want all four", r);
	r = ready(ep);
	CHECK(r == 11, "ready again: %#x, want the edge-triggered eventfd gone", r);
	errno = 0;
	CHECK(add(ep, p1[0], EPOLLIN, 0) < 0 && errno == EEXIST, "p1 read end no longer registered (errno %d)", errno);
	char buf[16];
	CHECK(read(p1[0], buf, sizeof(buf)) == 10 && !memcmp(buf, "0123456789", 10), "p1 data");
	return crt_finish();
}
