/* ipopts: the IP-level options CRIU keeps on datagram sockets.
 *   u4: a UDP socket bound on loopback with IP_TOS 0x10, IP_TTL 7,
 *       IP_PKTINFO and IP_FREEBIND;
 *   d4: a UDP socket left with the defaults;
 *   u6: a UDP IPv6 socket bound on ::1 with IPV6_RECVPKTINFO and
 *       IP_FREEBIND, IPV6_V6ONLY.
 * Checks: every value, the defaults on d4, and that u4 still gets its
 * packet info (IP_PKTINFO control message) with a datagram. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "crtest.h"

static void seti(int fd, int level, int opt, int v)
{
	if (setsockopt(fd, level, opt, &v, sizeof(v)))
		crt_setup_fail("setsockopt %d:%d: %s", level, opt, strerror(errno));
}

int main(int argc, char **argv)
{
	crt_init(argc, argv);
	int u4 = socket(AF_INET, SOCK_DGRAM, 0), d4 = socket(AF_INET, SOCK_DGRAM, 0), u6 = socket(AF_INET6, SOCK_DGRAM, 0);
	if (u4 < 0 || d4 < 0 || u6 < 0)
		crt_setup_fail("socket: %s", strerror(errno));
	seti(u4, IPPROTO_IP, IP_TOS, 0x10);
	seti(u4, IPPROTO_IP, IP_TTL, 7);
	seti(u4, IPPROTO_IP, IP_PKTINFO, 1);
	seti(u4, IPPROTO_IP, IP_FREEBIND, 1);
	struct sockaddr_in a4 = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t l4 = sizeof(a4);
	if (bind(u4, (struct sockaddr *)&a4, sizeof(a4)) || getsockname(u4, (struct sockaddr *)&a4, &l4))
		crt_setup_fail("bind u4: %s", strerror(errno));
	seti(u6, IPPROTO_IPV6, IPV6_V6ONLY, 1);
	seti(u6, IPPROTO_IPV6, IPV6_RECVPKTINFO, 1);
	seti(u6, IPPROTO_IP, IP_FREEBIND, 1);
	struct sockaddr_in6 a6 = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
	if (bind(u6, (struct sockaddr *)&a6, sizeof(a6)))
		crt_setup_fail("bind u6: %s", strerror(errno));
	int ttl0 = crt_sockopt_int(d4, IPPROTO_IP, IP_TTL);
	crt_ready();
	crt_wait();

	CHECK(crt_sockopt_int(u4, IPPROTO_IP, IP_TOS) == 0x10, "u4 IP_TOS %#x", crt_sockopt_int(u4, IPPROTO_IP, IP_TOS));
	CHECK(crt_sockopt_int(u4, IPPROTO_IP, IP_TTL) == 7, "u4 IP_TTL %d", crt_sockopt_int(u4, IPPROTO_IP, IP_TTL));
	CHECK(crt_sockopt_int(u4, IPPROTO_IP, IP_PKTINFO) == 1, "u4 IP_PKTINFO off");
	CHECK(crt_sockopt_int(u4, IPPROTO_IP, IP_FREEBIND) == 1, "u4 IP_FREEBIND off");
	CHECK(crt_sockopt_int(d4, IPPROTO_IP, IP_TOS) == 0 && crt_sockopt_int(d4, IPPROTO_IP, IP_TTL) == ttl0 &&
	          crt_sockopt_int(d4, IPPROTO_IP, IP_PKTINFO) == 0 && crt_sockopt_int(d4, IPPROTO_IP, IP_FREEBIND) == 0,
	      "d4 lost its defaults");
	CHECK(crt_sockopt_int(u6, IPPROTO_IPV6, IPV6_RECVPKTINFO) == 1, "u6 IPV6_RECVPKTINFO off");
	CHECK(crt_sockopt_int(u6, IPPROTO_IP, IP_FREEBIND) == 1, "u6 IP_FREEBIND off");
	CHECK(crt_sockopt_int(u6, IPPROTO_IPV6, IPV6_V6ONLY) == 1, "u6 IPV6_V6ONLY off");

	CHECK(sendto(d4, "x", 1, 0, (struct sockaddr *)&a4, sizeof(a4)) == 1, "send: %s", strerror(errno));
	char buf[8], cbuf[256];
	struct iovec iov = {.iov_base = buf, .iov_len = sizeof(buf)};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf)};
	int n = -1;
	for (int i = 0; i < 100 && n < 0; i++) {
		n = (int)recvmsg(u4, &mh, MSG_DONTWAIT);
		if (n < 0)
			crt_sleep_ms(10);
	}
	int info = 0;
	for (struct cmsghdr *ch = CMSG_FIRSTHDR(&mh); n == 1 && ch; ch = CMSG_NXTHDR(&mh, ch))
		if (ch->cmsg_level == IPPROTO_IP && ch->cmsg_type == IP_PKTINFO)
			info = 1;
	CHECK(n == 1 && info, "u4 got %d bytes, packet info %d", n, info);
	return crt_finish();
}
