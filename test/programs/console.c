/* console: the system console and virtual consoles opened by a task, none
 * of them its controlling terminal (O_NOCTTY).
 *   con, con2: /dev/console read-write, and a dup of it (one file);
 *   vt1:  /dev/tty1 read-only, O_NONBLOCK, close-on-exec, its termios
 *         changed (no echo, VERASE ^H, VMIN 3);
 *   vt1b: /dev/tty1 again, write-only (a file of its own);
 *   tty0: /dev/tty0 (the current virtual console) write-only, unless
 *         CONSOLE_NO_TTY0 is set (CRIU cannot dump it: no driver of its
 *         own for minor 0 of the tty major).
 * With CONSOLE_CTTY=1 tty1 is made the controlling terminal of the
 * program, a session leader (TIOCSCTTY), with the program's group in the
 * foreground: after restore tty1 is still its controlling terminal, of its
 * session, with the same foreground group. With tty0 as well (the two
 * virtual consoles share one entry in CRIU's images, which could not say
 * which is the controlling terminal) a dump must refuse it (pkg/dump's
 * TestDumpConsoleCttyRefused).
 * Checks: each fd is still its device (major:minor, and the path in
 * /proc/self/fd), its access mode, O_NONBLOCK and close-on-exec; con and
 * con2 one file, vt1 and vt1b two; termios and window size as before (the
 * changed ones on tty1, which the kernel resets when the last file of it
 * closes); the controlling terminal (none, or the harness's) as before;
 * a write of nothing works. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <termios.h>
#include <unistd.h>
#include <linux/kcmp.h>

#include "crtest.h"

struct term {
	const char *name, *path;
	int fd, acc, nonblock, cloexec;
	unsigned maj, min;
	struct termios tio;
	struct winsize ws;
};

static int opendev(struct term *t, int flags)
{
	t->fd = open(t->path, flags);
	if (t->fd < 0)
		return -1;
	t->acc = flags & O_ACCMODE;
	t->nonblock = !!(flags & O_NONBLOCK);
	t->cloexec = !!(flags & O_CLOEXEC);
	struct stat st;
	if (fstat(t->fd, &st))
		return -1;
	t->maj = major(st.st_rdev);
	t->min = minor(st.st_rdev);
	return 0;
}

static void record(struct term *t)
{
	if (tcgetattr(t->fd, &t->tio) || ioctl(t->fd, TIOCGWINSZ, &t->ws))
		crt_setup_fail("%s: termios: %s", t->name, strerror(errno));
}

static void check(struct term *t)
{
	struct stat st;
	char link[64] = "", proc[64];
	if (fstat(t->fd, &st) || !S_ISCHR(st.st_mode) || major(st.st_rdev) != t->maj || minor(st.st_rdev) != t->min) {
		CHECK(0, "%s: fd %d is not the device %u:%u", t->name, t->fd, t->maj, t->min);
		return;
	}
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", t->fd);
	CHECK(readlink(proc, link, sizeof(link) - 1) > 0 && !strcmp(link, t->path), "%s: fd %d is %s", t->name, t->fd, link);
	int fl = fcntl(t->fd, F_GETFL);
	CHECK((fl & O_ACCMODE) == t->acc && !!(fl & O_NONBLOCK) == t->nonblock, "%s: flags %#x", t->name, fl);
	CHECK(!!(fcntl(t->fd, F_GETFD) & FD_CLOEXEC) == t->cloexec, "%s: close-on-exec lost or gained", t->name);
	struct termios tio;
	struct winsize ws;
	if (tcgetattr(t->fd, &tio) || ioctl(t->fd, TIOCGWINSZ, &ws)) {
		CHECK(0, "%s: termios: %s", t->name, strerror(errno));
		return;
	}
	CHECK(tio.c_iflag == t->tio.c_iflag && tio.c_oflag == t->tio.c_oflag && tio.c_cflag == t->tio.c_cflag &&
		      tio.c_lflag == t->tio.c_lflag && !memcmp(tio.c_cc, t->tio.c_cc, NCCS),
	      "%s: termios iflag %#x oflag %#x cflag %#x lflag %#x, want %#x %#x %#x %#x (VERASE %d, want %d)", t->name,
	      tio.c_iflag, tio.c_oflag, tio.c_cflag, tio.c_lflag, t->tio.c_iflag, t->tio.c_oflag, t->tio.c_cflag,
	      t->tio.c_lflag, tio.c_cc[VERASE], t->tio.c_cc[VERASE]);
	CHECK(ws.ws_row == t->ws.ws_row && ws.ws_col == t->ws.ws_col, "%s: window %ux%u, want %ux%u", t->name, ws.ws_row,
	      ws.ws_col, t->ws.ws_row, t->ws.ws_col);
	if (t->acc != O_RDONLY)
		CHECK(write(t->fd, "", 0) == 0, "%s: write: %s", t->name, strerror(errno));
}

static int same_file(int a, int b)
{
	pid_t p = getpid();
	return syscall(SYS_kcmp, p, p, KCMP_FILE, a, b) == 0;
}

/* The controlling terminal's device, from /proc/self/stat (0: none). */
static int tty_nr(void)
{
	char buf[1024];
	int fd = open("/proc/self/stat", O_RDONLY), tty = -1;
	ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);
	if (fd >= 0)
		close(fd);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	char *p = strrchr(buf, ')');
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %d", &tty) != 1)
		return -1;
	return tty;
}

int main(int argc, char **argv)
{
	crt_init(argc, argv);
	int use_tty0 = !getenv("CONSOLE_NO_TTY0");
	struct term t[5] = {
		{ .name = "console", .path = "/dev/console" },
		{ .name = "console dup", .path = "/dev/console" },
		{ .name = "tty1", .path = "/dev/tty1" },
		{ .name = "tty1 again", .path = "/dev/tty1" },
		{ .name = "tty0", .path = "/dev/tty0" },
	};
	int n = use_tty0 ? 5 : 4;
	if (opendev(&t[0], O_RDWR | O_NOCTTY))
		crt_setup_fail("open /dev/console: %s", strerror(errno));
	t[1] = (struct term){ .name = "console dup", .path = "/dev/console", .acc = O_RDWR, .maj = t[0].maj, .min = t[0].min };
	t[1].fd = dup(t[0].fd);
	if (opendev(&t[2], O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY) || opendev(&t[3], O_WRONLY | O_NOCTTY))
		crt_setup_fail("open /dev/tty1: %s", strerror(errno));
	/* With CONSOLE_CTTY, tty1 becomes the controlling terminal of the
	 * program, a session leader without one (the harness starts it so). */
	if (getenv("CONSOLE_CTTY") && ioctl(t[3].fd, TIOCSCTTY, 0))
		crt_setup_fail("TIOCSCTTY tty1: %s", strerror(errno));
	if (use_tty0 && opendev(&t[4], O_WRONLY | O_NOCTTY))
		crt_setup_fail("open /dev/tty0: %s", strerror(errno));
	/* tty1's own settings: the kernel resets a virtual console's termios
	 * when its last file closes, so only a restore brings these back. */
	struct termios tio;
	if (tcgetattr(t[2].fd, &tio))
		crt_setup_fail("tcgetattr tty1: %s", strerror(errno));
	tio.c_lflag &= ~(ECHO | ICANON);
	tio.c_cc[VERASE] = 8;
	tio.c_cc[VMIN] = 3;
	if (tcsetattr(t[2].fd, TCSANOW, &tio))
		crt_setup_fail("tcsetattr tty1: %s", strerror(errno));
	for (int i = 0; i < n; i++)
		record(&t[i]);
	int ctty = tty_nr();
	int want_ctty = getenv("CONSOLE_CTTY") != NULL;
	if (want_ctty && (unsigned)ctty != makedev(t[3].maj, t[3].min))
		crt_setup_fail("tty1 is not the controlling terminal: tty_nr %#x", ctty);
	crt_ready();
	crt_wait();

	for (int i = 0; i < n; i++)
		check(&t[i]);
	CHECK(same_file(t[0].fd, t[1].fd), "the console and its dup are two files");
	CHECK(!same_file(t[2].fd, t[3].fd), "tty1's two files are one");
	CHECK(tty_nr() == ctty, "controlling terminal %#x, was %#x", tty_nr(), ctty);
	if (want_ctty) {
		pid_t sid = -1, fg = tcgetpgrp(t[3].fd);
		CHECK(ioctl(t[3].fd, TIOCGSID, &sid) == 0 && sid == getsid(0), "tty1's session %d, want %d (%s)", sid, getsid(0), strerror(errno));
		CHECK(fg == getpgrp(), "tty1's foreground group %d, want %d", fg, getpgrp());
	}
	return crt_finish();
}
