/* tcpext: an established TCP connection to a peer outside the tree in the
 * same (the host's) network namespace, the tree having none of its own:
 * the peer, forked twice (init adopts it) and in a session of its own,
 * listens on a loopback address of the program's own (127.N.X.Y, from the
 * program's pid, so that two tests never share it; written to the file
 * addr) and both sides stream a counter (the little-endian u32 of
 * offset/4, so a lost or doubled byte shows) all along, through the dump
 * and the restore. Only the network lock of the connection (CRIU's
 * per-connection iptables rules or nftables set, --tcp-established) keeps
 * the host from answering the peer with a reset once the dump has killed
 * the tree, and the kernel from acking data the image misses while the
 * tree is frozen.
 *
 * After SIGTERM: the stream still flows (64 KiB more arrive), no iptables
 * rule and no nftables element names the address (the lock is off); then
 * the program ends its stream and the peer, having checked every byte it
 * got and seen no reset, writes its verdict to peer.result and closes; the
 * program checks every byte it got up to the end. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
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

#define PORT 7778
#define CHUNK 4096

/* addr is the loopback address of this program's test. */
static char addr[INET_ADDRSTRLEN];

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

/* names says whether text names addr (followed by no digit). */
static int names(const char *text)
{
	size_t n = strlen(addr);
	for (const char *p = text; (p = strstr(p, addr)); p += n)
		if (p[n] < '0' || p[n] > '9')
			return 1;
	return 0;
}

/* peer: the far end of the connection, outside the tree. */
static void peer(int to_prog)
{
	uint8_t buf[CHUNK];
	struct stream rx = { 0 }, tx = { 0 };
	double start = now(), last_tx = 0;
	alarm(610); /* never outlive a forgotten test */
	int l = socket(AF_INET, SOCK_STREAM, 0);
	int one = 1;
	setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(PORT) };
	inet_pton(AF_INET, addr, &a.sin_addr);
	if (bind(l, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(l, 1) < 0)
		_exit(1);
	xwrite(to_prog, "l", 1);
	int s = accept(l, NULL, NULL);
	close(l);
	if (s < 0)
		_exit(1);
	fcntl(s, F_SETFL, O_NONBLOCK);
	for (;;) {
		if (now() - start > 600) {
			peer_result("FAIL: peer gave up after 600 s");
			_exit(1);
		}
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
			/* ECONNRESET: the host answered for the dead tree. */
			peer_result("FAIL: peer: read after %llu bytes: %s", (unsigned long long)rx.off, strerror(errno));
			_exit(1);
		}
		if (now() - last_tx > 0.02) {
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
	unsigned p = (unsigned)getpid();
	snprintf(addr, sizeof(addr), "127.%u.%u.%u", 77 + (p / 64000) % 64, (p / 250) % 256, p % 250 + 2);
	FILE *af = fopen(crt_path("addr"), "w");
	if (!af || fprintf(af, "%s\n", addr) < 0 || fclose(af) != 0)
		crt_setup_fail("write addr: %s", strerror(errno));
	int to_prog[2];
	if (pipe2(to_prog, O_CLOEXEC) < 0)
		crt_setup_fail("pipe: %s", strerror(errno));
	unlink(crt_path("peer.result"));
	pid_t c = fork();
	if (c == 0) {
		if (fork() == 0) {
			setsid();
			close(to_prog[0]);
			int fd = open("/dev/null", O_RDWR);
			dup2(fd, 0);
			dup2(fd, 1); /* the program's log is its own: a restore checks its size */
			dup2(fd, 2);
			peer(to_prog[1]);
		}
		_exit(0);
	}
	waitpid(c, NULL, 0);
	close(to_prog[1]);
	char l;
	if (read(to_prog[0], &l, 1) != 1)
		crt_setup_fail("peer did not listen");
	close(to_prog[0]);
	sock = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = { .sin_family = AF_INET };
	inet_pton(AF_INET, addr, &a.sin_addr);
	if (bind(sock, (struct sockaddr *)&a, sizeof(a)) < 0)
		crt_setup_fail("bind to %s: %s", addr, strerror(errno));
	a.sin_port = htons(PORT);
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
		char *o = output("iptables -w -S 2>&1");
		CHECK(!names(o), "an iptables rule names %s (the lock is still on): %s", addr, o);
		o = output("nft list ruleset 2>&1");
		CHECK(!names(o), "an nftables rule or element names %s (the lock is still on): %s", addr, o);
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
