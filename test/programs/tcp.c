/* tcp: TCP and UDP sockets on loopback.
 *   lst: TCP listener on 127.0.0.1 (ephemeral port), backlog 4;
 *   cli/srv: an established connection through it, with data in flight
 *        both ways: 3000 bytes from srv waiting in cli's receive queue, and
 *        from cli more than srv's small receive buffer takes, so part of it
 *        waits in cli's send queue; TCP_NODELAY on cli, SO_REUSEADDR on
 *        srv (not on cli);
 *   u1: UDP socket bound to 127.0.0.1 (ephemeral port); u2: UDP socket
 *       connected to it.
 * With TCP_ALL_SENT=1 in the environment the client writes only what the
 * server's buffer takes (TO_SRV_SENT bytes), and waits until all of it is
 * acked, so that nothing waits in its send queue (run-cr.sh: CRIU's
 * restore cannot bring back unsent data without its network lock).
 * Dumping the established connection needs criu-parasite --tcp-established.
 * Checks: addresses and ports, all data in order both ways, that the
 * connection still carries data, that the listener still accepts, and the
 * UDP sockets still talk. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "crtest.h"

#define TO_CLI 3000
#define TO_SRV 400000
#define TO_SRV_SENT 2000

int main(int argc, char **argv)
{
	crt_init(argc, argv);
	signal(SIGPIPE, SIG_IGN);
	int lst = socket(AF_INET, SOCK_STREAM, 0), cli = socket(AF_INET, SOCK_STREAM, 0);
	int small = 4096, one = 1;
	struct sockaddr_in a = crt_loopback(0);
	if (lst < 0 || cli < 0)
		crt_setup_fail("socket: %s", strerror(errno));
	/* Accepted sockets take the listener's receive buffer. */
	if (setsockopt(lst, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small)) ||
	    bind(lst, (struct sockaddr *)&a, sizeof(a)) || listen(lst, 4))
		crt_setup_fail("listen: %s", strerror(errno));
	int lport = crt_port_of(lst, 0);
	a = crt_loopback(lport);
	if (connect(cli, (struct sockaddr *)&a, sizeof(a)))
		crt_setup_fail("connect: %s", strerror(errno));
	int srv = accept(lst, NULL, NULL);
	if (srv < 0 || setsockopt(cli, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)))
		crt_setup_fail("accept: %s", strerror(errno));
	/* SO_REUSEADDR on one end of the connection only (zdtm's
	 * socket-tcp): leaving repair mode clears it. */
	if (setsockopt(srv, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)))
		crt_setup_fail("SO_REUSEADDR: %s", strerror(errno));

	static unsigned char buf[TO_SRV];
	crt_fill_pat(buf, 1, 0, TO_CLI);
	if (write(srv, buf, TO_CLI) != TO_CLI)
		crt_setup_fail("write srv: %s", strerror(errno));
	const char *all = getenv("TCP_ALL_SENT");
	int all_sent = all && *all == '1';
	int to_srv = all_sent ? TO_SRV_SENT : TO_SRV;
	crt_fill_pat(buf, 2, 0, to_srv);
	fcntl(cli, F_SETFL, O_NONBLOCK);
	int sent = 0;
	while (sent < to_srv) {
		int k = (int)write(cli, buf + sent, to_srv - sent);
		if (k < 0 && errno == EAGAIN) {
			crt_sleep_ms(20);
			break;
		}
		if (k <= 0)
			crt_setup_fail("write cli: %s", strerror(errno));
		sent += k;
	}
	/* Whatever did not fit goes once the receiver reads. */
	int outq = 0;
	ioctl(cli, TIOCOUTQ, &outq);
	for (int i = 0; all_sent && outq != 0 && i < 100; i++) {
		crt_sleep_ms(20);
		ioctl(cli, TIOCOUTQ, &outq);
	}
	if (all_sent && (sent != to_srv || outq != 0))
		crt_setup_fail("TCP_ALL_SENT: %d of %d bytes written, %d not acked", sent, to_srv, outq);
	if (!all_sent && outq == 0)
		crt_setup_fail("nothing waits in the client's send queue");

	int u1 = socket(AF_INET, SOCK_DGRAM, 0), u2 = socket(AF_INET, SOCK_DGRAM, 0);
	a = crt_loopback(0);
	if (u1 < 0 || u2 < 0 || bind(u1, (struct sockaddr *)&a, sizeof(a)))
		crt_setup_fail("udp: %s", strerror(errno));
	int uport = crt_port_of(u1, 0);
	a = crt_loopback(uport);
	if (connect(u2, (struct sockaddr *)&a, sizeof(a)))
		crt_setup_fail("udp connect: %s", strerror(errno));
	crt_ready();
	crt_wait();

	CHECK(crt_port_of(lst, 0) == lport && crt_port_of(cli, 1) == lport && crt_port_of(srv, 0) == lport, "TCP ports changed");
	CHECK(crt_port_of(srv, 1) == crt_port_of(cli, 0), "client port changed");
	int nd = 0;
	socklen_t l = sizeof(nd);
	CHECK(!getsockopt(cli, IPPROTO_TCP, TCP_NODELAY, &nd, &l) && nd, "TCP_NODELAY lost");
	int ra = 0, rc = 1;
	l = sizeof(ra);
	CHECK(!getsockopt(srv, SOL_SOCKET, SO_REUSEADDR, &ra, &l) && ra, "SO_REUSEADDR of the accepted end lost");
	l = sizeof(rc);
	CHECK(!getsockopt(cli, SOL_SOCKET, SO_REUSEADDR, &rc, &l) && !rc, "SO_REUSEADDR set on the client end");
	CHECK(crt_recv_pat(cli, 1, TO_CLI, 5000), "data from srv to cli");
	/* The rest of the client's data goes out as the server reads. */
	fcntl(cli, F_SETFL, 0);
	CHECK(crt_recv_pat(srv, 2, sent, 5000), "data from cli to srv (%d bytes)", sent);
	CHECK(write(cli, "again", 5) == 5 && write(srv, "back", 4) == 4, "write after");
	char got[8] = "";
	CHECK(recv(srv, got, 5, MSG_WAITALL) == 5 && !memcmp(got, "again", 5), "cli -> srv after");
	CHECK(recv(cli, got, 4, MSG_WAITALL) == 4 && !memcmp(got, "back", 4), "srv -> cli after");

	int c2 = socket(AF_INET, SOCK_STREAM, 0);
	a = crt_loopback(lport);
	CHECK(c2 >= 0 && !connect(c2, (struct sockaddr *)&a, sizeof(a)), "connect to the listener: %s", strerror(errno));
	int s2 = accept(lst, NULL, NULL);
	CHECK(s2 >= 0 && write(c2, "hi", 2) == 2 && recv(s2, got, 2, MSG_WAITALL) == 2, "new connection");

	CHECK(crt_port_of(u1, 0) == uport && crt_port_of(u2, 1) == uport, "UDP ports changed");
	CHECK(send(u2, "dgram", 5, 0) == 5, "udp send: %s", strerror(errno));
	struct pollfd p = {.fd = u1, .events = POLLIN};
	CHECK(poll(&p, 1, 2000) == 1 && recv(u1, got, sizeof(got), 0) == 5 && !memcmp(got, "dgram", 5), "udp receive");
	return crt_finish();
}
