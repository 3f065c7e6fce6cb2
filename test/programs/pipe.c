/* pipe: pipes with unread data.
 *   p1: blocking pipe, 40000 unread bytes (several pipe buffers), both ends
 *       open, read end close-on-exec;
 *   p2: O_NONBLOCK pipe resized to 256 KiB holding 100000 bytes;
 *   p3: pipe holding "bye" whose write end is closed (reads end in EOF).
 * Checks: both ends of each pipe are one pipe, the flags and size, all the
 * data in order, and that the pipes still carry new data. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crtest.h"

#define N1 40000
#define N2 100000
#define SZ2 (256 * 1024)

static unsigned char pattern(int seed, int i)
{
	return (unsigned char)(i * 31 + seed + i / 251);
}

static void fill(int fd, int seed, int n)
{
	unsigned char buf[4096];

	for (int off = 0; off < n;) {
		int k = n - off < (int)sizeof(buf) ? n - off : (int)sizeof(buf);
		for (int i = 0; i < k; i++)
			buf[i] = pattern(seed, off + i);
		if (write(fd, buf, k) != k)
			crt_setup_fail("fill pipe: %s", strerror(errno));
		off += k;
	}
}

/* Reads n bytes and compares them with the pattern; returns bytes matched. */
static int drain(int fd, int seed, int n)
{
	unsigned char buf[4096];
	int off = 0;

	while (off < n) {
		int k = n - off < (int)sizeof(buf) ? n - off : (int)sizeof(buf);
		k = (int)read(fd, buf, k);
		if (k <= 0)
			break;
		for (int i = 0; i < k; i++)
			if (buf[i] != pattern(seed, off + i))
				return off + i;
		off += k;
	}
	return off;
}

static ino_t ino(int fd)
{
	struct stat st;

	return fstat(fd, &st) ? 0 : st.st_ino;
}

int main(int argc, char **argv)
{
	int p1[2], p2[2], p3[2];

	crt_init(argc, argv);
	if (pipe2(p1, 0) || pipe2(p2, O_NONBLOCK) || pipe(p3))
		crt_setup_fail("pipe: %s", strerror(errno));
	if (fcntl(p1[0], F_SETFD, FD_CLOEXEC) || fcntl(p2[0], F_SETPIPE_SZ, SZ2) < SZ2)
		crt_setup_fail("fcntl: %s", strerror(errno));
	fill(p1[1], 1, N1);
	fill(p2[1], 2, N2);
	if (write(p3[1], "bye", 3) != 3 || close(p3[1]))
		crt_setup_fail("p3: %s", strerror(errno));
	crt_ready();
	crt_wait();

	CHECK(ino(p1[0]) && ino(p1[0]) == ino(p1[1]), "p1 ends are different pipes");
	CHECK(ino(p2[0]) && ino(p2[0]) == ino(p2[1]) && ino(p1[0]) != ino(p2[0]), "p2 ends are wrong pipes");
	CHECK(fcntl(p1[0], F_GETFD) == FD_CLOEXEC && fcntl(p1[1], F_GETFD) == 0, "p1 close-on-exec flags wrong");
	CHECK((fcntl(p1[0], F_GETFL) & (O_ACCMODE | O_NONBLOCK)) == O_RDONLY, "p1 read end flags %#x", fcntl(p1[0], F_GETFL));
	CHECK((fcntl(p1[1], F_GETFL) & (O_ACCMODE | O_NONBLOCK)) == O_WRONLY, "p1 write end flags %#x", fcntl(p1[1], F_GETFL));
	CHECK((fcntl(p2[0], F_GETFL) & O_NONBLOCK) && (fcntl(p2[1], F_GETFL) & O_NONBLOCK), "p2 lost O_NONBLOCK");
	CHECK(fcntl(p2[0], F_GETPIPE_SZ) >= SZ2, "p2 size %d", fcntl(p2[0], F_GETPIPE_SZ));

	int n = drain(p1[0], 1, N1);
	CHECK(n == N1, "p1: %d of %d bytes right", n, N1);
	n = drain(p2[0], 2, N2);
	CHECK(n == N2, "p2: %d of %d bytes right", n, N2);
	char c;
	errno = 0;
	CHECK(read(p2[0], &c, 1) < 0 && errno == EAGAIN, "p2 not empty or blocking after its data (errno %d)", errno);

	fill(p1[1], 3, 1000);
	n = drain(p1[0], 3, 1000);
	CHECK(n == 1000, "p1 carries no new data (%d)", n);

	char buf[8] = "";
	CHECK(read(p3[0], buf, sizeof(buf)) == 3 && !memcmp(buf, "bye", 3), "p3 data lost");
	CHECK(read(p3[0], buf, sizeof(buf)) == 0, "p3 has a writer again");
	return crt_finish();
}
