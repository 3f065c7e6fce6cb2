/* packet: AF_PACKET sockets on lo. A SOCK_RAW ETH_P_ALL socket bound to lo
 * with TPACKET_V2, PACKET_RESERVE 64, PACKET_AUXDATA, PACKET_ORIGDEV,
 * PACKET_LOSS, PACKET_TIMESTAMP, PACKET_COPY_THRESH 128, an all-multicast
 * and a multicast-address membership; a SOCK_DGRAM socket of ethertype
 * 0x88b5 bound to lo in a hash fanout group; an unbound SOCK_RAW socket
 * with PACKET_VNET_HDR; a SOCK_PACKET socket bound to "lo".
 * Checks: type, protocol and interface of each (getsockname), each option
 * (getsockopt), copy_thresh and the memberships as the kernel's packet_diag
 * tells them, the fanout group, and a frame sent through the raw socket
 * after the restore: received by the raw, datagram and SOCK_PACKET
 * sockets.
 * With PACKET_RING=1 also a socket with a receive ring (PACKET_RING=map:
 * and the ring mapped), which a dump must refuse (pkg/dump's
 * TestDumpPacketRingRefused). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_packet.h>
#include <linux/net_tstamp.h>
#include <linux/netlink.h>
#include <linux/packet_diag.h>
#include <linux/sock_diag.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "crtest.h"

#define ETH_TEST 0x88b5
#define FANOUT_ID 0x2a

static const unsigned char mcaddr[6] = {0x01, 0x00, 0x5e, 0x00, 0x00, 0xfb};

struct diag {
	int found;
	struct packet_diag_info info;
	int n_mc, allmulti, mcast;
};

/* diag_of asks packet_diag about the socket fd, as a dump does. */
static int diag_of(int fd, struct diag *d)
{
	struct stat st;
	if (fstat(fd, &st))
		return -1;
	memset(d, 0, sizeof(*d));
	int nl = socket(AF_NETLINK, SOCK_RAW, NETLINK_SOCK_DIAG);
	if (nl < 0)
		return -1;
	struct {
		struct nlmsghdr h;
		struct packet_diag_req r;
	} req = {
		.h = {.nlmsg_len = sizeof(req), .nlmsg_type = SOCK_DIAG_BY_FAMILY, .nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP},
		.r = {.sdiag_family = AF_PACKET, .pdiag_show = PACKET_SHOW_INFO | PACKET_SHOW_MCLIST},
	};
	if (send(nl, &req, sizeof(req), 0) < 0) {
		close(nl);
		return -1;
	}
	static char buf[65536];
	for (;;) {
		int n = (int)recv(nl, buf, sizeof(buf), 0);
		if (n <= 0)
			break;
		for (struct nlmsghdr *h = (void *)buf; NLMSG_OK(h, (unsigned)n); h = NLMSG_NEXT(h, n)) {
			if (h->nlmsg_type == NLMSG_DONE || h->nlmsg_type == NLMSG_ERROR) {
				close(nl);
				return d->found ? 0 : -1;
			}
			struct packet_diag_msg *m = NLMSG_DATA(h);
			if (m->pdiag_ino != st.st_ino)
				continue;
			d->found = 1;
			int len = (int)(h->nlmsg_len - NLMSG_LENGTH(sizeof(*m)));
			for (struct nlattr *a = (void *)(m + 1); len >= (int)sizeof(*a) && a->nla_len >= sizeof(*a) && a->nla_len <= len;
			     len -= NLA_ALIGN(a->nla_len), a = (void *)((char *)a + NLA_ALIGN(a->nla_len))) {
				void *v = a + 1;
				if (a->nla_type == PACKET_DIAG_INFO)
					memcpy(&d->info, v, sizeof(d->info));
				if (a->nla_type == PACKET_DIAG_MCLIST) {
					struct packet_diag_mclist *mc = v;
					int k = (int)((a->nla_len - sizeof(*a)) / sizeof(*mc));
					for (int i = 0; i < k; i++) {
						d->n_mc++;
						if (mc[i].pdmc_type == PACKET_MR_ALLMULTI && mc[i].pdmc_index == if_nametoindex("lo"))
							d->allmulti++;
						if (mc[i].pdmc_type == PACKET_MR_MULTICAST && mc[i].pdmc_alen == 6 &&
						    !memcmp(mc[i].pdmc_addr, mcaddr, 6))
							d->mcast++;
					}
				}
			}
		}
	}
	close(nl);
	return -1;
}

/* got waits up to 2 s for a frame on fd holding tag; off is where the
 * payload starts in what fd reads. */
static int got(int fd, const char *tag, size_t off)
{
	char buf[4096];
	struct timespec t0, t;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		poll(&p, 1, 100);
		int n = (int)recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n >= (int)(off + strlen(tag)) && !memcmp(buf + off, tag, strlen(tag)))
			return 1;
		clock_gettime(CLOCK_MONOTONIC, &t);
		if (t.tv_sec - t0.tv_sec > 2)
			return 0;
	}
}

int main(int argc, char **argv)
{
	crt_init(argc, argv);
	int lo = (int)if_nametoindex("lo");
	int raw = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));
	int dg = socket(AF_PACKET, SOCK_DGRAM, htons(ETH_TEST));
	int vnet = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_IP));
	int spkt = socket(AF_PACKET, SOCK_PACKET, htons(ETH_P_ALL));
	if (lo <= 0 || raw < 0 || dg < 0 || vnet < 0 || spkt < 0)
		crt_setup_fail("socket: %s", strerror(errno));
	struct sockaddr_ll ll = {.sll_family = AF_PACKET, .sll_ifindex = lo};
	if (bind(raw, (struct sockaddr *)&ll, sizeof(ll)) || bind(dg, (struct sockaddr *)&ll, sizeof(ll)))
		crt_setup_fail("bind: %s", strerror(errno));
	struct sockaddr sp = {.sa_family = AF_PACKET};
	strcpy(sp.sa_data, "lo");
	if (bind(spkt, &sp, sizeof(sp)))
		crt_setup_fail("bind SOCK_PACKET: %s", strerror(errno));
	int v2 = TPACKET_V2, res = 64, one = 1, ts = SOF_TIMESTAMPING_RAW_HARDWARE, thresh = 128;
	if (setsockopt(raw, SOL_PACKET, PACKET_VERSION, &v2, sizeof(v2)) ||
	    setsockopt(raw, SOL_PACKET, PACKET_RESERVE, &res, sizeof(res)) ||
	    setsockopt(raw, SOL_PACKET, PACKET_AUXDATA, &one, sizeof(one)) ||
	    setsockopt(raw, SOL_PACKET, PACKET_ORIGDEV, &one, sizeof(one)) ||
	    setsockopt(raw, SOL_PACKET, PACKET_LOSS, &one, sizeof(one)) ||
	    setsockopt(raw, SOL_PACKET, PACKET_TIMESTAMP, &ts, sizeof(ts)) ||
	    setsockopt(raw, SOL_PACKET, PACKET_COPY_THRESH, &thresh, sizeof(thresh)) ||
	    setsockopt(vnet, SOL_PACKET, PACKET_VNET_HDR, &one, sizeof(one)))
		crt_setup_fail("packet options: %s", strerror(errno));
	struct packet_mreq mr = {.mr_ifindex = lo, .mr_type = PACKET_MR_ALLMULTI};
	if (setsockopt(raw, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr, sizeof(mr)))
		crt_setup_fail("allmulti: %s", strerror(errno));
	mr.mr_type = PACKET_MR_MULTICAST;
	mr.mr_alen = 6;
	memcpy(mr.mr_address, mcaddr, 6);
	if (setsockopt(raw, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr, sizeof(mr)))
		crt_setup_fail("multicast: %s", strerror(errno));
	int fanout = FANOUT_ID | PACKET_FANOUT_HASH << 16;
	if (setsockopt(dg, SOL_PACKET, PACKET_FANOUT, &fanout, sizeof(fanout)))
		crt_setup_fail("fanout: %s", strerror(errno));
	int fanout_was = crt_sockopt_int(dg, SOL_PACKET, PACKET_FANOUT);
	if (getenv("PACKET_RING")) {
		int rs = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));
		struct tpacket_req tr = {.tp_block_size = 4096, .tp_block_nr = 1, .tp_frame_size = 2048, .tp_frame_nr = 2};
		if (rs < 0 || setsockopt(rs, SOL_PACKET, PACKET_RX_RING, &tr, sizeof(tr)) ||
		    (!strcmp(getenv("PACKET_RING"), "map") &&
		     mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, rs, 0) == MAP_FAILED))
			crt_setup_fail("ring: %s", strerror(errno));
	}
	int rcvbuf = 65536;
	setsockopt(dg, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	int rcvbuf_was = crt_sockopt_int(dg, SOL_SOCKET, SO_RCVBUF);

	crt_ready();
	crt_wait();

	struct {
		int fd, type, proto, ifindex;
		const char *name;
	} want[] = {
		{raw, SOCK_RAW, htons(ETH_P_ALL), lo, "raw"},
		{dg, SOCK_DGRAM, htons(ETH_TEST), lo, "dgram"},
		{vnet, SOCK_RAW, htons(ETH_P_IP), 0, "vnet"},
	};
	for (unsigned i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		CHECK(crt_sockopt_int(want[i].fd, SOL_SOCKET, SO_DOMAIN) == AF_PACKET, "%s: domain", want[i].name);
		CHECK(crt_sockopt_int(want[i].fd, SOL_SOCKET, SO_TYPE) == want[i].type, "%s: type %d", want[i].name,
		      crt_sockopt_int(want[i].fd, SOL_SOCKET, SO_TYPE));
		struct sockaddr_ll a = {0};
		socklen_t l = sizeof(a);
		CHECK(!getsockname(want[i].fd, (struct sockaddr *)&a, &l) && a.sll_ifindex == want[i].ifindex &&
			      a.sll_protocol == want[i].proto,
		      "%s: bound to interface %d protocol %#x", want[i].name, a.sll_ifindex, ntohs(a.sll_protocol));
	}
	CHECK(crt_sockopt_int(spkt, SOL_SOCKET, SO_TYPE) == SOCK_PACKET, "SOCK_PACKET: type %d", crt_sockopt_int(spkt, SOL_SOCKET, SO_TYPE));
	struct sockaddr spa = {0};
	socklen_t spl = sizeof(spa);
	CHECK(!getsockname(spkt, &spa, &spl) && !strcmp(spa.sa_data, "lo"), "SOCK_PACKET: bound to '%.14s'", spa.sa_data);
	CHECK(crt_sockopt_int(raw, SOL_PACKET, PACKET_VERSION) == TPACKET_V2, "raw: version %d", crt_sockopt_int(raw, SOL_PACKET, PACKET_VERSION));
	CHECK(crt_sockopt_int(raw, SOL_PACKET, PACKET_RESERVE) == 64, "raw: reserve %d", crt_sockopt_int(raw, SOL_PACKET, PACKET_RESERVE));
	CHECK(crt_sockopt_int(raw, SOL_PACKET, PACKET_AUXDATA) == 1, "raw: auxdata");
	CHECK(crt_sockopt_int(raw, SOL_PACKET, PACKET_ORIGDEV) == 1, "raw: origdev");
	CHECK(crt_sockopt_int(raw, SOL_PACKET, PACKET_LOSS) == 1, "raw: loss");
	CHECK(crt_sockopt_int(raw, SOL_PACKET, PACKET_TIMESTAMP) == SOF_TIMESTAMPING_RAW_HARDWARE, "raw: timestamp %d",
	      crt_sockopt_int(raw, SOL_PACKET, PACKET_TIMESTAMP));
	CHECK(crt_sockopt_int(raw, SOL_PACKET, PACKET_VNET_HDR) == 0, "raw: vnet_hdr set");
	CHECK(crt_sockopt_int(vnet, SOL_PACKET, PACKET_VNET_HDR) == 1, "vnet: vnet_hdr not set");
	CHECK(crt_sockopt_int(dg, SOL_PACKET, PACKET_FANOUT) == fanout_was && fanout_was != 0, "dgram: fanout %#x, was %#x",
	      crt_sockopt_int(dg, SOL_PACKET, PACKET_FANOUT), fanout_was);
	CHECK(crt_sockopt_int(dg, SOL_SOCKET, SO_RCVBUF) == rcvbuf_was, "dgram: SO_RCVBUF %d, was %d", crt_sockopt_int(dg, SOL_SOCKET, SO_RCVBUF),
	      rcvbuf_was);
	struct diag d;
	CHECK(!diag_of(raw, &d), "raw: not in packet_diag");
	CHECK(d.info.pdi_copy_thresh == 128, "raw: copy_thresh %u", d.info.pdi_copy_thresh);
	CHECK(d.n_mc == 2 && d.allmulti == 1 && d.mcast == 1, "raw: memberships %d (allmulti %d, multicast %d)", d.n_mc,
	      d.allmulti, d.mcast);
	CHECK(!diag_of(dg, &d) && d.n_mc == 0 && d.info.pdi_copy_thresh == 0, "dgram: memberships %d, copy_thresh %u",
	      d.n_mc, d.info.pdi_copy_thresh);

	/* A frame to ethertype 0x88b5 through the raw socket. */
	char tag[32];
	snprintf(tag, sizeof(tag), "criugo-packet-%d", (int)getpid());
	unsigned char frame[ETH_HLEN + sizeof(tag)] = {0};
	frame[12] = ETH_TEST >> 8;
	frame[13] = ETH_TEST & 0xff;
	memcpy(frame + ETH_HLEN, tag, strlen(tag));
	struct sockaddr_ll to = {.sll_family = AF_PACKET, .sll_ifindex = lo, .sll_halen = 6};
	CHECK(sendto(raw, frame, ETH_HLEN + strlen(tag), 0, (struct sockaddr *)&to, sizeof(to)) == (ssize_t)(ETH_HLEN + strlen(tag)),
	      "raw: send: %s", strerror(errno));
	CHECK(got(dg, tag, 0), "dgram: frame not received");
	CHECK(got(raw, tag, ETH_HLEN), "raw: frame not received");
	CHECK(got(spkt, tag, ETH_HLEN), "SOCK_PACKET: frame not received");
	return crt_finish();
}
