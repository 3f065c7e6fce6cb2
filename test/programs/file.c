/* file: regular files.
 *   f1: file.data (8192 bytes) open O_RDWR at offset 777, and f1d, a dup of
 *       it sharing the offset;
 *   f2: file.data opened again O_RDONLY at offset 100 (its own offset);
 *   f3: file.app open O_WRONLY|O_APPEND after "first\n";
 *   f4: file.del, 5000 bytes, open at offset 123 and unlinked.
 * Checks: offsets and their sharing, access modes and flags, that f1 is
 * still the file at its path, that appends go to the end, and that the
 * deleted file keeps its content and takes writes. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crtest.h"

static unsigned char pat(int seed, int i)
{
	return (unsigned char)(i * 13 + seed);
}

static void fill(int fd, int seed, int n)
{
	unsigned char buf[8192];

	for (int i = 0; i < n; i++)
		buf[i] = pat(seed, i);
	if (pwrite(fd, buf, n, 0) != n)
		crt_setup_fail("write: %s", strerror(errno));
}

static int same(int fd, int seed, int n)
{
	unsigned char buf[8192];

	if (pread(fd, buf, n, 0) != n)
		return 0;
	for (int i = 0; i < n; i++)
		if (buf[i] != pat(seed, i))
			return 0;
	return 1;
}

static off_t pos(int fd)
{
	return lseek(fd, 0, SEEK_CUR);
}

int main(int argc, char **argv)
{
	crt_init(argc, argv);
	char *data = crt_path("file.data"), *app = crt_path("file.app"), *del = crt_path("file.del");

	int f1 = open(data, O_RDWR | O_CREAT | O_TRUNC, 0640);
	int f2 = open(data, O_RDONLY);
	int f3 = open(app, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0600);
	int f4 = open(del, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (f1 < 0 || f2 < 0 || f3 < 0 || f4 < 0)
		crt_setup_fail("open: %s", strerror(errno));
	int f1d = dup(f1);
	fill(f1, 1, 8192);
	fill(f4, 4, 5000);
	if (lseek(f1, 777, SEEK_SET) != 777 || lseek(f2, 100, SEEK_SET) != 100 || lseek(f4, 123, SEEK_SET) != 123 ||
	    write(f3, "first\n", 6) != 6 || unlink(del) || f1d < 0)
		crt_setup_fail("setup: %s", strerror(errno));
	struct stat st1;
	fstat(f1, &st1);
	crt_ready();
	crt_wait();

	struct stat st, path_st;
	CHECK(pos(f1) == 777 && pos(f1d) == 777, "f1 offset %lld, dup %lld", (long long)pos(f1), (long long)pos(f1d));
	CHECK(pos(f2) == 100, "f2 offset %lld", (long long)pos(f2));
	lseek(f1d, 1000, SEEK_SET);
	CHECK(pos(f1) == 1000 && pos(f2) == 100, "f1 and its dup do not share the offset, or f2 does");
	CHECK((fcntl(f1, F_GETFL) & O_ACCMODE) == O_RDWR && (fcntl(f2, F_GETFL) & O_ACCMODE) == O_RDONLY,
	      "access modes wrong");
	CHECK(!fstat(f1, &st) && !stat(data, &path_st) && st.st_ino == path_st.st_ino && st.st_ino == st1.st_ino &&
		      st.st_dev == st1.st_dev, "f1 is not the file at its path");
	CHECK(same(f1, 1, 8192) && same(f2, 1, 8192), "file.data content wrong");

	CHECK(fcntl(f3, F_GETFL) & O_APPEND, "f3 lost O_APPEND");
	CHECK(write(f3, "second\n", 7) == 7, "write f3: %s", strerror(errno));
	char buf[64] = "";
	int r = open(app, O_RDONLY);
	CHECK(r >= 0 && read(r, buf, sizeof(buf) - 1) == 13 && !strcmp(buf, "first\nsecond\n"), "file.app holds %s", buf);
	close(r);

	CHECK(!fstat(f4, &st) && st.st_nlink == 0 && st.st_size == 5000, "deleted file: nlink %ld size %lld",
	      (long)st.st_nlink, (long long)st.st_size);
	CHECK(access(del, F_OK) && errno == ENOENT, "deleted file came back at its path");
	CHECK(pos(f4) == 123, "deleted file offset %lld", (long long)pos(f4));
	CHECK(same(f4, 4, 5000), "deleted file content wrong");
	CHECK(write(f4, "xyz", 3) == 3 && pread(f4, buf, 3, 123) == 3 && !memcmp(buf, "xyz", 3), "deleted file takes no writes");
	return crt_finish();
}
