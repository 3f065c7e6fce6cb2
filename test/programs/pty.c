/* pty: a program that is its own little terminal emulator.
 *   m:  a pty master (/dev/ptmx, O_NONBLOCK, close-on-exec) in packet mode,
 *       with its own termios (no echo, no output processing, odd control
 *       characters) and window size;
 *   m2: a second master left locked (never unlocked);
 *   m3 and its slave s3, both held here, raw (no echo, no processing);
 *   a child in a session of its own whose controlling terminal is m's
 *   slave, made exclusive (unless PTY_NO_EXCL: CRIU does not restore
 *   TIOCEXCL), and a grandchild in a group of its own that is the
 *   terminal's foreground group and answers "ping" lines with "PONG".
 * Data is left queued in both directions: input written into m3 that s3
 * has not read, output written into s3 that m3 has not read, and output
 * the child wrote on m's slave that m (packet mode) has not read (unless
 * PTY_NO_PKT_DATA: CRIU keeps packet mode's status byte in that data).
 * Checks after SIGTERM: both masters have their pts index, m its termios,
 * window size, packet mode and flags, m2 is still locked; the queued data
 * is still there, each piece once; the child still leads its session with
 * the slave as controlling terminal and the grandchild's group in the
 * foreground, the slave is still exclusive; a line goes through the
 * terminal and the answer comes back. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "crtest.h"

static const struct winsize want_ws = {.ws_row = 33, .ws_col = 111, .ws_xpixel = 5, .ws_ypixel = 7};

static void want_termios(struct termios *t)
{
	memset(t, 0, sizeof(*t));
	t->c_iflag = IGNBRK | IUTF8;
	t->c_oflag = 0;
	t->c_cflag = CS8 | CREAD | B38400;
	t->c_lflag = ICANON | ISIG | IEXTEN;
	t->c_cc[VINTR] = 0x10;
	t->c_cc[VQUIT] = 0x11;
	t->c_cc[VERASE] = 0x12;
	t->c_cc[VKILL] = 0x13;
	t->c_cc[VEOF] = 0x14;
	t->c_cc[VMIN] = 1;
	t->c_cc[VTIME] = 0;
	t->c_cc[VEOL] = 0x15;
	cfsetispeed(t, B38400);
	cfsetospeed(t, B38400);
}

static int pts_index(int m)
{
	int n = -1;
	return ioctl(m, TIOCGPTN, &n) ? -1 : n;
}

/* What is left queued in each direction. */
static const char queued_in[] = "input s3 has not read";
static const char queued_out[] = "output m3 has not read";
static const char queued_pkt[] = "output m has not read\n";

/* Reads what fd has queued, waiting up to 1 s for the first bytes and
 * 100 ms for more; returns the count. */
static size_t drain(int fd, char *buf, size_t size)
{
	size_t got = 0;
	struct pollfd pf = {.fd = fd, .events = POLLIN};
	for (int wait = 1000; got < size && poll(&pf, 1, wait) == 1; wait = 100) {
		ssize_t n = read(fd, buf + got, size - got);
		if (n <= 0)
			break;
		got += n;
	}
	return got;
}

/* The grandchild: answers every "ping" line on the terminal. */
static void answer(int s)
{
	char buf[64];
	for (;;) {
		ssize_t n = read(s, buf, sizeof(buf) - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			_exit(0);
		buf[n] = 0;
		if (!strcmp(buf, "ping\n") && write(s, "PONG\n", 5) != 5)
			_exit(1);
	}
}

/* The child's checks, on request; the answer goes to rsp. */
static void child_checks(int s, pid_t gc, int req, int rsp, int idx)
{
	char c, msg[256];
	struct stat st;
	for (;;) {
		ssize_t n = read(req, &c, 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			_exit(0);
		break;
	}
	msg[0] = 0;
	int ttynr = -1, tpgid = -1;
	FILE *f = fopen("/proc/self/stat", "r");
	if (f) {
		char line[1024];
		if (fgets(line, sizeof(line), f)) {
			char *p = strrchr(line, ')');
			int pp, pg, sid;
			char state;
			if (p)
				sscanf(p + 2, "%c %d %d %d %d %d", &state, &pp, &pg, &sid, &ttynr, &tpgid);
		}
		fclose(f);
	}
	int excl = -1;
	if (fstat(s, &st))
		snprintf(msg, sizeof(msg), "child: fstat slave: %s", strerror(errno));
	else if (minor(st.st_rdev) != (unsigned)idx)
		snprintf(msg, sizeof(msg), "child: slave is pts %u, want %d", minor(st.st_rdev), idx);
	else if (getsid(0) != getpid())
		snprintf(msg, sizeof(msg), "child: session %d, want its own %d", getsid(0), getpid());
	else if (tcgetsid(s) != getpid())
		snprintf(msg, sizeof(msg), "child: the slave is not its controlling terminal (tcgetsid %d: %s)", tcgetsid(s), strerror(errno));
	else if ((dev_t)ttynr != st.st_rdev)
		snprintf(msg, sizeof(msg), "child: /proc says controlling terminal %#x, want %#lx", ttynr, (unsigned long)st.st_rdev);
	else if (tcgetpgrp(s) != gc || tpgid != gc)
		snprintf(msg, sizeof(msg), "child: foreground group %d (/proc: %d), want %d", tcgetpgrp(s), tpgid, gc);
	else if (getpgid(gc) != gc)
		snprintf(msg, sizeof(msg), "child: grandchild in group %d, want its own", getpgid(gc));
	else if ((fcntl(s, F_GETFL) & O_ACCMODE) != O_RDWR || fcntl(s, F_GETFD) != 0)
		snprintf(msg, sizeof(msg), "child: slave flags %#x fd flags %#x", fcntl(s, F_GETFL), fcntl(s, F_GETFD));
	else if (!getenv("PTY_NO_EXCL") && (ioctl(s, TIOCGEXCL, &excl) || excl != 1))
		snprintf(msg, sizeof(msg), "child: slave exclusive %d, want 1", excl);
	else
		strcpy(msg, "OK");
	if (write(rsp, msg, strlen(msg) + 1) < 0)
		_exit(1);
	pause();
	_exit(0);
}

int main(int argc, char **argv)
{
	crt_init(argc, argv);
	int m = posix_openpt(O_RDWR | O_NOCTTY);
	if (m < 0 || grantpt(m) || unlockpt(m))
		crt_setup_fail("posix_openpt: %s", strerror(errno));
	int m2 = posix_openpt(O_RDWR | O_NOCTTY);
	if (m2 < 0)
		crt_setup_fail("posix_openpt 2: %s", strerror(errno));
	int idx = pts_index(m), idx2 = pts_index(m2);
	struct termios t;
	want_termios(&t);
	int one = 1;
	if (tcsetattr(m, TCSANOW, &t) || ioctl(m, TIOCSWINSZ, &want_ws) || ioctl(m, TIOCPKT, &one))
		crt_setup_fail("set up master: %s", strerror(errno));
	if (fcntl(m, F_SETFL, O_RDWR | O_NONBLOCK) || fcntl(m, F_SETFD, FD_CLOEXEC))
		crt_setup_fail("master flags: %s", strerror(errno));
	char *sname = ptsname(m);
	if (!sname)
		crt_setup_fail("ptsname: %s", strerror(errno));
	char spath[64];
	snprintf(spath, sizeof(spath), "%s", sname);

	int req[2], rsp[2];
	if (pipe(req) || pipe(rsp))
		crt_setup_fail("pipe: %s", strerror(errno));
	pid_t child = fork();
	if (child < 0)
		crt_setup_fail("fork: %s", strerror(errno));
	if (child == 0) {
		close(m);
		close(m2);
		close(req[1]);
		close(rsp[0]);
		if (setsid() < 0)
			_exit(1);
		int s = open(spath, O_RDWR); /* a session leader's first tty: its controlling terminal */
		if (s < 0)
			_exit(2);
		if (!getenv("PTY_NO_EXCL") && ioctl(s, TIOCEXCL))
			_exit(3);
		pid_t gc = fork();
		if (gc < 0)
			_exit(4);
		if (gc == 0) {
			close(req[0]);
			close(rsp[1]);
			setpgid(0, 0);
			/* Read only once in the foreground (SIGTTIN otherwise). */
			while (tcgetpgrp(s) != getpgrp())
				usleep(1000);
			answer(s);
		}
		setpgid(gc, gc);
		if (tcsetpgrp(s, gc))
			_exit(5);
		if (!getenv("PTY_NO_PKT_DATA") && write(s, queued_pkt, strlen(queued_pkt)) != (ssize_t)strlen(queued_pkt))
			_exit(6);
		if (write(rsp[1], "R", 2) != 2)
			_exit(7);
		child_checks(s, gc, req[0], rsp[1], idx);
	}
	close(req[0]);
	close(rsp[1]);

	int m3 = posix_openpt(O_RDWR | O_NOCTTY);
	if (m3 < 0 || grantpt(m3) || unlockpt(m3))
		crt_setup_fail("posix_openpt 3: %s", strerror(errno));
	char *sname3 = ptsname(m3);
	int s3 = sname3 ? open(sname3, O_RDWR | O_NOCTTY) : -1;
	if (s3 < 0)
		crt_setup_fail("open slave of m3: %s", strerror(errno));
	struct termios raw;
	if (tcgetattr(s3, &raw))
		crt_setup_fail("tcgetattr s3: %s", strerror(errno));
	cfmakeraw(&raw);
	if (tcsetattr(s3, TCSANOW, &raw))
		crt_setup_fail("tcsetattr s3: %s", strerror(errno));
	if (write(m3, queued_in, strlen(queued_in)) != (ssize_t)strlen(queued_in) ||
	    write(s3, queued_out, strlen(queued_out)) != (ssize_t)strlen(queued_out))
		crt_setup_fail("queue data in m3/s3: %s", strerror(errno));
	char buf[256];
	if (read(rsp[0], buf, sizeof(buf)) != 2 || buf[0] != 'R') {
		int st = 0;
		waitpid(child, &st, WNOHANG);
		crt_setup_fail("child did not get ready (status %#x)", st);
	}
	crt_ready();
	crt_wait();

	CHECK(pts_index(m) == idx, "master has pts %d, want %d", pts_index(m), idx);
	CHECK(pts_index(m2) == idx2, "locked master has pts %d, want %d", pts_index(m2), idx2);
	char *now = ptsname(m);
	CHECK(now && !strcmp(now, spath), "ptsname %s, want %s", now ? now : "(none)", spath);
	int lck = -1;
	CHECK(!ioctl(m2, TIOCGPTLCK, &lck) && lck == 1, "m2 lock %d, want 1", lck);
	CHECK(!ioctl(m, TIOCGPTLCK, &lck) && lck == 0, "m lock %d, want 0", lck);
	int pkt = -1;
	CHECK(!ioctl(m, TIOCGPKT, &pkt) && pkt == 1, "packet mode %d, want 1", pkt);
	CHECK((fcntl(m, F_GETFL) & (O_ACCMODE | O_NONBLOCK)) == (O_RDWR | O_NONBLOCK), "master flags %#x", fcntl(m, F_GETFL));
	CHECK(fcntl(m, F_GETFD) == FD_CLOEXEC, "master not close-on-exec");
	struct termios got, want;
	want_termios(&want);
	CHECK(!tcgetattr(m, &got), "tcgetattr: %s", strerror(errno));
	CHECK(got.c_iflag == want.c_iflag && got.c_oflag == want.c_oflag && got.c_cflag == want.c_cflag &&
		      got.c_lflag == want.c_lflag,
	      "termios flags %#x %#x %#x %#x, want %#x %#x %#x %#x", got.c_iflag, got.c_oflag, got.c_cflag, got.c_lflag,
	      want.c_iflag, want.c_oflag, want.c_cflag, want.c_lflag);
	CHECK(!memcmp(got.c_cc, want.c_cc, 17), "control characters differ");
	struct winsize ws;
	CHECK(!ioctl(m, TIOCGWINSZ, &ws) && ws.ws_row == want_ws.ws_row && ws.ws_col == want_ws.ws_col &&
		      ws.ws_xpixel == want_ws.ws_xpixel && ws.ws_ypixel == want_ws.ws_ypixel,
	      "window %ux%u %ux%u", ws.ws_row, ws.ws_col, ws.ws_xpixel, ws.ws_ypixel);

	/* The queued data, each piece once. */
	char q[256];
	size_t qn = drain(s3, q, sizeof(q) - 1);
	q[qn] = 0;
	CHECK(qn == strlen(queued_in) && !memcmp(q, queued_in, qn), "queued input at s3: %zu bytes \"%s\"", qn, q);
	qn = drain(m3, q, sizeof(q) - 1);
	q[qn] = 0;
	CHECK(qn == strlen(queued_out) && !memcmp(q, queued_out, qn), "queued output at m3: %zu bytes \"%s\"", qn, q);
	if (!getenv("PTY_NO_PKT_DATA")) {
		/* Packet mode: one status byte, then the data. */
		qn = drain(m, q, sizeof(q) - 1);
		q[qn] = 0;
		CHECK(qn == 1 + strlen(queued_pkt) && q[0] == TIOCPKT_DATA && !memcmp(q + 1, queued_pkt, qn - 1),
		      "queued output at m: %zu bytes \"%s\"", qn, qn ? q + 1 : q);
	}

	/* The child's view. */
	CHECK(write(req[1], "c", 1) == 1, "ask child: %s", strerror(errno));
	struct pollfd pf = {.fd = rsp[0], .events = POLLIN};
	ssize_t n = -1;
	if (poll(&pf, 1, 5000) == 1)
		n = read(rsp[0], buf, sizeof(buf) - 1);
	if (n > 0) {
		buf[n] = 0;
		CHECK(!strcmp(buf, "OK"), "%s", buf);
	} else
		CHECK(0, "no answer from the child");

	/* A line through the terminal and its answer back (packet mode: a
	 * status byte first). */
	CHECK(write(m, "ping\n", 5) == 5, "write master: %s", strerror(errno));
	char in[64];
	size_t got_n = 0;
	for (int tries = 0; tries < 50 && got_n < 6; tries++) {
		pf.fd = m;
		if (poll(&pf, 1, 100) == 1) {
			ssize_t r = read(m, in + got_n, sizeof(in) - 1 - got_n);
			if (r > 0)
				got_n += r;
		}
	}
	in[got_n] = 0;
	CHECK(got_n == 6 && in[0] == TIOCPKT_DATA && !memcmp(in + 1, "PONG\n", 5), "answer through the terminal: %zu bytes", got_n);

	kill(child, SIGKILL);
	kill(-child, SIGKILL);
	return crt_finish();
}
