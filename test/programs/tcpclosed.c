/* tcpclosed: TCP connections dumped with --tcp-close (restored closed, as
 * CRIU does) and connections not accepted yet with --skip-in-flight
 * (dropped).
 *   lst: a listener on loopback;
 *   c1/a1: an established connection, data queued both ways;
 *   c2/a2: c2 shut down for writing: c2 in FIN_WAIT2, a2 in CLOSE_WAIT;
 *   c3:  connected to lst, not accepted (in flight).
 * After a restore (TCPCLOSED_EXPECT=closed, which run-cr.sh sets where
 * a restore happens): every connection end reads end of file at once
 * (its data is gone) and fails to write with EPIPE, has no peer; the
 * listener has no connection waiting (c3's was dropped), still listens
 * on its port and accepts a new one that carries data. Without it (no
 * C/R, or --leave-running): the connections are as they were: data in
 * order, c2/a2 half closed, c3 accepted. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "crtest.h"

static struct sockaddr_in la;

static int dial(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	if (fd < 0 || connect(fd, (struct sockaddr *)&la, sizeof(la)))
		crt_setup_fail("connect: %s", strerror(errno));
	return fd;
}

static int take(int lst)
{
	int fd = accept(lst, NULL, NULL);

	if (fd < 0)
		crt_setup_fail("accept: %s", strerror(errno));
	return fd;
}

static int tcp_state(int fd)
{
	struct tcp_info ti;
	socklen_t l = sizeof(ti);

	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &l))
		return -1;
	return ti.tcpi_state;
}

/* recv_is reads want within a second. */
static int recv_is(int fd, const char *want)
{
	char buf[64];
	int n = 0, len = (int)strlen(want);

	for (int i = 0; i < 100 && n < len; i++) {
		int k = (int)recv(fd, buf + n, len - n, MSG_DONTWAIT);
		if (k > 0)
			n += k;
		else if (k == 0)
			break;
		else
			crt_sleep_ms(10);
	}
	return n == len && !memcmp(buf, want, len);
}

/* closed says whether fd is a connection restored closed. */
static int closed(int fd)
{
	char c;
	struct sockaddr_in pa;
	socklen_t pl = sizeof(pa);

	if (recv(fd, &c, 1, MSG_DONTWAIT) != 0)
		return 0;
	errno = 0;
	if (send(fd, "x", 1, MSG_NOSIGNAL) >= 0 || errno != EPIPE)
		return 0;
	errno = 0;
	return getpeername(fd, (struct sockaddr *)&pa, &pl) < 0 && errno == ENOTCONN;
}

int main(int argc, char **argv)
{
	crt_init(argc, argv);
	signal(SIGPIPE, SIG_IGN);
	int expect_closed = getenv("TCPCLOSED_EXPECT") && !strcmp(getenv("TCPCLOSED_EXPECT"), "closed");
	int lst = socket(AF_INET, SOCK_STREAM, 0);
	socklen_t ll = sizeof(la);
	la.sin_family = AF_INET;
	la.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (lst < 0 || bind(lst, (struct sockaddr *)&la, sizeof(la)) || listen(lst, 8) ||
	    getsockname(lst, (struct sockaddr *)&la, &ll))
		crt_setup_fail("listen: %s", strerror(errno));
	int c1 = dial(), a1 = take(lst), c2 = dial(), a2 = take(lst);
	if (write(c1, "to a1", 5) != 5 || write(a1, "to c1", 5) != 5)
		crt_setup_fail("write: %s", strerror(errno));
	if (shutdown(c2, SHUT_WR))
		crt_setup_fail("shutdown: %s", strerror(errno));
	int c3 = dial();
	for (int i = 0; i < 100 && (tcp_state(c2) != TCP_FIN_WAIT2 || tcp_state(a2) != TCP_CLOSE_WAIT); i++)
		crt_sleep_ms(10);
	if (tcp_state(c2) != TCP_FIN_WAIT2 || tcp_state(a2) != TCP_CLOSE_WAIT)
		crt_setup_fail("c2/a2 in states %d/%d", tcp_state(c2), tcp_state(a2));
	if (fcntl(lst, F_SETFL, O_NONBLOCK))
		crt_setup_fail("fcntl: %s", strerror(errno));
	crt_ready();
	crt_wait();

	struct sockaddr_in got;
	socklen_t gl = sizeof(got);
	CHECK(!getsockname(lst, (struct sockaddr *)&got, &gl) && got.sin_port == la.sin_port, "listener port changed");
	if (expect_closed) {
		CHECK(closed(c1) && closed(a1), "c1/a1 not restored closed");
		CHECK(closed(c2) && closed(a2), "c2/a2 (FIN_WAIT2/CLOSE_WAIT) not restored closed");
		CHECK(closed(c3), "in-flight client c3 not restored closed");
		int a3 = accept(lst, NULL, NULL);
		CHECK(a3 < 0 && errno == EAGAIN, "the dropped in-flight connection was accepted");
	} else {
		CHECK(recv_is(a1, "to a1") && recv_is(c1, "to c1"), "c1/a1 queues");
		CHECK(tcp_state(c2) == TCP_FIN_WAIT2 && tcp_state(a2) == TCP_CLOSE_WAIT, "c2/a2 in states %d/%d",
		      tcp_state(c2), tcp_state(a2));
		char c;
		CHECK(recv(a2, &c, 1, MSG_DONTWAIT) == 0, "a2 sees no end of file");
		CHECK(write(a2, "half", 4) == 4 && recv_is(c2, "half"), "a2 cannot send to c2");
		struct pollfd p = {.fd = lst, .events = POLLIN};
		poll(&p, 1, 1000);
		int a3 = accept(lst, NULL, NULL);
		CHECK(a3 >= 0, "in-flight c3 not accepted: %s", strerror(errno));
		if (a3 >= 0)
			CHECK(write(c3, "c3", 2) == 2 && recv_is(a3, "c3"), "c3 carries no data");
	}
	/* The listener takes new connections either way. */
	int c4 = socket(AF_INET, SOCK_STREAM, 0);
	CHECK(c4 >= 0 && !connect(c4, (struct sockaddr *)&la, sizeof(la)), "connect to the listener: %s", strerror(errno));
	struct pollfd p = {.fd = lst, .events = POLLIN};
	poll(&p, 1, 1000);
	int a4 = accept(lst, NULL, NULL);
	CHECK(a4 >= 0, "accept a new connection: %s", strerror(errno));
	if (a4 >= 0)
		CHECK(write(c4, "new", 3) == 3 && recv_is(a4, "new"), "new connection carries no data");
	return crt_finish();
}
