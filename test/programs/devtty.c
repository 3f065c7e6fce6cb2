/* devtty: /dev/tty opened by a session leader whose controlling terminal
 * is a pty of its own: the program (a session leader, setsid by the
 * harness) opens a pty master and its slave without O_NOCTTY, which makes
 * the slave its controlling terminal, sets the slave's window size and
 * turns off echo, then opens /dev/tty O_RDWR (with a dup) and again
 * O_RDONLY|O_NONBLOCK.
 * Checks: each fd is /dev/tty (5:0) with its status flags, the dup shares
 * the first fd's file and the second not, the session of the terminal
 * behind it (tcgetsid) is the program's, its window size and termios
 * through /dev/tty, a line written to /dev/tty read at the master and a
 * line written at the master read through /dev/tty. With DEVTTY_ONE=1
 * (set when CRIU restores it: its restore of a task holding /dev/tty by
 * two fds waits forever) only the first fd is opened. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <termios.h>
#include <unistd.h>

#include "crtest.h"

static int read_line(int fd, char *buf, size_t n)
{
	size_t got = 0;
	for (int i = 0; i < 200 && got < n - 1; i++) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		if (poll(&p, 1, 10) <= 0)
			continue;
		ssize_t r = read(fd, buf + got, n - 1 - got);
		if (r <= 0)
			break;
		got += (size_t)r;
		if (memchr(buf, '\n', got))
			break;
	}
	buf[got] = 0;
	return (int)got;
}

int main(int argc, char **argv)
{
	crt_init(argc, argv);
	signal(SIGHUP, SIG_IGN);
	int m = posix_openpt(O_RDWR | O_NOCTTY);
	char name[64];
	if (m < 0 || grantpt(m) || unlockpt(m) || ptsname_r(m, name, sizeof(name)))
		crt_setup_fail("open a pty: %s", strerror(errno));
	int s = open(name, O_RDWR);
	if (s < 0)
		crt_setup_fail("open %s: %s", name, strerror(errno));
	struct winsize ws = {.ws_row = 33, .ws_col = 111};
	struct termios t;
	if (ioctl(s, TIOCSWINSZ, &ws) || tcgetattr(s, &t))
		crt_setup_fail("terminal settings: %s", strerror(errno));
	t.c_lflag &= ~(tcflag_t)ECHO;
	if (tcsetattr(s, TCSANOW, &t))
		crt_setup_fail("tcsetattr: %s", strerror(errno));
	int one = getenv("DEVTTY_ONE") != NULL;
	int t1 = open("/dev/tty", O_RDWR);
	int t2 = one ? t1 : open("/dev/tty", O_RDONLY | O_NONBLOCK);
	int d1 = one ? t1 : t1 < 0 ? -1 : dup(t1);
	if (t1 < 0 || t2 < 0 || d1 < 0)
		crt_setup_fail("open /dev/tty: %s", strerror(errno));

	crt_ready();
	crt_wait();

	int fds[] = {t1, t2, d1};
	struct stat st;
	for (int i = 0; i < 3; i++)
		CHECK(!fstat(fds[i], &st) && S_ISCHR(st.st_mode) && st.st_rdev == makedev(5, 0), "fd %d: device %u:%u, want 5:0",
		      fds[i], major(st.st_rdev), minor(st.st_rdev));
	CHECK((fcntl(t1, F_GETFL) & (O_ACCMODE | O_NONBLOCK)) == O_RDWR, "first: flags %#x", fcntl(t1, F_GETFL));
	if (!one) {
		CHECK((fcntl(t2, F_GETFL) & (O_ACCMODE | O_NONBLOCK)) == (O_RDONLY | O_NONBLOCK), "second: flags %#x",
		      fcntl(t2, F_GETFL));
		fcntl(t1, F_SETFL, fcntl(t1, F_GETFL) | O_APPEND);
		CHECK(fcntl(d1, F_GETFL) & O_APPEND, "dup: not the first fd's file");
		CHECK(!(fcntl(t2, F_GETFL) & O_APPEND), "second: shares the first fd's file");
	}
	CHECK(tcgetsid(t1) == getpid(), "session of /dev/tty %d, want %d", (int)tcgetsid(t1), (int)getpid());
	struct winsize w = {0};
	CHECK(!ioctl(t1, TIOCGWINSZ, &w) && w.ws_row == 33 && w.ws_col == 111, "window %ux%u, want 33x111", w.ws_row, w.ws_col);
	struct termios g;
	CHECK(!tcgetattr(t2, &g) && !(g.c_lflag & ECHO), "termios through /dev/tty: echo on");
	char buf[128];
	char out[64];
	snprintf(out, sizeof(out), "out-%d\n", (int)getpid());
	CHECK(write(t1, out, strlen(out)) == (ssize_t)strlen(out), "write /dev/tty: %s", strerror(errno));
	read_line(m, buf, sizeof(buf));
	CHECK(strstr(buf, "out-") != NULL, "master read '%s'", buf);
	CHECK(write(m, "in-line\n", 8) == 8, "write master: %s", strerror(errno));
	read_line(t2, buf, sizeof(buf));
	CHECK(!strcmp(buf, "in-line\n"), "/dev/tty read '%s'", buf);
	return crt_finish();
}
