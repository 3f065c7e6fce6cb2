/* seqpacket: unix SOCK_SEQPACKET sockets in the states a connection
 * passes through.
 *   cl:  a socketpair; packets of 1, 100 and 3000 bytes queued at cl[0],
 *        then cl[1] closed: cl[0] is connected to nobody, shut both ways
 *        by the kernel, its queue still readable;
 *   su:  a socketpair, su[0] shut down for reading;
 *   sb:  a socketpair, sb[0] shut down both ways;
 *   lst: a listener bound to "seqpacket.sock" in the work directory
 *        (made current) with backlog 4; c1 connected and accepted as a1,
 *        a packet queued each way; c2 connected, not accepted, with a
 *        packet sent (as in unix, it may be lost with the embryo; not
 *        with SEQPACKET_NO_EARLY, set where CRIU dumps, as it refuses
 *        an in-flight connection with data);
 *   c3:  connected to lst and accepted as a3, which sent "bye" and was
 *        closed: c3 holds the packet, its peer gone.
 * Checks: every queued packet in order with its boundaries, then end of
 * file where the peer is gone; the shutdowns (EPIPE on write, end of
 * file on read); names; the listener still listening; c2 accepted and
 * answering; new packets on c1/a1. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "crtest.h"

#define BIG 3000

static void send_pat(int fd, int seed, int n)
{
	if (!crt_send_pat(fd, seed, n))
		crt_setup_fail("write %d bytes: %s", n, strerror(errno));
}

/* recv_pat reads one packet without blocking: n bytes of seed's pattern. */
static int recv_pat(int fd, int seed, int n)
{
	unsigned char buf[BIG + 16];
	int got = (int)recv(fd, buf, sizeof(buf), MSG_DONTWAIT);

	return got == n && crt_diff_pat(buf, seed, 0, n) < 0;
}

static int recv_str(int fd, const char *want)
{
	char buf[256];
	int n = (int)recv(fd, buf, sizeof(buf), MSG_DONTWAIT);

	return n == (int)strlen(want) && !memcmp(buf, want, n);
}

static int at_eof(int fd)
{
	char c;

	return recv(fd, &c, 1, MSG_DONTWAIT) == 0;
}

static int write_fails(int fd, int err)
{
	errno = 0;
	return write(fd, "x", 1) < 0 && errno == err;
}

int main(int argc, char **argv)
{
	crt_init(argc, argv);
	signal(SIGPIPE, SIG_IGN);
	if (chdir(crt_workdir))
		crt_setup_fail("chdir: %s", strerror(errno));
	unlink("seqpacket.sock");
	int cl[2], su[2], sb[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET, 0, cl) || socketpair(AF_UNIX, SOCK_SEQPACKET, 0, su) ||
	    socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sb))
		crt_setup_fail("socketpair: %s", strerror(errno));
	send_pat(cl[1], 1, 1);
	send_pat(cl[1], 2, 100);
	send_pat(cl[1], 3, BIG);
	close(cl[1]);
	if (shutdown(su[0], SHUT_RD) || shutdown(sb[0], SHUT_RDWR))
		crt_setup_fail("shutdown: %s", strerror(errno));

	struct sockaddr_un la = {.sun_family = AF_UNIX, .sun_path = "seqpacket.sock"};
	int lst = socket(AF_UNIX, SOCK_SEQPACKET, 0), c1 = socket(AF_UNIX, SOCK_SEQPACKET, 0);
	int c2 = socket(AF_UNIX, SOCK_SEQPACKET, 0), c3 = socket(AF_UNIX, SOCK_SEQPACKET, 0);
	if (lst < 0 || c1 < 0 || c2 < 0 || c3 < 0)
		crt_setup_fail("socket: %s", strerror(errno));
	if (bind(lst, (struct sockaddr *)&la, sizeof(la)) || listen(lst, 4))
		crt_setup_fail("bind/listen: %s", strerror(errno));
	if (connect(c1, (struct sockaddr *)&la, sizeof(la)))
		crt_setup_fail("connect c1: %s", strerror(errno));
	int a1 = accept(lst, NULL, NULL);
	if (a1 < 0 || connect(c3, (struct sockaddr *)&la, sizeof(la)))
		crt_setup_fail("accept c1/connect c3: %s", strerror(errno));
	int a3 = accept(lst, NULL, NULL);
	if (a3 < 0 || connect(c2, (struct sockaddr *)&la, sizeof(la)))
		crt_setup_fail("accept c3/connect c2: %s", strerror(errno));
	send_pat(c1, 4, 500);
	send_pat(a1, 5, 700);
	if ((!getenv("SEQPACKET_NO_EARLY") && write(c2, "early", 5) != 5) || write(a3, "bye", 3) != 3)
		crt_setup_fail("write c2/a3: %s", strerror(errno));
	close(a3);
	crt_ready();
	crt_wait();

	CHECK(recv_pat(cl[0], 1, 1) && recv_pat(cl[0], 2, 100) && recv_pat(cl[0], 3, BIG),
	      "queue of the socket whose peer closed");
	CHECK(at_eof(cl[0]), "no end of file after the queue of the socket whose peer closed");
	CHECK(write_fails(cl[0], EPIPE), "write to a closed peer: errno %d", errno);

	CHECK(at_eof(su[0]), "su[0] shut for reading does not read end of file");
	CHECK(write(su[0], "up", 2) == 2 && recv_str(su[1], "up"), "su[0] cannot send");
	CHECK(write_fails(su[1], EPIPE), "su[1] writes to a peer shut for reading: errno %d", errno);
	CHECK(write_fails(sb[0], EPIPE) && write_fails(sb[1], EPIPE), "sb shut both ways takes data");

	struct sockaddr_un got;
	socklen_t gl = sizeof(got);
	int acc = 0;
	socklen_t al = sizeof(acc);
	CHECK(!getsockname(lst, (struct sockaddr *)&got, &gl) && !strcmp(got.sun_path, "seqpacket.sock"),
	      "listener name %s", got.sun_path);
	CHECK(!getsockopt(lst, SOL_SOCKET, SO_ACCEPTCONN, &acc, &al) && acc, "listener does not listen");
	gl = sizeof(got);
	CHECK(!getpeername(c1, (struct sockaddr *)&got, &gl) && !strcmp(got.sun_path, "seqpacket.sock"),
	      "c1 peer name %s", got.sun_path);
	CHECK(recv_pat(a1, 4, 500) && recv_pat(c1, 5, 700), "accepted connection queues");
	CHECK(write(c1, "c1 again", 8) == 8 && recv_str(a1, "c1 again"), "c1 carries no new packet");

	CHECK(recv_str(c3, "bye"), "c3 lost the packet of its closed peer");
	CHECK(at_eof(c3), "no end of file on c3 after its peer closed");

	int a2 = accept4(lst, NULL, NULL, SOCK_NONBLOCK);
	CHECK(a2 >= 0, "in-flight connection cannot be accepted: %s", strerror(errno));
	if (a2 >= 0) {
		char buf[16] = "";
		int n = (int)recv(a2, buf, sizeof(buf), MSG_DONTWAIT);
		if (n == 5)
			CHECK(!memcmp(buf, "early", 5), "in-flight connection gave %.5s", buf);
		else
			CHECK(n < 0 && errno == EAGAIN, "in-flight connection gave %d bytes", n);
		CHECK(write(c2, "late", 4) == 4 && recv_str(a2, "late"), "c2 cannot send");
		CHECK(write(a2, "back", 4) == 4 && recv_str(c2, "back"), "accepted c2 cannot answer");
	}
	unlink("seqpacket.sock");
	return crt_finish();
}
