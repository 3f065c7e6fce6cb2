/* rawip: raw IP sockets and ICMP echo ("ping") datagram sockets on
 * loopback. A raw IPv4 ICMP socket whose ICMP_FILTER passes only echo
 * replies, with IP_TTL 9 and IP_PKTINFO; a raw IPv6 ICMPv6 socket whose
 * ICMPV6_FILTER passes only echo replies; a raw IPv4 UDP socket bound to
 * 127.0.0.1 with IP_HDRINCL and IP_NODEFRAG; a raw IPv4 IPPROTO_RAW one;
 * IPv4 and IPv6 ping sockets bound to loopback, each with the echo
 * identifier the kernel picked. Ping sockets need the group in
 * net.ipv4.ping_group_range: as root the program widens it to take its
 * group if it must (the restore makes the sockets again as root) and puts
 * it back when it ends.
 * Checks: types, protocols, bound addresses and identifiers, every
 * option and filter; an echo request from each ping socket answered to
 * it with its identifier, the replies seen by the raw ICMP sockets, a
 * UDP datagram built whole (IP header and all) sent through the
 * IP_HDRINCL socket and received by a UDP socket. With RAWIP_NO_IDENT=1
 * (set when CRIU restores it: its restore does not bind a ping socket,
 * which takes a new identifier when it sends) the identifiers are not
 * checked. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/icmp.h>
#include <netinet/icmp6.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/udp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "crtest.h"

#ifndef IPV6_HDRINCL
#define IPV6_HDRINCL 36
#endif

static char range_was[64];

static int write_range(const char *s)
{
	int fd = open("/proc/sys/net/ipv4/ping_group_range", O_WRONLY);
	if (fd < 0)
		return -1;
	int n = (int)write(fd, s, strlen(s));
	close(fd);
	return n == (int)strlen(s) ? 0 : -1;
}

/* ping_socket makes a ping socket, widening ping_group_range as root. */
static int ping_socket(int family, int proto)
{
	int fd = socket(family, SOCK_DGRAM, proto);
	if (fd >= 0 || errno != EACCES || geteuid() != 0)
		return fd;
	int rf = open("/proc/sys/net/ipv4/ping_group_range", O_RDONLY);
	if (rf < 0)
		return -1;
	int n = (int)read(rf, range_was, sizeof(range_was) - 1);
	close(rf);
	if (n <= 0)
		return -1;
	range_was[n] = 0;
	char r[64];
	snprintf(r, sizeof(r), "%d %d", (int)getegid(), (int)getegid());
	if (write_range(r))
		return -1;
	return socket(family, SOCK_DGRAM, proto);
}

/* wait_for waits up to 2 s for a datagram on fd for which match holds. */
static int wait_for(int fd, int (*match)(const char *, int, const void *), const void *arg)
{
	char buf[2048];
	struct timespec t0, t;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		poll(&p, 1, 100);
		int n = (int)recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n > 0 && match(buf, n, arg))
			return 1;
		clock_gettime(CLOCK_MONOTONIC, &t);
		if (t.tv_sec - t0.tv_sec > 2)
			return 0;
	}
}

struct want {
	int type, id, skip;
	const char *tag;
};

/* echo_reply: an ICMP(v6) echo reply of identifier id carrying tag, after
 * skip bytes (the IPv4 header a raw IPv4 socket reads). */
static int echo_reply(const char *b, int n, const void *arg)
{
	const struct want *w = arg;
	int skip = w->skip ? (b[0] & 0xf) * 4 : 0;
	if (n < skip + 8 + (int)strlen(w->tag))
		return 0;
	const unsigned char *h = (const unsigned char *)b + skip;
	int id = h[4] << 8 | h[5];
	return h[0] == w->type && (w->id < 0 || id == w->id) && !memcmp(h + 8, w->tag, strlen(w->tag));
}

static int payload_is(const char *b, int n, const void *arg)
{
	return n == (int)strlen(arg) && !memcmp(b, arg, n);
}

int main(int argc, char **argv)
{
	crt_init(argc, argv);
	int icmp4 = socket(AF_INET, SOCK_RAW, IPPROTO_ICMP);
	int icmp6 = socket(AF_INET6, SOCK_RAW, IPPROTO_ICMPV6);
	int udpraw = socket(AF_INET, SOCK_RAW, IPPROTO_UDP);
	int ipraw = socket(AF_INET, SOCK_RAW, IPPROTO_RAW);
	if (icmp4 < 0 || icmp6 < 0 || udpraw < 0 || ipraw < 0)
		crt_setup_fail("raw socket: %s", strerror(errno));
	int ping4 = ping_socket(AF_INET, IPPROTO_ICMP);
	int ping6 = ping_socket(AF_INET6, IPPROTO_ICMPV6);
	if (ping4 < 0 || ping6 < 0)
		crt_setup_fail("ping socket (net.ipv4.ping_group_range): %s", strerror(errno));
	struct icmp_filter f4 = {.data = ~(1U << ICMP_ECHOREPLY)};
	struct icmp6_filter f6;
	ICMP6_FILTER_SETBLOCKALL(&f6);
	ICMP6_FILTER_SETPASS(ICMP6_ECHO_REPLY, &f6);
	int ttl = 9, one = 1;
	if (setsockopt(icmp4, SOL_RAW, ICMP_FILTER, &f4, sizeof(f4)) ||
	    setsockopt(icmp6, IPPROTO_ICMPV6, ICMP6_FILTER, &f6, sizeof(f6)) ||
	    setsockopt(icmp4, IPPROTO_IP, IP_TTL, &ttl, sizeof(ttl)) ||
	    setsockopt(icmp4, IPPROTO_IP, IP_PKTINFO, &one, sizeof(one)) ||
	    setsockopt(udpraw, IPPROTO_IP, IP_HDRINCL, &one, sizeof(one)) ||
	    setsockopt(udpraw, IPPROTO_IP, IP_NODEFRAG, &one, sizeof(one)))
		crt_setup_fail("options: %s", strerror(errno));
	struct sockaddr_in lo4 = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	struct sockaddr_in6 lo6 = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
	if (bind(udpraw, (struct sockaddr *)&lo4, sizeof(lo4)) || bind(ping4, (struct sockaddr *)&lo4, sizeof(lo4)) ||
	    bind(ping6, (struct sockaddr *)&lo6, sizeof(lo6)))
		crt_setup_fail("bind: %s", strerror(errno));
	int id4 = crt_port_of(ping4, 0), id6 = crt_port_of(ping6, 0);
	if (id4 <= 0 || id6 <= 0)
		crt_setup_fail("ping identifiers %d %d", id4, id6);

	crt_ready();
	crt_wait();

	struct {
		int fd, family, type, proto;
		const char *name;
	} socks[] = {
		{icmp4, AF_INET, SOCK_RAW, IPPROTO_ICMP, "raw ICMP"},     {icmp6, AF_INET6, SOCK_RAW, IPPROTO_ICMPV6, "raw ICMPv6"},
		{udpraw, AF_INET, SOCK_RAW, IPPROTO_UDP, "raw UDP"},      {ipraw, AF_INET, SOCK_RAW, IPPROTO_RAW, "IPPROTO_RAW"},
		{ping4, AF_INET, SOCK_DGRAM, IPPROTO_ICMP, "ping"},       {ping6, AF_INET6, SOCK_DGRAM, IPPROTO_ICMPV6, "ping6"},
	};
	for (unsigned i = 0; i < sizeof(socks) / sizeof(socks[0]); i++) {
		CHECK(crt_sockopt_int(socks[i].fd, SOL_SOCKET, SO_DOMAIN) == socks[i].family, "%s: domain", socks[i].name);
		CHECK(crt_sockopt_int(socks[i].fd, SOL_SOCKET, SO_TYPE) == socks[i].type, "%s: type", socks[i].name);
		CHECK(crt_sockopt_int(socks[i].fd, SOL_SOCKET, SO_PROTOCOL) == socks[i].proto, "%s: protocol %d", socks[i].name,
		      crt_sockopt_int(socks[i].fd, SOL_SOCKET, SO_PROTOCOL));
	}
	struct icmp_filter g4 = {0};
	struct icmp6_filter g6 = {0};
	socklen_t l4 = sizeof(g4), l6 = sizeof(g6);
	CHECK(!getsockopt(icmp4, SOL_RAW, ICMP_FILTER, &g4, &l4) && g4.data == f4.data, "raw ICMP: filter %#x", g4.data);
	CHECK(!getsockopt(icmp6, IPPROTO_ICMPV6, ICMP6_FILTER, &g6, &l6) && !memcmp(&g6, &f6, sizeof(f6)), "raw ICMPv6: filter");
	CHECK(crt_sockopt_int(icmp4, IPPROTO_IP, IP_TTL) == 9, "raw ICMP: TTL %d", crt_sockopt_int(icmp4, IPPROTO_IP, IP_TTL));
	CHECK(crt_sockopt_int(icmp4, IPPROTO_IP, IP_PKTINFO) == 1, "raw ICMP: IP_PKTINFO");
	CHECK(crt_sockopt_int(udpraw, IPPROTO_IP, IP_HDRINCL) == 1, "raw UDP: IP_HDRINCL");
	CHECK(crt_sockopt_int(udpraw, IPPROTO_IP, IP_NODEFRAG) == 1, "raw UDP: IP_NODEFRAG");
	CHECK(crt_sockopt_int(icmp4, IPPROTO_IP, IP_HDRINCL) == 0, "raw ICMP: IP_HDRINCL set");
	CHECK(crt_sockopt_int(ipraw, IPPROTO_IP, IP_HDRINCL) == 1, "IPPROTO_RAW: IP_HDRINCL");
	CHECK(crt_sockopt_int(icmp6, IPPROTO_IPV6, IPV6_HDRINCL) == 0, "raw ICMPv6: IPV6_HDRINCL set");
	struct sockaddr_in a4 = {0};
	socklen_t al = sizeof(a4);
	CHECK(!getsockname(udpraw, (struct sockaddr *)&a4, &al) && a4.sin_addr.s_addr == htonl(INADDR_LOOPBACK),
	      "raw UDP: bound to %s", inet_ntoa(a4.sin_addr));
	int same_ident = !getenv("RAWIP_NO_IDENT");
	CHECK(!same_ident || crt_port_of(ping4, 0) == id4, "ping: identifier %d, was %d", crt_port_of(ping4, 0), id4);
	CHECK(!same_ident || crt_port_of(ping6, 0) == id6, "ping6: identifier %d, was %d", crt_port_of(ping6, 0), id6);

	char tag[32];
	snprintf(tag, sizeof(tag), "criugo-rawip-%d", (int)getpid());
	unsigned char req[8 + sizeof(tag)] = {0};
	memcpy(req + 8, tag, strlen(tag));
	req[0] = ICMP_ECHO;
	req[7] = 1;
	CHECK(sendto(ping4, req, 8 + strlen(tag), 0, (struct sockaddr *)&lo4, sizeof(lo4)) > 0, "ping: send: %s", strerror(errno));
	if (!same_ident)
		id4 = crt_port_of(ping4, 0);
	struct want w = {ICMP_ECHOREPLY, id4, 0, tag};
	CHECK(wait_for(ping4, echo_reply, &w), "ping: no echo reply with identifier %d", id4);
	w.skip = 1;
	CHECK(wait_for(icmp4, echo_reply, &w), "raw ICMP: the echo reply not seen");
	req[0] = ICMP6_ECHO_REQUEST;
	CHECK(sendto(ping6, req, 8 + strlen(tag), 0, (struct sockaddr *)&lo6, sizeof(lo6)) > 0, "ping6: send: %s", strerror(errno));
	if (!same_ident)
		id6 = crt_port_of(ping6, 0);
	struct want w6 = {ICMP6_ECHO_REPLY, id6, 0, tag};
	CHECK(wait_for(ping6, echo_reply, &w6), "ping6: no echo reply with identifier %d", id6);
	CHECK(wait_for(icmp6, echo_reply, &w6), "raw ICMPv6: the echo reply not seen");

	/* A whole IPv4/UDP datagram through the IP_HDRINCL socket. */
	int udp = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in ua = lo4;
	socklen_t ul = sizeof(ua);
	bind(udp, (struct sockaddr *)&ua, sizeof(ua));
	getsockname(udp, (struct sockaddr *)&ua, &ul);
	unsigned char pkt[sizeof(struct iphdr) + sizeof(struct udphdr) + sizeof(tag)] = {0};
	struct iphdr *ip = (void *)pkt;
	struct udphdr *uh = (void *)(pkt + sizeof(*ip));
	size_t len = sizeof(*ip) + sizeof(*uh) + strlen(tag);
	ip->version = 4;
	ip->ihl = 5;
	ip->ttl = 64;
	ip->protocol = IPPROTO_UDP;
	ip->tot_len = htons((uint16_t)len);
	ip->saddr = ip->daddr = htonl(INADDR_LOOPBACK);
	uh->source = htons(9);
	uh->dest = ua.sin_port;
	uh->len = htons((uint16_t)(sizeof(*uh) + strlen(tag)));
	memcpy(pkt + sizeof(*ip) + sizeof(*uh), tag, strlen(tag));
	CHECK(sendto(udpraw, pkt, len, 0, (struct sockaddr *)&lo4, sizeof(lo4)) == (ssize_t)len, "raw UDP: send: %s",
	      strerror(errno));
	CHECK(wait_for(udp, payload_is, tag), "raw UDP: the datagram not received");
	if (range_was[0])
		write_range(range_was);
	return crt_finish();
}
