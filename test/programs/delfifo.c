/* delfifo: named pipes removed while open.
 *   pair: delfifo.p open at both ends (the reader O_NONBLOCK) with 3000
 *         unread bytes, then unlinked;
 *   rdwr: delfifo.q open O_RDWR with 100 unread bytes, then unlinked, and
 *         opened again beforehand by a second O_RDONLY fd (one FIFO).
 * Checks: each is a FIFO with no link left, its names gone, the unread
 * bytes in order and nothing more, new data through both ends, the second
 * fd reading what the first writes. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crtest.h"

static int deleted_fifo(int fd)
{
	struct stat st;
	return !fstat(fd, &st) && S_ISFIFO(st.st_mode) && st.st_nlink == 0;
}

static unsigned char pat(int i)
{
	return (unsigned char)(i * 3 + 1);
}

int main(int argc, char **argv)
{
	crt_init(argc, argv);
	char *p = crt_path("delfifo.p"), *q = crt_path("delfifo.q");
	if (mkfifo(p, 0600) || mkfifo(q, 0640))
		crt_setup_fail("mkfifo: %s", strerror(errno));
	int r = open(p, O_RDONLY | O_NONBLOCK);
	int w = open(p, O_WRONLY);
	int rw = open(q, O_RDWR);
	int q2 = open(q, O_RDONLY | O_NONBLOCK);
	if (r < 0 || w < 0 || rw < 0 || q2 < 0)
		crt_setup_fail("open: %s", strerror(errno));
	char buf[4096];
	for (int i = 0; i < 3000; i++)
		buf[i] = pat(i);
	if (write(w, buf, 3000) != 3000 || write(rw, buf, 100) != 100 || unlink(p) || unlink(q))
		crt_setup_fail("setup: %s", strerror(errno));

	crt_ready();
	crt_wait();

	CHECK(deleted_fifo(r) && deleted_fifo(w) && deleted_fifo(rw) && deleted_fifo(q2), "not deleted FIFOs");
	CHECK(access(p, F_OK) && access(q, F_OK), "a name came back");
	struct stat st;
	CHECK(!fstat(rw, &st) && (st.st_mode & 07777) == 0640, "rdwr: mode %o", st.st_mode & 07777);
	memset(buf, 0, sizeof(buf));
	int n = read(r, buf, sizeof(buf));
	int ok = n == 3000;
	for (int i = 0; ok && i < n; i++)
		ok = (unsigned char)buf[i] == pat(i);
	CHECK(ok, "pair: read %d bytes, or wrong ones", n);
	CHECK(write(w, "more", 4) == 4 && read(r, buf, 10) == 4 && !memcmp(buf, "more", 4), "pair: new data");
	n = read(q2, buf, sizeof(buf));
	ok = n == 100;
	for (int i = 0; ok && i < n; i++)
		ok = (unsigned char)buf[i] == pat(i);
	CHECK(ok, "rdwr: read %d bytes, or wrong ones", n);
	CHECK(write(rw, "again", 5) == 5 && read(q2, buf, 10) == 5 && !memcmp(buf, "again", 5), "rdwr: the second fd is another FIFO");
	return crt_finish();
}
