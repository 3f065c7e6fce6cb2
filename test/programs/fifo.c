/* fifo: named pipes with data.
 *   fifo.1: read end O_RDONLY|O_NONBLOCK and write end O_WRONLY, 3000
 *           unread bytes;
 *   fifo.2: one O_RDWR descriptor holding "hello rw".
 * Checks: the descriptors are still the FIFOs at their paths, their access
 * modes and flags, the data, and that fifo.1 still carries new data. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crtest.h"

#define N 3000

static unsigned char pat(int i)
{
	return (unsigned char)(i * 5 + 3);
}

static int same_fifo(int fd, const char *path)
{
	struct stat a, b;

	return !fstat(fd, &a) && !stat(path, &b) && S_ISFIFO(a.st_mode) && a.st_ino == b.st_ino && a.st_dev == b.st_dev;
}

int main(int argc, char **argv)
{
	crt_init(argc, argv);
	char *p1 = crt_path("fifo.1"), *p2 = crt_path("fifo.2");
	unlink(p1);
	unlink(p2);
	if (mkfifo(p1, 0600) || mkfifo(p2, 0600))
		crt_setup_fail("mkfifo: %s", strerror(errno));
	int rd = open(p1, O_RDONLY | O_NONBLOCK);
	int wr = open(p1, O_WRONLY);
	int rw = open(p2, O_RDWR);
	if (rd < 0 || wr < 0 || rw < 0)
		crt_setup_fail("open fifo: %s", strerror(errno));
	unsigned char buf[N];
	for (int i = 0; i < N; i++)
		buf[i] = pat(i);
	if (write(wr, buf, N) != N || write(rw, "hello rw", 8) != 8)
		crt_setup_fail("write fifo: %s", strerror(errno));
	crt_ready();
	crt_wait();

	CHECK(same_fifo(rd, p1) && same_fifo(wr, p1), "fifo.1 descriptors are not the FIFO at its path");
	CHECK(same_fifo(rw, p2), "fifo.2 descriptor is not the FIFO at its path");
	CHECK((fcntl(rd, F_GETFL) & (O_ACCMODE | O_NONBLOCK)) == (O_RDONLY | O_NONBLOCK), "read end flags %#x",
	      fcntl(rd, F_GETFL));
	CHECK((fcntl(wr, F_GETFL) & (O_ACCMODE | O_NONBLOCK)) == O_WRONLY, "write end flags %#x", fcntl(wr, F_GETFL));
	CHECK((fcntl(rw, F_GETFL) & O_ACCMODE) == O_RDWR, "fifo.2 flags %#x", fcntl(rw, F_GETFL));

	unsigned char got[N + 1];
	int n = (int)read(rd, got, sizeof(got));
	CHECK(n == N && !memcmp(got, buf, N), "fifo.1 gave %d bytes%s", n, n == N ? " of wrong data" : "");
	errno = 0;
	CHECK(read(rd, got, 1) < 0 && errno == EAGAIN, "fifo.1 not empty or has no writer (errno %d)", errno);
	CHECK(write(wr, "again", 5) == 5 && read(rd, got, 5) == 5 && !memcmp(got, "again", 5), "fifo.1 carries no new data");

	char s[16] = "";
	CHECK(read(rw, s, 8) == 8 && !strcmp(s, "hello rw"), "fifo.2 holds %s", s);
	return crt_finish();
}
