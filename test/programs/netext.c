/* netext: a tree in an external network namespace, one someone else made
 * and holds (as Podman's netavark makes a container's and runc is given
 * it by path). run-cr.sh makes it (ip netns add), starts the program in
 * it (nsenter --net) and names it in NETEXT_NS; the dump records it as
 * external (--external net[INODE]:crtest-netext) and the restore is given
 * it back (--inherit-fd fd[9]:crtest-netext, --join-ns net:PATH).
 *
 * Setup: the network namespace's inode, which must be NETEXT_NS's when it
 * is set; lo brought up; a TCP listener on 127.0.0.1 (ephemeral port), an
 * established connection through it with 3000 bytes waiting each way, and
 * a UDP socket bound to 127.0.0.1 (ephemeral port).
 *
 * After SIGTERM: the program is in the same namespace (same inode, and
 * NETEXT_NS's), and so are its sockets (SIOCGSKNS); lo is still up; the
 * queued data in order both ways, then new data; the UDP socket on its
 * port takes a datagram (queued datagrams are not kept, as in CRIU); the
 * listener accepts a new connection on its port. A restore into a new
 * namespace shows as another inode (and as a connection that cannot be
 * made: its lo would be down); a dump's network lock left on shows as
 * the new connection failing. Dumping the connection needs
 * --tcp-established. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crtest.h"

#define QUEUED 3000

static ino_t ns_ino(const char *path)
{
	struct stat st;

	if (stat(path, &st) < 0)
		return 0;
	return st.st_ino;
}

static ino_t sock_ns_ino(int fd)
{
	struct stat st;
	int ns = ioctl(fd, SIOCGSKNS);

	if (ns < 0)
		return 0;
	if (fstat(ns, &st) < 0)
		st.st_ino = 0;
	close(ns);
	return st.st_ino;
}

/* lo_flags returns lo's interface flags, -1 on failure. */
static int lo_flags(int sk)
{
	struct ifreq ifr;

	memset(&ifr, 0, sizeof(ifr));
	strcpy(ifr.ifr_name, "lo");
	if (ioctl(sk, SIOCGIFFLAGS, &ifr) < 0)
		return -1;
	return ifr.ifr_flags;
}

static int send_all(int fd, int seed, int n)
{
	return crt_send_pat(fd, seed, n) ? 0 : -1;
}

/* recv_pat reads n bytes within 2 s and says whether they are seed's. */
static int recv_pat(int fd, int seed, int n, const char *what)
{
	unsigned char b[QUEUED];
	int got = 0;

	while (got < n) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		if (poll(&p, 1, 2000) <= 0) {
			CHECK(0, "%s: %d of %d bytes", what, got, n);
			return -1;
		}
		ssize_t r = recv(fd, b + got, n - got, 0);
		if (r <= 0) {
			CHECK(0, "%s: recv: %s after %d bytes", what, r ? strerror(errno) : "end of file", got);
			return -1;
		}
		got += r;
	}
	long bad = crt_diff_pat(b, seed, 0, n);
	if (bad >= 0) {
		CHECK(0, "%s: byte %ld is %#x, want %#x", what, bad, b[bad], crt_pat(seed, bad));
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t alen = sizeof(a);
	const char *want = getenv("NETEXT_NS");
	int lst, cli, srv, u, flags;
	ino_t ino;

	crt_init(argc, argv);
	ino = ns_ino("/proc/self/ns/net");
	if (!ino)
		crt_setup_fail("stat /proc/self/ns/net: %s", strerror(errno));
	if (want && ns_ino(want) != ino)
		crt_setup_fail("not started in %s (net:[%lu], that is [%lu])", want, (unsigned long)ino, (unsigned long)ns_ino(want));

	u = socket(AF_INET, SOCK_DGRAM, 0);
	if (u < 0)
		crt_setup_fail("socket: %s", strerror(errno));
	flags = lo_flags(u);
	if (flags < 0)
		crt_setup_fail("SIOCGIFFLAGS lo: %s", strerror(errno));
	if (!(flags & IFF_UP)) {
		struct ifreq ifr;
		memset(&ifr, 0, sizeof(ifr));
		strcpy(ifr.ifr_name, "lo");
		ifr.ifr_flags = flags | IFF_UP;
		if (ioctl(u, SIOCSIFFLAGS, &ifr) < 0)
			crt_setup_fail("bring lo up: %s", strerror(errno));
	}
	if (bind(u, (struct sockaddr *)&a, sizeof(a)) < 0)
		crt_setup_fail("bind udp: %s", strerror(errno));
	struct sockaddr_in ua;
	socklen_t ualen = sizeof(ua);
	getsockname(u, (struct sockaddr *)&ua, &ualen);

	lst = socket(AF_INET, SOCK_STREAM, 0);
	if (lst < 0 || bind(lst, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(lst, 4) < 0)
		crt_setup_fail("listener: %s", strerror(errno));
	getsockname(lst, (struct sockaddr *)&a, &alen);
	cli = socket(AF_INET, SOCK_STREAM, 0);
	if (cli < 0 || connect(cli, (struct sockaddr *)&a, sizeof(a)) < 0)
		crt_setup_fail("connect: %s", strerror(errno));
	srv = accept(lst, NULL, NULL);
	if (srv < 0)
		crt_setup_fail("accept: %s", strerror(errno));
	if (send_all(cli, 1, QUEUED) < 0 || send_all(srv, 2, QUEUED) < 0)
		crt_setup_fail("send: %s", strerror(errno));
	/* Let it all arrive, so nothing is in flight. */
	crt_sleep_ms(100);

	crt_ready();
	crt_wait();

	ino_t now = ns_ino("/proc/self/ns/net");
	CHECK(now == ino, "network namespace net:[%lu], dumped in net:[%lu]", (unsigned long)now, (unsigned long)ino);
	if (want)
		CHECK(now == ns_ino(want), "network namespace net:[%lu], not %s's [%lu]", (unsigned long)now, want, (unsigned long)ns_ino(want));
	CHECK(sock_ns_ino(lst) == ino, "listener in net:[%lu], want [%lu]", (unsigned long)sock_ns_ino(lst), (unsigned long)ino);
	CHECK(sock_ns_ino(srv) == ino, "connection in net:[%lu], want [%lu]", (unsigned long)sock_ns_ino(srv), (unsigned long)ino);
	flags = lo_flags(u);
	CHECK(flags >= 0 && (flags & IFF_UP), "lo is not up (flags %#x)", flags);

	recv_pat(srv, 1, QUEUED, "queued client to server");
	recv_pat(cli, 2, QUEUED, "queued server to client");
	CHECK(send_all(cli, 3, 1000) == 0, "send after restore: %s", strerror(errno));
	recv_pat(srv, 3, 1000, "new client to server");
	CHECK(send_all(srv, 4, 1000) == 0, "send after restore: %s", strerror(errno));
	recv_pat(cli, 4, 1000, "new server to client");

	struct sockaddr_in ub;
	socklen_t ublen = sizeof(ub);
	CHECK(getsockname(u, (struct sockaddr *)&ub, &ublen) == 0 && ub.sin_port == ua.sin_port,
	      "UDP port %d, want %d", ntohs(ub.sin_port), ntohs(ua.sin_port));
	int us = socket(AF_INET, SOCK_DGRAM, 0);
	CHECK(us >= 0 && sendto(us, "netext", 6, 0, (struct sockaddr *)&ua, sizeof(ua)) == 6, "send datagram: %s", strerror(errno));
	struct pollfd up = {.fd = u, .events = POLLIN};
	char d[16];
	ssize_t n = poll(&up, 1, 2000) == 1 ? recv(u, d, sizeof(d), MSG_DONTWAIT) : -1;
	CHECK(n == 6 && memcmp(d, "netext", 6) == 0, "datagram: %zd bytes", n);

	struct sockaddr_in b;
	socklen_t blen = sizeof(b);
	CHECK(getsockname(lst, (struct sockaddr *)&b, &blen) == 0 && b.sin_port == a.sin_port,
	      "listener port %d, want %d", ntohs(b.sin_port), ntohs(a.sin_port));
	int c2 = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	int r = connect(c2, (struct sockaddr *)&a, sizeof(a));
	CHECK(r == 0 || errno == EINPROGRESS, "new connection: %s", strerror(errno));
	struct pollfd p = {.fd = lst, .events = POLLIN};
	if (poll(&p, 1, 2000) == 1) {
		int s2 = accept(lst, NULL, NULL);
		CHECK(s2 >= 0, "accept new connection: %s", strerror(errno));
	} else {
		CHECK(0, "the listener takes no new connection (locked network?)");
	}
	return crt_finish();
}
