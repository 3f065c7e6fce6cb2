/* mptcp: MPTCP (IPPROTO_MPTCP, 262) sockets on loopback, as a Go server
 * listens since Go 1.24.
 *   lst: MPTCP listener on 127.0.0.1 (ephemeral port), backlog 5,
 *        TCP_NODELAY and SO_KEEPALIVE set;
 *   cli/srv: a connection through it from a plain TCP client. The kernel
 *        falls back to TCP: the accepted srv is a TCP socket (SO_PROTOCOL
 *        6, MPTCP_INFO refused); 3000 bytes from srv wait in cli's
 *        receive queue, 2000 from cli in srv's;
 *   un:  an MPTCP socket neither bound nor connected.
 * With MPTCP_REAL=1 in the environment a second client, itself MPTCP,
 * connects too (mcli/msrv, a real MPTCP connection with data both ways):
 * a dump must refuse it and leave the program running (pkg/dump's
 * TestDumpMPTCPRefused), and the program checks that connection too.
 * Dumping the accepted connection needs criu-parasite --tcp-established.
 * Checks: the protocols (lst still MPTCP, srv TCP), ports, all data in
 * order both ways, that the connection still carries data, and that the
 * listener accepts a new plain TCP client (fallback) and un, connected
 * then, as an MPTCP client (the accepted socket is an MPTCP one). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "crtest.h"

#ifndef IPPROTO_MPTCP
#define IPPROTO_MPTCP 262
#endif
#ifndef SOL_MPTCP
#define SOL_MPTCP 284
#endif
#define MPTCP_INFO 1

#define TO_CLI 3000
#define TO_SRV 2000

static int proto_of(int fd) { return crt_sockopt_int(fd, SOL_SOCKET, SO_PROTOCOL); }

/* connect_to connects c (a new socket of protocol proto if c < 0) to
 * the listener and returns it, and the accepted end in *acc; -1 on
 * failure. */
static int connect_to(int c, int lst, int port, int proto, int *acc)
{
	struct sockaddr_in a = crt_loopback(port);
	if (c < 0)
		c = socket(AF_INET, SOCK_STREAM, proto);
	if (c < 0 || connect(c, (struct sockaddr *)&a, sizeof(a)))
		return -1;
	*acc = accept(lst, NULL, NULL);
	return *acc < 0 ? -1 : c;
}

/* talk sends a word each way and says whether both arrived. */
static int talk(int a, int b)
{
	char got[8] = "";
	return write(a, "ping", 4) == 4 && recv(b, got, 4, MSG_WAITALL) == 4 && !memcmp(got, "ping", 4) &&
	       write(b, "pong", 4) == 4 && recv(a, got, 4, MSG_WAITALL) == 4 && !memcmp(got, "pong", 4);
}

int main(int argc, char **argv)
{
	crt_init(argc, argv);
	signal(SIGPIPE, SIG_IGN);
	int one = 1;
	int lst = socket(AF_INET, SOCK_STREAM, IPPROTO_MPTCP);
	if (lst < 0)
		crt_setup_fail("MPTCP socket: %s", strerror(errno));
	struct sockaddr_in a = crt_loopback(0);
	if (setsockopt(lst, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) ||
	    setsockopt(lst, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one)) ||
	    bind(lst, (struct sockaddr *)&a, sizeof(a)) || listen(lst, 5))
		crt_setup_fail("listen: %s", strerror(errno));
	int lport = crt_port_of(lst, 0), srv;
	int cli = connect_to(-1, lst, lport, IPPROTO_TCP, &srv);
	int un = socket(AF_INET, SOCK_STREAM, IPPROTO_MPTCP);
	if (cli < 0 || un < 0)
		crt_setup_fail("plain TCP client, unbound socket: %s", strerror(errno));
	unsigned char info[64];
	socklen_t il = sizeof(info);
	if (proto_of(lst) != IPPROTO_MPTCP || proto_of(srv) != IPPROTO_TCP ||
	    getsockopt(srv, SOL_MPTCP, MPTCP_INFO, info, &il) == 0)
		crt_setup_fail("protocols: listener %d, accepted %d (want %d, %d, no MPTCP_INFO)", proto_of(lst),
			       proto_of(srv), IPPROTO_MPTCP, IPPROTO_TCP);
	if (!crt_send_pat(srv, 1, TO_CLI) || !crt_send_pat(cli, 2, TO_SRV))
		crt_setup_fail("write: %s", strerror(errno));

	const char *real = getenv("MPTCP_REAL");
	int mcli = -1, msrv = -1;
	if (real && *real == '1') {
		mcli = connect_to(-1, lst, lport, IPPROTO_MPTCP, &msrv);
		if (mcli < 0 || proto_of(msrv) != IPPROTO_MPTCP || !talk(mcli, msrv))
			crt_setup_fail("MPTCP client: %s", strerror(errno));
	}
	crt_sleep_ms(20); /* let the loopback acks come */
	crt_ready();
	crt_wait();

	CHECK(proto_of(lst) == IPPROTO_MPTCP, "listener protocol %d, want MPTCP", proto_of(lst));
	CHECK(proto_of(srv) == IPPROTO_TCP && proto_of(cli) == IPPROTO_TCP, "accepted protocol %d", proto_of(srv));
	CHECK(crt_port_of(lst, 0) == lport && crt_port_of(cli, 1) == lport && crt_port_of(srv, 0) == lport, "ports changed");
	CHECK(crt_port_of(srv, 1) == crt_port_of(cli, 0), "client port changed");
	int v = 0;
	socklen_t l = sizeof(v);
	CHECK(!getsockopt(lst, IPPROTO_TCP, TCP_NODELAY, &v, &l) && v, "listener TCP_NODELAY lost");
	l = sizeof(v);
	CHECK(!getsockopt(lst, SOL_SOCKET, SO_KEEPALIVE, &v, &l) && v, "listener SO_KEEPALIVE lost");
	l = sizeof(v);
	CHECK(!getsockopt(lst, SOL_SOCKET, SO_ACCEPTCONN, &v, &l) && v, "listener not listening");
	CHECK(crt_recv_pat(cli, 1, TO_CLI, 5000), "data from srv to cli");
	CHECK(crt_recv_pat(srv, 2, TO_SRV, 5000), "data from cli to srv");
	CHECK(talk(cli, srv), "the connection after");
	if (mcli >= 0)
		CHECK(talk(mcli, msrv), "the MPTCP connection after");

	CHECK(proto_of(un) == IPPROTO_MPTCP && crt_port_of(un, 0) == 0, "unbound MPTCP socket: protocol %d, port %d",
	      proto_of(un), crt_port_of(un, 0));
	int s2, c2 = connect_to(-1, lst, lport, IPPROTO_TCP, &s2);
	CHECK(c2 >= 0 && proto_of(s2) == IPPROTO_TCP && talk(c2, s2), "new plain TCP client: %s", strerror(errno));
	int s3, c3 = connect_to(un, lst, lport, IPPROTO_MPTCP, &s3);
	CHECK(c3 >= 0 && proto_of(s3) == IPPROTO_MPTCP && talk(c3, s3), "new MPTCP client (accepted protocol %d): %s",
	      c3 >= 0 ? proto_of(s3) : -1, strerror(errno));
	return crt_finish();
}
