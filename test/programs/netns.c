/* netns: a network namespace of its own (unshare(CLONE_NEWNET) before the
 * pidfile) with lo up, a veth pair whose inner end ceth0 (10.77.0.1/24,
 * arp_ignore 2) is here and whose outer end (10.77.0.2/24, named crvPID
 * after the program's pid and written to the file veth, so that two
 * instances never take each other's) is in a
 * second namespace, held by a peer process that is no part of the tree
 * (forked twice, so init adopts it); a route 10.78.0.0/24 via 10.77.0.2,
 * an nft table inet crtest with a rule, and an established TCP connection
 * across the pair on which both sides stream a counter (the little-endian
 * u32 of offset/4, so a lost or doubled byte shows) all along, through the
 * dump and the restore.
 *
 * When the tree's namespace goes (the dump killed it), the peer waits for
 * the outer end to come back in its starting namespace (criu-restore
 * makes it there: --external veth[ceth0]:crvPID), moves it into its own
 * namespace and sets its address up again, as a container runtime would.
 *
 * After SIGTERM: the stream still flows (64 KiB more arrive), the
 * address, route, rule, sysctl and link state are there; then the
 * program ends its stream and the peer, having checked every byte it got,
 * writes its verdict to peer.result and closes; the program checks every
 * byte it got up to the end. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "crtest.h"

#define PORT 7777
#define CHUNK 4096

/* outer names the veth's outer end: crvPID (at most 15 bytes). */
static char outer[16];

/* A counter stream: byte at offset o is byte o%4 of the u32 o/4. */
struct stream {
	uint64_t off;
};

static uint8_t stream_byte(uint64_t o)
{
	uint32_t v = (uint32_t)(o / 4);
	return (uint8_t)(v >> (8 * (o % 4)));
}

static void stream_fill(struct stream *s, uint8_t *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		b[i] = stream_byte(s->off + i);
}

/* Checks n bytes at the stream's offset; returns -1 at the first wrong one. */
static long stream_check(struct stream *s, const uint8_t *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (b[i] != stream_byte(s->off + i))
			return (long)i;
	s->off += n;
	return -2;
}

static int run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int run(const char *fmt, ...)
{
	char cmd[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	int st = system(cmd);
	return st == 0 ? 0 : -1;
}

/* output returns the first 4 KiB a command prints. */
static char *output(const char *cmd)
{
	static char buf[4096];
	FILE *f = popen(cmd, "r");
	size_t n = 0;
	buf[0] = 0;
	if (!f)
		return buf;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = 0;
	pclose(f);
	return buf;
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void xwrite(int fd, const void *b, size_t n)
{
	if (write(fd, b, n) != (ssize_t)n)
		_exit(1);
}

static void xread(int fd, void *b, size_t n)
{
	if (read(fd, b, n) != (ssize_t)n)
		_exit(1);
}

/* peer_result writes the peer's verdict for the program. */
static void peer_result(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void peer_result(const char *fmt, ...)
{
	char tmp[4096], msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(tmp, sizeof(tmp), "%s.tmp", crt_path("peer.result"));
	FILE *f = fopen(tmp, "w");
	if (!f)
		return;
	fprintf(f, "%s\n", msg);
	fclose(f);
	rename(tmp, crt_path("peer.result"));
}

/* bring_back moves the outer end, made again by a restore in the
 * starting namespace, into the peer's, and sets it up. */
static int bring_back(int hostns, int myns)
{
	if (setns(hostns, CLONE_NEWNET) < 0)
		return -1;
	int found = if_nametoindex(outer) != 0;
	int ok = !found || run("ip link set dev %s netns /proc/self/fd/%d", outer, myns) == 0;
	if (setns(myns, CLONE_NEWNET) < 0)
		return -1;
	if (!found || !ok)
		return 0;
	run("ip addr add 10.77.0.2/24 dev %s && ip link set %s up", outer, outer);
	return 1;
}

/* peer: the far end of the connection, in a namespace of its own. */
static void peer(int hostns, int to_prog, int from_prog)
{
	uint8_t buf[CHUNK];
	struct stream rx = { 0 }, tx = { 0 };
	double start = now(), last_tx = 0;
	alarm(610); /* never outlive a forgotten test */
	if (unshare(CLONE_NEWNET) < 0)
		_exit(1);
	int myns = open("/proc/self/ns/net", O_RDONLY); /* not O_CLOEXEC: ip opens it */
	pid_t me = getpid();
	xwrite(to_prog, &me, sizeof(me));
	char c;
	xread(from_prog, &c, 1); /* the outer end is here */
	if (run("ip link set lo up && ip addr add 10.77.0.2/24 dev %s && ip link set %s up", outer, outer) < 0)
		_exit(1);
	int l = socket(AF_INET, SOCK_STREAM, 0);
	int one = 1;
	setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(PORT) };
	inet_pton(AF_INET, "10.77.0.2", &a.sin_addr);
	if (bind(l, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(l, 1) < 0)
		_exit(1);
	xwrite(to_prog, "l", 1);
	int s = accept(l, NULL, NULL);
	close(l);
	if (s < 0)
		_exit(1);
	fcntl(s, F_SETFL, O_NONBLOCK);
	int wr_open = 1;
	for (;;) {
		if (now() - start > 600) {
			peer_result("FAIL: peer gave up after 600 s");
			_exit(1);
		}
		if (if_nametoindex(outer) == 0)
			bring_back(hostns, myns);
		struct pollfd p = { .fd = s, .events = POLLIN };
		poll(&p, 1, 20);
		ssize_t n = read(s, buf, sizeof(buf));
		if (n == 0) {
			/* The program ended its stream: all it sent came. */
			peer_result("OK %llu", (unsigned long long)rx.off);
			close(s);
			_exit(0);
		}
		if (n > 0) {
			long bad = stream_check(&rx, buf, n);
			if (bad >= 0) {
				peer_result("FAIL: peer: byte %llu of the stream is %u, want %u", (unsigned long long)(rx.off + bad), buf[bad], stream_byte(rx.off + bad));
				_exit(1);
			}
		} else if (errno != EAGAIN && errno != EINTR) {
			peer_result("FAIL: peer: read after %llu bytes: %s", (unsigned long long)rx.off, strerror(errno));
			_exit(1);
		}
		if (wr_open && now() - last_tx > 0.02) {
			last_tx = now();
			stream_fill(&tx, buf, CHUNK);
			n = send(s, buf, CHUNK, MSG_DONTWAIT | MSG_NOSIGNAL);
			if (n > 0)
				tx.off += n;
			else if (n < 0 && errno != EAGAIN) {
				peer_result("FAIL: peer: send after %llu bytes: %s", (unsigned long long)tx.off, strerror(errno));
				_exit(1);
			}
		}
	}
}

static int sock = -1;
static struct stream rx, tx;
static double last_tx;

/* pump reads and checks what came and sends a chunk now and then;
 * returns -1 (and records a failure) on a broken stream, 1 at EOF. */
static int pump(int sending)
{
	uint8_t buf[CHUNK];
	struct pollfd p = { .fd = sock, .events = POLLIN };
	poll(&p, 1, 20);
	for (;;) {
		ssize_t n = read(sock, buf, sizeof(buf));
		if (n == 0)
			return 1;
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				break;
			CHECK(0, "read after %llu bytes: %s", (unsigned long long)rx.off, strerror(errno));
			return -1;
		}
		long bad = stream_check(&rx, buf, n);
		if (bad >= 0) {
			CHECK(0, "byte %llu of the peer's stream is %u, want %u", (unsigned long long)(rx.off + bad), buf[bad], stream_byte(rx.off + bad));
			return -1;
		}
	}
	if (sending && now() - last_tx > 0.02) {
		last_tx = now();
		stream_fill(&tx, buf, CHUNK);
		ssize_t n = send(sock, buf, CHUNK, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n > 0)
			tx.off += n;
		else if (n < 0 && errno != EAGAIN) {
			CHECK(0, "send after %llu bytes: %s", (unsigned long long)tx.off, strerror(errno));
			return -1;
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	crt_init(argc, argv);
	snprintf(outer, sizeof(outer), "crv%d", (int)getpid());
	FILE *vf = fopen(crt_path("veth"), "w");
	if (!vf || fprintf(vf, "%s\n", outer) < 0 || fclose(vf) != 0)
		crt_setup_fail("write veth: %s", strerror(errno));
	int to_prog[2], from_prog[2];
	int hostns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (hostns < 0 || pipe2(to_prog, O_CLOEXEC) < 0 || pipe2(from_prog, O_CLOEXEC) < 0)
		crt_setup_fail("pipe: %s", strerror(errno));
	unlink(crt_path("peer.result"));
	pid_t c = fork();
	if (c == 0) {
		if (fork() == 0) {
			setsid();
			close(to_prog[0]);
			close(from_prog[1]);
			int fd = open("/dev/null", O_RDWR);
			dup2(fd, 0);
			dup2(fd, 1); /* the program's log is its own: a restore checks its size */
			dup2(fd, 2);
			peer(hostns, to_prog[1], from_prog[0]);
		}
		_exit(0);
	}
	waitpid(c, NULL, 0);
	close(to_prog[1]);
	close(from_prog[0]);
	pid_t ppid;
	if (read(to_prog[0], &ppid, sizeof(ppid)) != sizeof(ppid))
		crt_setup_fail("peer did not start");
	close(hostns);
	if (unshare(CLONE_NEWNET) < 0)
		crt_setup_fail("unshare(CLONE_NEWNET): %s", strerror(errno));
	if (run("ip link set lo up") || run("ip link add ceth0 type veth peer name %s netns %d", outer, ppid) ||
	    run("ip addr add 10.77.0.1/24 dev ceth0 && ip link set ceth0 up") ||
	    run("ip route add 10.78.0.0/24 via 10.77.0.2 dev ceth0") ||
	    run("echo 2 > /proc/sys/net/ipv4/conf/ceth0/arp_ignore") ||
	    run("nft add table inet crtest && nft add chain inet crtest out '{ type filter hook output priority 0; }' && "
		"nft add rule inet crtest out tcp dport 9 counter drop"))
		crt_setup_fail("set up the namespace (needs ip and nft)");
	xwrite(from_prog[1], "c", 1);
	char l;
	if (read(to_prog[0], &l, 1) != 1)
		crt_setup_fail("peer did not listen");
	close(to_prog[0]);
	close(from_prog[1]);
	sock = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(PORT) };
	inet_pton(AF_INET, "10.77.0.2", &a.sin_addr);
	if (connect(sock, (struct sockaddr *)&a, sizeof(a)) < 0)
		crt_setup_fail("connect to the peer: %s", strerror(errno));
	fcntl(sock, F_SETFL, O_NONBLOCK);
	/* Some of the stream before the dump. */
	while (rx.off < 64 * 1024)
		if (pump(1) != 0)
			crt_setup_fail("stream broke before the dump");
	crt_ready();
	while (!crt_term)
		if (pump(1) != 0)
			break;
	if (crt_term) {
		uint64_t at = rx.off;
		double t0 = now();
		int r = 0;
		while (r == 0 && rx.off < at + 64 * 1024 && now() - t0 < 15)
			r = pump(1);
		CHECK(rx.off >= at + 64 * 1024, "the peer's stream stopped at %llu bytes (%llu after SIGTERM)", (unsigned long long)rx.off, (unsigned long long)(rx.off - at));
		char *o = output("ip -o -4 addr show dev ceth0");
		CHECK(strstr(o, "10.77.0.1/24"), "address of ceth0: %s", o);
		o = output("ip -o -d link show dev ceth0");
		CHECK(strstr(o, "veth") && strstr(o, ",UP") && strstr(o, "LOWER_UP"), "ceth0 is no veth that is up with a carrier: %s", o);
		o = output("ip link show dev lo");
		CHECK(strstr(o, ",UP"), "lo is down: %s", o);
		o = output("ip route show 10.78.0.0/24");
		CHECK(strstr(o, "via 10.77.0.2 dev ceth0"), "route to 10.78.0.0/24: %s", o);
		o = output("cat /proc/sys/net/ipv4/conf/ceth0/arp_ignore");
		CHECK(atoi(o) == 2, "ceth0's arp_ignore is %s", o);
		o = output("nft list chain inet crtest out 2>&1");
		CHECK(strstr(o, "tcp dport 9 counter"), "nft rule: %s", o);
		o = output("nft list tables 2>&1");
		CHECK(!strstr(o, "CRIU"), "the network lock is still on: %s", o);
		/* End the stream; read the peer's to its end. */
		shutdown(sock, SHUT_WR);
		t0 = now();
		while (r == 0 && now() - t0 < 15)
			r = pump(0);
		CHECK(r == 1, "no end of the peer's stream (%llu bytes)", (unsigned long long)rx.off);
		char res[512] = "";
		FILE *f = NULL;
		for (int i = 0; i < 100 && !(f = fopen(crt_path("peer.result"), "r")); i++)
			crt_sleep_ms(50);
		if (f) {
			if (!fgets(res, sizeof(res), f))
				res[0] = 0;
			fclose(f);
		}
		res[strcspn(res, "\n")] = 0;
		char want[64];
		snprintf(want, sizeof(want), "OK %llu", (unsigned long long)tx.off);
		CHECK(!strcmp(res, want), "peer says \"%s\", want \"%s\" (all the program sent)", res, want);
	}
	close(sock);
	return crt_finish();
}
