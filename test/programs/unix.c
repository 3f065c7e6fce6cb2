/* unix: unix sockets with queued data.
 *   sp:  stream socketpair, "left to right" queued at sp[1], "right to
 *        left" at sp[0];
 *   hp:  stream socketpair, hp[0] shut down for writing;
 *   dp:  datagram socketpair, three datagrams of 1, 100 and 3000 bytes
 *        queued at dp[1];
 *   qp:  seqpacket socketpair, two packets queued at qp[0];
 *   lst: stream socket bound to "unix.sock" (a path relative to the work
 *        directory, made current), listening with backlog 5; c1 connected
 *        and accepted as a1, 5000 bytes queued each way; c2 connected, not
 *        accepted, with "early" sent (a dump, as CRIU's, does not see what
 *        waits in a connection not accepted yet: it may be gone);
 *   srv: datagram socket bound to an abstract name, "ping" queued from
 *        cli, a datagram socket connected to it;
 *   un:  a stream socket neither bound nor connected.
 * Checks: types, names, peers and listening state, all queued data in
 * order with datagram boundaries, the shutdown, that c2 can still be
 * accepted and talk, and that every connection still carries data. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "crtest.h"

#define BIG 5000

static void send_pat(int fd, int seed, int n)
{
	if (!crt_send_pat(fd, seed, n))
		crt_setup_fail("write %d bytes: %s", n, strerror(errno));
}

static int recv_str(int fd, const char *want)
{
	char buf[256];
	int n = (int)recv(fd, buf, sizeof(buf), MSG_DONTWAIT);

	return n == (int)strlen(want) && !memcmp(buf, want, n);
}

static int sock_type(int fd)
{
	int t = -1;
	socklen_t l = sizeof(t);

	getsockopt(fd, SOL_SOCKET, SO_TYPE, &t, &l);
	return t;
}

int main(int argc, char **argv)
{
	crt_init(argc, argv);
	signal(SIGPIPE, SIG_IGN);
	if (chdir(crt_workdir))
		crt_setup_fail("chdir: %s", strerror(errno));
	unlink("unix.sock");
	int sp[2], hp[2], dp[2], qp[2];
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sp) || socketpair(AF_UNIX, SOCK_STREAM, 0, hp) ||
	    socketpair(AF_UNIX, SOCK_DGRAM, 0, dp) || socketpair(AF_UNIX, SOCK_SEQPACKET, 0, qp))
		crt_setup_fail("socketpair: %s", strerror(errno));
	if (write(sp[0], "left to right", 13) != 13 || write(sp[1], "right to left", 13) != 13)
		crt_setup_fail("write sp: %s", strerror(errno));
	if (shutdown(hp[0], SHUT_WR))
		crt_setup_fail("shutdown: %s", strerror(errno));
	send_pat(dp[0], 1, 1);
	send_pat(dp[0], 2, 100);
	send_pat(dp[0], 3, 3000);
	if (write(qp[1], "first packet", 12) != 12 || write(qp[1], "second", 6) != 6)
		crt_setup_fail("write qp: %s", strerror(errno));

	struct sockaddr_un la = {.sun_family = AF_UNIX, .sun_path = "unix.sock"};
	int lst = socket(AF_UNIX, SOCK_STREAM, 0), c1 = socket(AF_UNIX, SOCK_STREAM, 0), c2 = socket(AF_UNIX, SOCK_STREAM, 0);
	if (lst < 0 || c1 < 0 || c2 < 0)
		crt_setup_fail("socket: %s", strerror(errno));
	if (bind(lst, (struct sockaddr *)&la, sizeof(la)) || listen(lst, 5))
		crt_setup_fail("bind/listen: %s", strerror(errno));
	if (connect(c1, (struct sockaddr *)&la, sizeof(la)))
		crt_setup_fail("connect c1: %s", strerror(errno));
	int a1 = accept(lst, NULL, NULL);
	if (a1 < 0 || connect(c2, (struct sockaddr *)&la, sizeof(la)))
		crt_setup_fail("accept/connect c2: %s", strerror(errno));
	send_pat(c1, 4, BIG);
	send_pat(a1, 5, BIG);
	if (write(c2, "early", 5) != 5)
		crt_setup_fail("write c2: %s", strerror(errno));

	struct sockaddr_un aa = {.sun_family = AF_UNIX};
	int alen = snprintf(aa.sun_path + 1, sizeof(aa.sun_path) - 1, "criugo-unix-%d", getpid()) + 1;
	socklen_t aalen = offsetof(struct sockaddr_un, sun_path) + alen;
	int srv = socket(AF_UNIX, SOCK_DGRAM, 0), cli = socket(AF_UNIX, SOCK_DGRAM, 0);
	if (srv < 0 || cli < 0 || bind(srv, (struct sockaddr *)&aa, aalen) || connect(cli, (struct sockaddr *)&aa, aalen))
		crt_setup_fail("abstract dgram: %s", strerror(errno));
	if (write(cli, "ping", 4) != 4)
		crt_setup_fail("write cli: %s", strerror(errno));
	int un = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
	if (un < 0)
		crt_setup_fail("socket: %s", strerror(errno));
	crt_ready();
	crt_wait();

	CHECK(sock_type(sp[0]) == SOCK_STREAM && sock_type(dp[0]) == SOCK_DGRAM && sock_type(qp[0]) == SOCK_SEQPACKET,
	      "socket types %d %d %d", sock_type(sp[0]), sock_type(dp[0]), sock_type(qp[0]));
	CHECK(recv_str(sp[1], "left to right") && recv_str(sp[0], "right to left"), "socketpair queues");
	CHECK(write(sp[0], "more", 4) == 4 && recv_str(sp[1], "more"), "socketpair carries no new data");

	char c;
	errno = 0;
	CHECK(write(hp[0], "x", 1) < 0 && errno == EPIPE, "write on a socket shut for writing: errno %d", errno);
	CHECK(recv(hp[1], &c, 1, MSG_DONTWAIT) == 0, "peer of the shut socket sees no EOF");
	CHECK(write(hp[1], "y", 1) == 1 && recv(hp[0], &c, 1, MSG_DONTWAIT) == 1 && c == 'y', "other way of hp");

	CHECK(crt_recv_pat(dp[1], 1, 1, 0) && crt_recv_pat(dp[1], 2, 100, 0) && crt_recv_pat(dp[1], 3, 3000, 0), "datagram queue");
	errno = 0;
	CHECK(recv(dp[1], &c, 1, MSG_DONTWAIT) < 0 && errno == EAGAIN, "datagram queue holds more");
	CHECK(recv_str(qp[0], "first packet") && recv_str(qp[0], "second"), "seqpacket queue");

	struct sockaddr_un got;
	socklen_t gl = sizeof(got);
	int acc = 0;
	socklen_t al = sizeof(acc);
	CHECK(!getsockname(lst, (struct sockaddr *)&got, &gl) && !strcmp(got.sun_path, "unix.sock"), "listener name %s",
	      got.sun_path);
	CHECK(!getsockopt(lst, SOL_SOCKET, SO_ACCEPTCONN, &acc, &al) && acc, "listener does not listen");
	gl = sizeof(got);
	CHECK(!getpeername(c1, (struct sockaddr *)&got, &gl) && !strcmp(got.sun_path, "unix.sock"), "c1 peer name %s",
	      got.sun_path);
	CHECK(crt_recv_pat(a1, 4, BIG, 0) && crt_recv_pat(c1, 5, BIG, 0), "accepted connection queues");
	CHECK(write(c1, "c1 again", 8) == 8 && recv_str(a1, "c1 again"), "c1 carries no new data");
	int a2 = accept4(lst, NULL, NULL, SOCK_NONBLOCK);
	CHECK(a2 >= 0, "in-flight connection cannot be accepted: %s", strerror(errno));
	if (a2 >= 0) {
		CHECK(write(c2, "late", 4) == 4, "write c2");
		char buf[16] = "";
		int n = (int)recv(a2, buf, sizeof(buf), MSG_DONTWAIT);
		CHECK((n == 9 && !memcmp(buf, "earlylate", 9)) || (n == 4 && !memcmp(buf, "late", 4)),
		      "in-flight connection gave %d bytes", n);
		CHECK(write(a2, "back", 4) == 4 && recv_str(c2, "back"), "accepted c2 cannot answer");
	}

	gl = sizeof(got);
	CHECK(!getsockname(srv, (struct sockaddr *)&got, &gl) && gl == aalen && !memcmp(got.sun_path, aa.sun_path, alen),
	      "abstract name lost");
	CHECK(recv_str(srv, "ping"), "abstract datagram queue");
	CHECK(write(cli, "pong", 4) == 4 && recv_str(srv, "pong"), "connected datagram socket lost its peer");
	gl = sizeof(got);
	errno = 0;
	CHECK(getpeername(un, (struct sockaddr *)&got, &gl) < 0 && errno == ENOTCONN, "unconnected socket is connected");
	CHECK(fcntl(un, F_GETFL) & O_NONBLOCK, "unconnected socket lost O_NONBLOCK");
	unlink("unix.sock");
	return crt_finish();
}
