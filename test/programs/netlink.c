/* netlink: netlink sockets.
 *   rt:  NETLINK_ROUTE, bound with a port id the kernel picked and the
 *        RTMGRP_LINK and RTMGRP_IPV4_IFADDR groups, O_NONBLOCK;
 *   un:  NETLINK_ROUTE, neither bound nor connected;
 *   ge:  NETLINK_GENERIC, bound to port id 0x4242 + pid, with a 1 MiB
 *        receive buffer.
 * Checks: protocols, port ids, groups (getsockname and
 * NETLINK_LIST_MEMBERSHIPS), O_NONBLOCK, the buffer, and that rt and un
 * still talk to the kernel: an RTM_GETLINK dump request is answered with
 * the loopback device. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "crtest.h"

static struct sockaddr_nl name_of(int fd)
{
	struct sockaddr_nl sa = {0};
	socklen_t l = sizeof(sa);

	getsockname(fd, (struct sockaddr *)&sa, &l);
	return sa;
}

static int protocol(int fd)
{
	int v = -1;
	socklen_t l = sizeof(v);

	getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &v, &l);
	return v;
}

/* getlink sends an RTM_GETLINK dump request and says whether the answer
 * comes (within a second) with a device of index 1. */
static int getlink(int fd)
{
	struct {
		struct nlmsghdr nh;
		struct ifinfomsg ifi;
	} req = {
		.nh = {.nlmsg_len = sizeof(req), .nlmsg_type = RTM_GETLINK, .nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP, .nlmsg_seq = 7},
		.ifi = {.ifi_family = AF_UNSPEC},
	};
	struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
	if (sendto(fd, &req, sizeof(req), 0, (struct sockaddr *)&kernel, sizeof(kernel)) != sizeof(req))
		return 0;
	static char buf[65536];
	for (int tries = 0; tries < 100; tries++) {
		int n = (int)recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n < 0 && errno == EAGAIN) {
			crt_sleep_ms(10);
			continue;
		}
		if (n <= 0)
			return 0;
		for (struct nlmsghdr *nh = (struct nlmsghdr *)buf; NLMSG_OK(nh, (unsigned)n); nh = NLMSG_NEXT(nh, n)) {
			if (nh->nlmsg_type == NLMSG_DONE || nh->nlmsg_type == NLMSG_ERROR)
				return 0;
			if (nh->nlmsg_type == RTM_NEWLINK && nh->nlmsg_seq == 7 &&
			    ((struct ifinfomsg *)NLMSG_DATA(nh))->ifi_index == 1) {
				/* Read the rest of the dump, so nothing is left. */
				while (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) > 0 || (crt_sleep_ms(20), recv(fd, buf, sizeof(buf), MSG_DONTWAIT) > 0))
					;
				return 1;
			}
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	crt_init(argc, argv);
	int rt = socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK, NETLINK_ROUTE);
	int un = socket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE);
	int ge = socket(AF_NETLINK, SOCK_RAW, NETLINK_GENERIC);
	if (rt < 0 || un < 0 || ge < 0)
		crt_setup_fail("socket: %s", strerror(errno));
	struct sockaddr_nl sa = {.nl_family = AF_NETLINK, .nl_groups = RTMGRP_LINK | RTMGRP_IPV4_IFADDR};
	if (bind(rt, (struct sockaddr *)&sa, sizeof(sa)))
		crt_setup_fail("bind rt: %s", strerror(errno));
	unsigned gport = 0x4242 + (unsigned)getpid();
	struct sockaddr_nl ga = {.nl_family = AF_NETLINK, .nl_pid = gport};
	if (bind(ge, (struct sockaddr *)&ga, sizeof(ga)))
		crt_setup_fail("bind ge: %s", strerror(errno));
	int big = 1 << 20;
	if (setsockopt(ge, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof(big)))
		crt_setup_fail("SO_RCVBUFFORCE: %s", strerror(errno));
	int one = 1;
	if (setsockopt(ge, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)))
		crt_setup_fail("SO_PASSCRED: %s", strerror(errno));
	unsigned rtport = name_of(rt).nl_pid;
	int rcvbuf = 0;
	socklen_t l = sizeof(rcvbuf);
	getsockopt(ge, SOL_SOCKET, SO_RCVBUF, &rcvbuf, &l);
	crt_ready();
	crt_wait();

	CHECK(protocol(rt) == NETLINK_ROUTE && protocol(un) == NETLINK_ROUTE && protocol(ge) == NETLINK_GENERIC,
	      "protocols %d %d %d", protocol(rt), protocol(un), protocol(ge));
	struct sockaddr_nl n = name_of(rt);
	CHECK(n.nl_pid == rtport, "rt port id %u, was %u", n.nl_pid, rtport);
	CHECK(n.nl_groups == (RTMGRP_LINK | RTMGRP_IPV4_IFADDR), "rt groups %#x", n.nl_groups);
	unsigned mem[4] = {0};
	socklen_t ml = sizeof(mem);
	CHECK(!getsockopt(rt, SOL_NETLINK, NETLINK_LIST_MEMBERSHIPS, mem, &ml) &&
	          mem[0] == (RTMGRP_LINK | RTMGRP_IPV4_IFADDR),
	      "rt memberships %#x", mem[0]);
	CHECK(fcntl(rt, F_GETFL) & O_NONBLOCK, "rt lost O_NONBLOCK");
	CHECK(name_of(un).nl_pid == 0, "unbound socket bound to %u", name_of(un).nl_pid);
	CHECK(name_of(ge).nl_pid == gport, "ge port id %u, was %u", name_of(ge).nl_pid, gport);
	int now = 0;
	l = sizeof(now);
	getsockopt(ge, SOL_SOCKET, SO_RCVBUF, &now, &l);
	CHECK(now == rcvbuf, "ge receive buffer %d, was %d", now, rcvbuf);
	int pc = 0;
	l = sizeof(pc);
	CHECK(!getsockopt(ge, SOL_SOCKET, SO_PASSCRED, &pc, &l) && pc == 1, "ge lost SO_PASSCRED (%d)", pc);
	l = sizeof(pc);
	CHECK(!getsockopt(rt, SOL_SOCKET, SO_PASSCRED, &pc, &l) && pc == 0, "rt gained SO_PASSCRED");
	CHECK(getlink(rt), "rt gets no answer from the kernel");
	CHECK(getlink(un), "un gets no answer from the kernel");
	return crt_finish();
}
