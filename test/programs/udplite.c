/* udplite: UDP-Lite sockets (IPPROTO_UDPLITE) over IPv4 and IPv6
 * loopback: a bound one and one connected to it, each way; the IPv4
 * receiver with a 200 ms SO_RCVTIMEO.
 * Checks: protocols, addresses and ports, the peer, the timeout, and
 * datagrams both ways (what was queued when dumped is dropped, as CRIU
 * drops a UDP socket's queue, so nothing is queued then). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "crtest.h"

#ifndef IPPROTO_UDPLITE
#define IPPROTO_UDPLITE 136
#endif

static int protocol(int fd)
{
	int v = -1;
	socklen_t l = sizeof(v);

	getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &v, &l);
	return v;
}

static int recv_is(int fd, const char *want)
{
	char buf[64];
	for (int i = 0; i < 100; i++) {
		int n = (int)recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n >= 0)
			return n == (int)strlen(want) && !memcmp(buf, want, n);
		crt_sleep_ms(10);
	}
	return 0;
}

int main(int argc, char **argv)
{
	crt_init(argc, argv);
	int s4 = socket(AF_INET, SOCK_DGRAM, IPPROTO_UDPLITE), c4 = socket(AF_INET, SOCK_DGRAM, IPPROTO_UDPLITE);
	int s6 = socket(AF_INET6, SOCK_DGRAM, IPPROTO_UDPLITE), c6 = socket(AF_INET6, SOCK_DGRAM, IPPROTO_UDPLITE);
	if (s4 < 0 || c4 < 0 || s6 < 0 || c6 < 0)
		crt_setup_fail("socket: %s", strerror(errno));
	struct sockaddr_in a4 = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	struct sockaddr_in6 a6 = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
	socklen_t l4 = sizeof(a4), l6 = sizeof(a6);
	if (bind(s4, (struct sockaddr *)&a4, sizeof(a4)) || getsockname(s4, (struct sockaddr *)&a4, &l4) ||
	    connect(c4, (struct sockaddr *)&a4, sizeof(a4)))
		crt_setup_fail("IPv4: %s", strerror(errno));
	if (bind(s6, (struct sockaddr *)&a6, sizeof(a6)) || getsockname(s6, (struct sockaddr *)&a6, &l6) ||
	    connect(c6, (struct sockaddr *)&a6, sizeof(a6)))
		crt_setup_fail("IPv6: %s", strerror(errno));
	struct timeval tv = {.tv_usec = 200000};
	if (setsockopt(s4, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)))
		crt_setup_fail("SO_RCVTIMEO: %s", strerror(errno));
	struct sockaddr_in c4name;
	socklen_t cl = sizeof(c4name);
	getsockname(c4, (struct sockaddr *)&c4name, &cl);
	crt_ready();
	crt_wait();

	CHECK(protocol(s4) == IPPROTO_UDPLITE && protocol(c6) == IPPROTO_UDPLITE, "protocols %d %d", protocol(s4),
	      protocol(c6));
	struct sockaddr_in g4;
	socklen_t gl = sizeof(g4);
	CHECK(!getsockname(s4, (struct sockaddr *)&g4, &gl) && g4.sin_port == a4.sin_port, "IPv4 port changed");
	gl = sizeof(g4);
	CHECK(!getpeername(c4, (struct sockaddr *)&g4, &gl) && g4.sin_port == a4.sin_port, "IPv4 peer changed");
	struct timeval got = {0};
	socklen_t tl = sizeof(got);
	CHECK(!getsockopt(s4, SOL_SOCKET, SO_RCVTIMEO, &got, &tl) && got.tv_usec == 200000, "timeout %ld",
	      (long)got.tv_usec);
	CHECK(write(c4, "four", 4) == 4 && recv_is(s4, "four"), "IPv4 datagram does not arrive");
	CHECK(sendto(s4, "back", 4, 0, (struct sockaddr *)&c4name, sizeof(c4name)) == 4 && recv_is(c4, "back"),
	      "IPv4 answer does not arrive");
	CHECK(write(c6, "six", 3) == 3 && recv_is(s6, "six"), "IPv6 datagram does not arrive");
	return crt_finish();
}
