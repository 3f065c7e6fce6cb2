/* tcpfin: TCP connections in every state a connection passes while it
 * closes, dumped with --tcp-established (as CRIU's zdtm socket-tcp-fin-wait1,
 * -fin-wait2, -close-wait, -last-ack, -closing and -closed). Each
 * connection has two ends, a and b:
 *   fw2:     b wrote 100 bytes (unread), a wrote 200 and shut down:
 *            a in FIN_WAIT2, b in CLOSE_WAIT with 200 bytes and the FIN;
 *   fw1:     b wrote 10 bytes, a filled its send queue (b reads nothing)
 *            and shut down: a in FIN_WAIT1, its FIN behind data never
 *            sent, b established;
 *   lastack: b wrote 30 bytes and shut down, a filled its send queue and
 *            shut down: a in LAST_ACK, b in FIN_WAIT2;
 *   closing: b wrote 40 bytes, a filled its send queue and shut down, b
 *            shut down: the FINs crossed, a in CLOSING, b in FIN_WAIT2;
 *   closed:  b wrote 60 bytes (unread), a shut down, then b: a went
 *            through TIME_WAIT, b through LAST_ACK, both in CLOSE with
 *            their files open.
 * Each kind once with both ends in the program (fw1 and closed also over
 * IPv6), and once with one end in a peer process outside the dumped
 * tree (forked from a child that exits, in a session of its own, driven
 * through an established control connection): fw2 from either end, the
 * others with the program holding a (and closed with it holding b too),
 * so the program holds each state with its peer outside, as zdtm's
 * tests do. Every pair goes through its setup before the pidfile, and
 * the program waits until each end is in its state and nothing moves.
 *
 * Checks (for the peer's ends through the control connection): each
 * end's state; unread data in order and as long as written; end of file
 * where the peer's FIN came; EPIPE on writing after a shutdown; then the
 * connection going on to its end: the rest of the data read with end of
 * file, data written the other way, the states the closes lead to
 * (FIN_WAIT2, then CLOSE); for closed ends peer name, name and no error.
 * With TCPFIN_NO_INTREE=1 the pairs with both ends in the program are
 * left out, with TCPFIN_NO_EXT=1 the peer process and its pairs, with
 * TCPFIN_NO_CLOSED=1 the closed ones. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "crtest.h"

#define CHUNK 65536

enum kind { K_FW2, K_FW1, K_LASTACK, K_CLOSING, K_CLOSED };

static const char *kind_name[] = { "fw2", "fw1", "lastack", "closing", "closed" };

/* An end of a connection: held by the program (fd) or by the peer
 * process (remote, its index there). */
struct end {
	int fd;
	int remote;
	int idx;
	int reuse; /* SO_REUSEADDR (accepted ends have the listener's) */
	struct sockaddr_storage name, peer;
};

struct pair {
	enum kind kind;
	int v6;
	int remote; /* 0: both ends here; 'a' or 'b': that end in the peer */
	struct end a, b;
	long n; /* bytes a filled its send queue with */
	char label[32];
};

#define MAXPAIRS 16
static struct pair pairs[MAXPAIRS];
static int npairs;

static int ctl = -1; /* the control connection to the peer process */
static struct sockaddr_in l4;
static struct sockaddr_in6 l6;

/* The peer's commands and answers. */
enum op { OP_DIAL, OP_WRITE, OP_SHUT, OP_FILL, OP_STATE, OP_WAIT, OP_READEOF, OP_READNOW, OP_READN, OP_EPIPE, OP_EXIT };

struct cmd {
	int op, idx, v6, seed;
	long n;
};

struct rep {
	long ret, n;
	int eof, ok;
};

static unsigned char pat(int seed, long i)
{
	return (unsigned char)((i * 7 + (i >> 11) + seed * 13) & 0xff);
}

static int tcp_state(int fd)
{
	struct tcp_info ti;
	socklen_t l = sizeof(ti);

	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &l))
		return -1;
	return ti.tcpi_state;
}

static const char *state_name(int st)
{
	static const char *names[] = { "?", "ESTABLISHED", "SYN_SENT", "SYN_RECV", "FIN_WAIT1", "FIN_WAIT2",
				       "TIME_WAIT", "CLOSE", "CLOSE_WAIT", "LAST_ACK", "LISTEN", "CLOSING" };
	return st >= 0 && st <= 11 ? names[st] : "?";
}

static void msleep(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };
	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/* The operations, as either side runs them on an fd of its own. */

static int do_write(int fd, int seed, long n)
{
	unsigned char buf[CHUNK];

	for (long off = 0; off < n;) {
		long k = n - off < CHUNK ? n - off : CHUNK;
		for (long i = 0; i < k; i++)
			buf[i] = pat(seed, off + i);
		ssize_t w = send(fd, buf, k, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		off += w;
	}
	return 0;
}

/* do_fill writes the pattern without blocking until the kernel takes no
 * more: until a while passes with nothing taken. */
static long do_fill(int fd, int seed)
{
	unsigned char buf[CHUNK];
	long sent = 0;
	int idle = 0;

	while (idle < 20) {
		for (long i = 0; i < CHUNK; i++)
			buf[i] = pat(seed, sent + i);
		ssize_t k = send(fd, buf, CHUNK, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (k > 0) {
			sent += k;
			idle = 0;
		} else if (k < 0 && errno == EAGAIN) {
			msleep(10);
			idle++;
		} else {
			return -1;
		}
	}
	return sent;
}

/* do_wait waits up to 5 s for state want; returns the state it found. */
static int do_wait(int fd, int want)
{
	int st = -1;

	for (int i = 0; i < 500; i++) {
		st = tcp_state(fd);
		if (st == want)
			break;
		msleep(10);
	}
	return st;
}

/* do_read reads up to max bytes (all of them when max < 0): with eof
 * set, until end of file (blocking, 10 s at most); otherwise what the
 * socket holds now, or until max bytes came within 5 s. Tells how many
 * came, whether end of file did, and whether they follow the pattern. */
static void do_read(int fd, int seed, long max, int eof_wanted, struct rep *r)
{
	unsigned char buf[CHUNK];
	long got = 0;
	int ok = 1, eof = 0;
	struct timespec t0, t;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		long want = CHUNK;
		if (max >= 0 && max - got < want)
			want = max - got;
		if (max >= 0 && want == 0)
			break;
		int flags = eof_wanted ? 0 : MSG_DONTWAIT;
		ssize_t k = recv(fd, buf, want, flags);
		clock_gettime(CLOCK_MONOTONIC, &t);
		long ms = (t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000;
		if (k > 0) {
			for (ssize_t i = 0; i < k; i++)
				if (buf[i] != pat(seed, got + i))
					ok = 0;
			got += k;
			continue;
		}
		if (k == 0) {
			eof = 1;
			break;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN && !eof_wanted && max >= 0 && ms < 5000) {
			msleep(5);
			continue;
		}
		if (errno == EAGAIN && eof_wanted && ms < 10000)
			continue;
		break;
	}
	r->n = got;
	r->eof = eof;
	r->ok = ok;
}

static long do_epipe(int fd)
{
	if (send(fd, "x", 1, MSG_NOSIGNAL | MSG_DONTWAIT) >= 0)
		return 0;
	return errno;
}

static int dial(int v6)
{
	int fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM, 0);

	if (fd < 0)
		return -1;
	if (v6 ? connect(fd, (struct sockaddr *)&l6, sizeof(l6)) : connect(fd, (struct sockaddr *)&l4, sizeof(l4))) {
		close(fd);
		return -1;
	}
	return fd;
}

static void run(int fd, const struct cmd *c, struct rep *r)
{
	memset(r, 0, sizeof(*r));
	switch (c->op) {
	case OP_WRITE:
		r->ret = do_write(fd, c->seed, c->n);
		break;
	case OP_SHUT:
		r->ret = shutdown(fd, SHUT_WR);
		break;
	case OP_FILL: {
		int sz = 65536;
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
		r->ret = do_fill(fd, c->seed);
		break;
	}
	case OP_STATE:
		r->ret = tcp_state(fd);
		break;
	case OP_WAIT:
		r->ret = do_wait(fd, (int)c->n);
		break;
	case OP_READEOF:
		do_read(fd, c->seed, -1, 1, r);
		break;
	case OP_READNOW:
		do_read(fd, c->seed, -1, 0, r);
		break;
	case OP_READN:
		do_read(fd, c->seed, c->n, 0, r);
		break;
	case OP_EPIPE:
		r->ret = do_epipe(fd);
		break;
	}
}

/* The peer process: runs the commands that come over the control
 * connection on its ends, until OP_EXIT, the end of the control
 * connection, or 10 minutes. */
static void peer(void)
{
	int fds[MAXPAIRS];
	struct cmd c;
	struct rep r;

	alarm(600);
	for (;;) {
		ssize_t k = recv(ctl, &c, sizeof(c), MSG_WAITALL);
		if (k != sizeof(c) || c.op == OP_EXIT)
			_exit(0);
		memset(&r, 0, sizeof(r));
		if (c.op == OP_DIAL) {
			fds[c.idx] = dial(c.v6);
			r.ret = fds[c.idx] < 0 ? -1 : 0;
		} else {
			run(fds[c.idx], &c, &r);
		}
		if (send(ctl, &r, sizeof(r), MSG_NOSIGNAL) != sizeof(r))
			_exit(1);
	}
}

/* remote runs a command in the peer process. */
static struct rep remote(int op, int idx, int v6, int seed, long n)
{
	struct cmd c = { op, idx, v6, seed, n };
	struct rep r;

	memset(&r, 0, sizeof(r));
	r.ret = -1;
	if (send(ctl, &c, sizeof(c), MSG_NOSIGNAL) != sizeof(c) || recv(ctl, &r, sizeof(r), MSG_WAITALL) != sizeof(r)) {
		memset(&r, 0, sizeof(r));
		r.ret = -1000;
	}
	return r;
}

/* op runs an operation on an end, here or in the peer process. */
static struct rep op(struct end *e, int o, int seed, long n)
{
	struct cmd c = { o, e->idx, 0, seed, n };
	struct rep r;

	if (e->remote)
		return remote(o, e->idx, 0, seed, n);
	run(e->fd, &c, &r);
	return r;
}

static int e_state(struct end *e) { return (int)op(e, OP_STATE, 0, 0).ret; }
static int e_wait(struct end *e, int st) { return (int)op(e, OP_WAIT, 0, st).ret; }

static void setup_ok(struct pair *p, const char *what, long ret)
{
	if (ret < 0)
		crt_setup_fail("%s: %s: failed (%ld)", p->label, what, ret);
}

static void setup_state(struct pair *p, struct end *e, const char *which, int want)
{
	int st = e_wait(e, want);
	if (st != want)
		crt_setup_fail("%s: %s in state %s, want %s", p->label, which, state_name(st), state_name(want));
}

static void make_pair(struct pair *p, int lst4, int lst6)
{
	int lst = p->v6 ? lst6 : lst4;
	struct end *rem = p->remote == 'a' ? &p->a : p->remote == 'b' ? &p->b : NULL;
	struct end *loc = p->remote == 'a' ? &p->b : &p->a;
	int idx = (int)(p - pairs);

	p->a.idx = p->b.idx = idx;
	if (rem) {
		rem->remote = 1;
		rem->fd = -1;
		if (remote(OP_DIAL, idx, p->v6, 0, 0).ret != 0)
			crt_setup_fail("%s: the peer process could not connect", p->label);
		loc->fd = accept(lst, NULL, NULL);
		if (loc->fd < 0)
			crt_setup_fail("%s: accept: %s", p->label, strerror(errno));
		return;
	}
	p->a.fd = dial(p->v6);
	if (p->a.fd < 0)
		crt_setup_fail("%s: connect: %s", p->label, strerror(errno));
	p->b.fd = accept(lst, NULL, NULL);
	if (p->b.fd < 0)
		crt_setup_fail("%s: accept: %s", p->label, strerror(errno));
}

static int seed_of(struct pair *p, int k) { return (int)(p - pairs) * 8 + k; }

static void setup(struct pair *p)
{
	struct end *a = &p->a, *b = &p->b;

	switch (p->kind) {
	case K_FW2:
		setup_ok(p, "b writes", op(b, OP_WRITE, seed_of(p, 1), 100).ret);
		setup_ok(p, "a writes", op(a, OP_WRITE, seed_of(p, 2), 200).ret);
		setup_ok(p, "a shuts down", op(a, OP_SHUT, 0, 0).ret);
		setup_state(p, a, "a", TCP_FIN_WAIT2);
		setup_state(p, b, "b", TCP_CLOSE_WAIT);
		break;
	case K_FW1:
		setup_ok(p, "b writes", op(b, OP_WRITE, seed_of(p, 1), 10).ret);
		p->n = op(a, OP_FILL, seed_of(p, 2), 0).ret;
		setup_ok(p, "a fills", p->n);
		setup_ok(p, "a shuts down", op(a, OP_SHUT, 0, 0).ret);
		setup_state(p, a, "a", TCP_FIN_WAIT1);
		break;
	case K_LASTACK:
		setup_ok(p, "b writes", op(b, OP_WRITE, seed_of(p, 1), 30).ret);
		setup_ok(p, "b shuts down", op(b, OP_SHUT, 0, 0).ret);
		setup_state(p, a, "a", TCP_CLOSE_WAIT);
		setup_state(p, b, "b", TCP_FIN_WAIT2);
		p->n = op(a, OP_FILL, seed_of(p, 2), 0).ret;
		setup_ok(p, "a fills", p->n);
		setup_ok(p, "a shuts down", op(a, OP_SHUT, 0, 0).ret);
		setup_state(p, a, "a", TCP_LAST_ACK);
		break;
	case K_CLOSING:
		setup_ok(p, "b writes", op(b, OP_WRITE, seed_of(p, 1), 40).ret);
		p->n = op(a, OP_FILL, seed_of(p, 2), 0).ret;
		setup_ok(p, "a fills", p->n);
		setup_ok(p, "a shuts down", op(a, OP_SHUT, 0, 0).ret);
		setup_ok(p, "b shuts down", op(b, OP_SHUT, 0, 0).ret);
		setup_state(p, a, "a", TCP_CLOSING);
		setup_state(p, b, "b", TCP_FIN_WAIT2);
		break;
	case K_CLOSED:
		setup_ok(p, "b writes", op(b, OP_WRITE, seed_of(p, 1), 60).ret);
		setup_ok(p, "a shuts down", op(a, OP_SHUT, 0, 0).ret);
		setup_state(p, a, "a", TCP_FIN_WAIT2);
		setup_state(p, b, "b", TCP_CLOSE_WAIT);
		setup_ok(p, "b shuts down", op(b, OP_SHUT, 0, 0).ret);
		setup_state(p, a, "a", TCP_CLOSE);
		setup_state(p, b, "b", TCP_CLOSE);
		for (struct end *e = a; e; e = e == a ? b : NULL) {
			/* SO_PEERNAME refuses a buffer longer than the address. */
			socklen_t l = p->v6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
			if (e->remote)
				continue;
			if (getsockopt(e->fd, SOL_SOCKET, SO_PEERNAME, &e->peer, &l))
				crt_setup_fail("%s: SO_PEERNAME: %s", p->label, strerror(errno));
			l = sizeof(e->name);
			if (getsockname(e->fd, (struct sockaddr *)&e->name, &l))
				crt_setup_fail("%s: getsockname: %s", p->label, strerror(errno));
		}
		break;
	}
}

/* Checks. */

static void want_state(struct pair *p, struct end *e, const char *which, int want)
{
	int st = e_state(e);
	CHECK(st == want, "%s: %s in state %s, want %s", p->label, which, state_name(st), state_name(want));
}

static void want_wait(struct pair *p, struct end *e, const char *which, int want)
{
	int st = e_wait(e, want);
	CHECK(st == want, "%s: %s still in state %s, want %s", p->label, which, state_name(st), state_name(want));
}

/* want_read reads (as op o: OP_READEOF, OP_READNOW or OP_READN of n)
 * and wants n bytes of seed's pattern, and end of file if eof. */
static void want_read(struct pair *p, struct end *e, const char *which, int o, int seed, long n, int eof)
{
	struct rep r = op(e, o, seed, n);
	CHECK(r.ret == 0 && r.n == n && r.ok && r.eof == eof, "%s: %s read %ld bytes (want %ld)%s%s, end of file %d (want %d)", p->label,
	      which, r.n, n, r.ok ? "" : " not in order", r.ret ? " (peer failed)" : "", r.eof, eof);
}

static void want_write(struct pair *p, struct end *e, const char *which, int seed, long n)
{
	CHECK(op(e, OP_WRITE, seed, n).ret == 0, "%s: %s cannot write %ld bytes", p->label, which, n);
}

static void want_shut(struct pair *p, struct end *e, const char *which)
{
	CHECK(op(e, OP_SHUT, 0, 0).ret == 0, "%s: %s cannot shut down", p->label, which);
}

static void want_epipe(struct pair *p, struct end *e, const char *which)
{
	long err = op(e, OP_EPIPE, 0, 0).ret;
	CHECK(err == EPIPE, "%s: %s writes after its shutdown: %s, want EPIPE", p->label, which, err ? strerror((int)err) : "it took it");
}

static void want_names(struct pair *p, struct end *e, const char *which)
{
	struct sockaddr_storage ss;
	socklen_t l = p->v6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
	int err = -1;

	if (e->remote)
		return;
	memset(&ss, 0, sizeof(ss));
	CHECK(!getsockopt(e->fd, SOL_SOCKET, SO_PEERNAME, &ss, &l) && !memcmp(&ss, &e->peer, l), "%s: %s: SO_PEERNAME differs (%s)", p->label,
	      which, strerror(errno));
	memset(&ss, 0, sizeof(ss));
	CHECK(!getsockname(e->fd, (struct sockaddr *)&ss, &l) && !memcmp(&ss, &e->name, l), "%s: %s: socket name differs", p->label, which);
	l = sizeof(err);
	CHECK(!getsockopt(e->fd, SOL_SOCKET, SO_ERROR, &err, &l) && err == 0, "%s: %s: SO_ERROR %d", p->label, which, err);
}

static int reuseaddr(int fd)
{
	int v = -1;
	socklen_t l = sizeof(v);

	getsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &v, &l);
	return v;
}

static void check(struct pair *p)
{
	struct end *a = &p->a, *b = &p->b;

	for (struct end *e = a; e; e = e == a ? b : NULL)
		CHECK(e->remote || reuseaddr(e->fd) == e->reuse, "%s: %s: SO_REUSEADDR %d, want %d", p->label, e == a ? "a" : "b",
		      reuseaddr(e->fd), e->reuse);

	switch (p->kind) {
	case K_FW2:
		want_state(p, a, "a", TCP_FIN_WAIT2);
		want_state(p, b, "b", TCP_CLOSE_WAIT);
		want_read(p, b, "b", OP_READEOF, seed_of(p, 2), 200, 1);
		want_read(p, a, "a", OP_READNOW, seed_of(p, 1), 100, 0);
		want_epipe(p, a, "a");
		want_write(p, b, "b", seed_of(p, 3), 50);
		want_read(p, a, "a", OP_READN, seed_of(p, 3), 50, 0);
		want_shut(p, b, "b");
		want_read(p, a, "a", OP_READEOF, 0, 0, 1);
		want_wait(p, a, "a", TCP_CLOSE);
		want_wait(p, b, "b", TCP_CLOSE);
		break;
	case K_FW1:
		want_state(p, a, "a", TCP_FIN_WAIT1);
		want_state(p, b, "b", TCP_ESTABLISHED);
		want_read(p, a, "a", OP_READNOW, seed_of(p, 1), 10, 0);
		want_epipe(p, a, "a");
		want_read(p, b, "b", OP_READEOF, seed_of(p, 2), p->n, 1);
		want_wait(p, a, "a", TCP_FIN_WAIT2);
		want_write(p, b, "b", seed_of(p, 3), 20);
		want_read(p, a, "a", OP_READN, seed_of(p, 3), 20, 0);
		want_shut(p, b, "b");
		want_read(p, a, "a", OP_READEOF, 0, 0, 1);
		want_wait(p, a, "a", TCP_CLOSE);
		want_wait(p, b, "b", TCP_CLOSE);
		break;
	case K_LASTACK:
		want_state(p, a, "a", TCP_LAST_ACK);
		want_state(p, b, "b", TCP_FIN_WAIT2);
		want_read(p, a, "a", OP_READNOW, seed_of(p, 1), 30, 1);
		want_epipe(p, a, "a");
		want_read(p, b, "b", OP_READEOF, seed_of(p, 2), p->n, 1);
		want_wait(p, a, "a", TCP_CLOSE);
		want_wait(p, b, "b", TCP_CLOSE);
		want_epipe(p, b, "b");
		break;
	case K_CLOSING:
		want_state(p, a, "a", TCP_CLOSING);
		want_state(p, b, "b", TCP_FIN_WAIT2);
		want_read(p, a, "a", OP_READNOW, seed_of(p, 1), 40, 1);
		want_epipe(p, a, "a");
		want_read(p, b, "b", OP_READEOF, seed_of(p, 2), p->n, 1);
		want_wait(p, a, "a", TCP_CLOSE);
		want_wait(p, b, "b", TCP_CLOSE);
		break;
	case K_CLOSED:
		want_state(p, a, "a", TCP_CLOSE);
		want_state(p, b, "b", TCP_CLOSE);
		want_read(p, a, "a", OP_READNOW, seed_of(p, 1), 60, 1);
		want_read(p, b, "b", OP_READNOW, 0, 0, 1);
		want_epipe(p, a, "a");
		want_epipe(p, b, "b");
		want_names(p, a, "a");
		want_names(p, b, "b");
		break;
	}
}

static int no_closed;

static void add(enum kind k, int v6, int rem)
{
	if (k == K_CLOSED && no_closed)
		return;
	struct pair *p = &pairs[npairs++];

	p->kind = k;
	p->v6 = v6;
	p->remote = rem;
	snprintf(p->label, sizeof(p->label), "%s%s%s%c", kind_name[k], v6 ? "6" : "", rem ? "/peer-" : "", rem ? rem : '\0');
}

static int listener(int v6)
{
	int fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM, 0);
	socklen_t l;

	if (fd < 0)
		crt_setup_fail("socket: %s", strerror(errno));
	/* As servers do: the TIME_WAIT remnants of connections it accepted
	 * (closed's a with the peer process) keep its port, and only
	 * with SO_REUSEADDR on them and on it can it be bound again: by a
	 * restore on the same host as by the program started again. */
	int one = 1;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)))
		crt_setup_fail("SO_REUSEADDR: %s", strerror(errno));
	if (v6) {
		l6.sin6_family = AF_INET6;
		l6.sin6_addr = in6addr_loopback;
		l = sizeof(l6);
		if (bind(fd, (struct sockaddr *)&l6, l) || getsockname(fd, (struct sockaddr *)&l6, &l))
			crt_setup_fail("bind [::1]: %s", strerror(errno));
	} else {
		l4.sin_family = AF_INET;
		l4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		l = sizeof(l4);
		if (bind(fd, (struct sockaddr *)&l4, l) || getsockname(fd, (struct sockaddr *)&l4, &l))
			crt_setup_fail("bind 127.0.0.1: %s", strerror(errno));
	}
	if (listen(fd, MAXPAIRS + 2))
		crt_setup_fail("listen: %s", strerror(errno));
	return fd;
}

/* start_peer forks the peer process outside the tree: a child forks it
 * and exits, so that it is nobody's child here. It dials the control
 * connection itself. */
static void start_peer(int lst4)
{
	pid_t child = fork();

	if (child < 0)
		crt_setup_fail("fork: %s", strerror(errno));
	if (child == 0) {
		pid_t gc = fork();
		if (gc != 0)
			_exit(gc < 0);
		setsid();
		/* Nothing of the program's but the log: the listeners stay
		 * the program's alone. */
		for (int fd = 3; fd < 1024; fd++)
			close(fd);
		ctl = dial(0);
		if (ctl < 0)
			_exit(1);
		peer();
	}
	int status;
	if (waitpid(child, &status, 0) != child || !WIFEXITED(status) || WEXITSTATUS(status))
		crt_setup_fail("the peer process did not start");
	ctl = accept(lst4, NULL, NULL);
	if (ctl < 0)
		crt_setup_fail("accept the control connection: %s", strerror(errno));
	struct timeval tv = { 30, 0 };
	setsockopt(ctl, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
}

int main(int argc, char **argv)
{
	int intree = !getenv("TCPFIN_NO_INTREE"), ext = !getenv("TCPFIN_NO_EXT");

	no_closed = !!getenv("TCPFIN_NO_CLOSED");

	crt_init(argc, argv);
	signal(SIGPIPE, SIG_IGN);

	if (intree) {
		add(K_FW2, 0, 0);
		add(K_FW1, 0, 0);
		add(K_LASTACK, 0, 0);
		add(K_CLOSING, 0, 0);
		add(K_CLOSED, 0, 0);
		add(K_FW1, 1, 0);
		add(K_CLOSED, 1, 0);
	}
	if (ext) {
		add(K_FW2, 0, 'a');
		add(K_FW2, 0, 'b');
		add(K_FW1, 0, 'b');
		add(K_LASTACK, 0, 'b');
		add(K_CLOSING, 0, 'b');
		add(K_CLOSED, 0, 'b');
		add(K_CLOSED, 0, 'a');
	}

	int lst4 = listener(0), lst6 = listener(1);
	if (ext)
		start_peer(lst4);
	for (int i = 0; i < npairs; i++)
		make_pair(&pairs[i], lst4, lst6);
	for (int i = 0; i < npairs; i++) {
		setup(&pairs[i]);
		if (!pairs[i].a.remote)
			pairs[i].a.reuse = reuseaddr(pairs[i].a.fd);
		if (!pairs[i].b.remote)
			pairs[i].b.reuse = reuseaddr(pairs[i].b.fd);
	}
	/* Delayed acks and window updates go out within 200 ms. */
	msleep(500);

	crt_ready();
	crt_wait();

	for (int i = 0; i < npairs; i++)
		check(&pairs[i]);
	if (ext)
		remote(OP_EXIT, 0, 0, 0, 0);
	return crt_finish();
}
