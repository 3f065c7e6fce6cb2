/* tcpbig: send queues of several MiB.
 *   c/a: a loopback TCP connection; c has an 8 MiB send buffer, a a
 *        4 MiB receive buffer, and c writes without blocking until the
 *        kernel takes no more (nobody reads): megabytes sit in a's
 *        receive queue and in c's send queue, part of it never sent;
 *   u:   a unix stream socketpair, u[0] with an 8 MiB send buffer, filled
 *        the same way; and up to 1 MiB the other way on both.
 * Checks: every byte in order (a position-dependent pattern), as many as
 * were written, on both connections, then that new data goes through. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "crtest.h"

#define CHUNK 65536

static unsigned char pat(int seed, long i)
{
	return (unsigned char)((i * 31 + (i >> 13) + seed) & 0xff);
}

/* fill writes the pattern without blocking until the kernel takes no
 * more, or max bytes; returns how many went. */
static long fill(int fd, int seed, long max)
{
	unsigned char buf[CHUNK];
	long sent = 0;
	int idle = 0;

	while (sent < max && idle < 20) {
		long n = max - sent < CHUNK ? max - sent : CHUNK;
		for (long i = 0; i < n; i++)
			buf[i] = pat(seed, sent + i);
		ssize_t k = send(fd, buf, n, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (k > 0) {
			sent += k;
			idle = 0;
		} else if (k < 0 && errno == EAGAIN) {
			/* loopback moves data on in softirq: let it settle. */
			crt_sleep_ms(10);
			idle++;
		} else {
			crt_setup_fail("send: %s", strerror(errno));
		}
	}
	return sent;
}

/* drain reads want bytes (waiting up to 10 s for each part) and says
 * whether they are the pattern and nothing more comes at once. */
static int drain(int fd, int seed, long want, const char *what)
{
	unsigned char buf[CHUNK];
	long got = 0;

	while (got < want) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		if (poll(&p, 1, 10000) != 1) {
			CHECK(0, "%s: %ld of %ld bytes, then nothing", what, got, want);
			return 0;
		}
		long n = want - got < CHUNK ? want - got : CHUNK;
		ssize_t k = recv(fd, buf, n, MSG_DONTWAIT);
		if (k <= 0) {
			CHECK(0, "%s: %ld of %ld bytes, then %zd (%s)", what, got, want, k, strerror(errno));
			return 0;
		}
		for (long i = 0; i < k; i++)
			if (buf[i] != pat(seed, got + i)) {
				CHECK(0, "%s: byte %ld differs", what, got + i);
				return 0;
			}
		got += k;
	}
	char c;
	errno = 0;
	CHECK(recv(fd, &c, 1, MSG_DONTWAIT) < 0 && errno == EAGAIN, "%s: more than %ld bytes", what, want);
	return 1;
}

static void setbuf_(int fd, int opt, int v)
{
	if (setsockopt(fd, SOL_SOCKET, opt, &v, sizeof(v)))
		crt_setup_fail("setsockopt: %s", strerror(errno));
}

int main(int argc, char **argv)
{
	crt_init(argc, argv);
	signal(SIGPIPE, SIG_IGN);
	int lst = socket(AF_INET, SOCK_STREAM, 0), c = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in la = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t ll = sizeof(la);
	if (lst < 0 || c < 0 || bind(lst, (struct sockaddr *)&la, sizeof(la)) || listen(lst, 1) ||
	    getsockname(lst, (struct sockaddr *)&la, &ll))
		crt_setup_fail("listen: %s", strerror(errno));
	setbuf_(c, SO_SNDBUF, 8 << 20);
	setbuf_(lst, SO_RCVBUF, 4 << 20);
	if (connect(c, (struct sockaddr *)&la, sizeof(la)))
		crt_setup_fail("connect: %s", strerror(errno));
	int a = accept(lst, NULL, NULL);
	if (a < 0)
		crt_setup_fail("accept: %s", strerror(errno));
	close(lst);
	long tcp_sent = fill(c, 1, 64L << 20);
	long tcp_back = fill(a, 2, 1 << 20);

	int u[2];
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, u))
		crt_setup_fail("socketpair: %s", strerror(errno));
	setbuf_(u[0], SO_SNDBUF, 8 << 20);
	long unix_sent = fill(u[0], 3, 64L << 20);
	long unix_back = fill(u[1], 4, 1 << 20);
	if (tcp_sent < (3L << 20) || unix_sent < (3L << 20))
		crt_setup_fail("only %ld (TCP) and %ld (unix) bytes queued", tcp_sent, unix_sent);
	/* Nothing may still move over loopback when the dump comes: it
	 * would be acked while the dump reads (there is no network lock). */
	long last = -1;
	for (int stable = 0, i = 0; stable < 10 && i < 500; i++) {
		int q[4] = {0, 0, 0, 0};
		ioctl(c, SIOCOUTQ, &q[0]);
		ioctl(a, SIOCINQ, &q[1]);
		ioctl(a, SIOCOUTQ, &q[2]);
		ioctl(c, SIOCINQ, &q[3]);
		long now = ((long)q[0] << 32) ^ ((long)q[1] << 16) ^ ((long)q[2] << 8) ^ q[3];
		stable = now == last ? stable + 1 : 0;
		last = now;
		crt_sleep_ms(50);
	}
	fprintf(stderr, "queued: TCP %ld + %ld, unix %ld + %ld bytes\n", tcp_sent, tcp_back, unix_sent, unix_back);
	crt_ready();
	crt_wait();

	drain(a, 1, tcp_sent, "TCP c -> a");
	drain(c, 2, tcp_back, "TCP a -> c");
	drain(u[1], 3, unix_sent, "unix u[0] -> u[1]");
	drain(u[0], 4, unix_back, "unix u[1] -> u[0]");
	CHECK(write(c, "more", 4) == 4, "write after the queues: %s", strerror(errno));
	char buf[4];
	struct pollfd p = {.fd = a, .events = POLLIN};
	CHECK(poll(&p, 1, 5000) == 1 && recv(a, buf, 4, MSG_DONTWAIT) == 4 && !memcmp(buf, "more", 4),
	      "new TCP data does not arrive");
	return crt_finish();
}
