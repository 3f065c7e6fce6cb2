/* ghost: files deleted while open or mapped and linked nowhere (ghost
 * files), beyond the simple case of file.c.
 *   holes:  ghost.holes, 2 MiB + 4 KiB with data only at 0, 1 MiB and the
 *           last 4 KiB (holes between), open at offset 5;
 *   shared: ghost.shared, 20 KiB, open twice (offsets 1 and 2) and
 *           mapped MAP_SHARED: one inode for all three;
 *   reused: ghost.reused, open and deleted, and a new file made at its
 *           path with other contents;
 *   mapped: ghost.mapped, 3 pages mapped MAP_SHARED and MAP_PRIVATE
 *           (one page of the private one written) with no fd left,
 *           written through the shared mapping after the unlink; the
 *           private one's other pages still follow the file.
 * With GHOST_BIG=1 it also holds ghost.big, a deleted file of 2 MiB of
 * data, over CRIU's default --ghost-limit (pkg/dump's TestDumpGhostLimit).
 * Checks: sizes, contents, nlink 0, the same data/hole layout
 * (SEEK_DATA/SEEK_HOLE), offsets, one inode behind the shared fds and
 * mapping, the new file at the reused path untouched, mappings' contents
 * and that writes still reach the other views. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crtest.h"

#define PG 4096L
#define HOLES_SIZE (2 * 1024 * 1024L + PG)

static unsigned char pat(int seed, long i)
{
	return (unsigned char)(i * 11 + seed + i / 4096);
}

static void put(int fd, int seed, long off, long len)
{
	static char buf[2 * 1024 * 1024];
	for (long i = 0; i < len; i++)
		buf[i] = pat(seed, off + i);
	if (pwrite(fd, buf, len, off) != len)
		crt_setup_fail("pwrite: %s", strerror(errno));
}

static int got(int fd, int seed, long off, long len)
{
	static char buf[2 * 1024 * 1024];
	if (pread(fd, buf, len, off) != len)
		return 0;
	for (long i = 0; i < len; i++)
		if ((unsigned char)buf[i] != pat(seed, off + i))
			return 0;
	return 1;
}

/* layout writes the data segments of fd as "from-to," into out. */
static void layout(int fd, char *out, size_t n)
{
	off_t off = 0, end = lseek(fd, 0, SEEK_END);
	out[0] = 0;
	while (off < end) {
		off_t data = lseek(fd, off, SEEK_DATA);
		if (data < 0)
			break;
		off_t hole = lseek(fd, data, SEEK_HOLE);
		size_t l = strlen(out);
		snprintf(out + l, n - l, "%lld-%lld,", (long long)data, (long long)hole);
		off = hole;
	}
}

static int open_new(const char *name)
{
	int fd = open(crt_path(name), O_RDWR | O_CREAT | O_TRUNC, 0640);
	if (fd < 0)
		crt_setup_fail("open %s: %s", name, strerror(errno));
	return fd;
}

static long nlink(int fd)
{
	struct stat st;
	return fstat(fd, &st) ? -1 : (long)st.st_nlink;
}

int main(int argc, char **argv)
{
	crt_init(argc, argv);
	char want_layout[256], now_layout[256];

	int holes = open_new("ghost.holes");
	if (ftruncate(holes, HOLES_SIZE))
		crt_setup_fail("truncate: %s", strerror(errno));
	put(holes, 1, 0, PG);
	put(holes, 1, 1024 * 1024, PG);
	put(holes, 1, HOLES_SIZE - PG, PG);
	fsync(holes);
	layout(holes, want_layout, sizeof(want_layout));
	if (lseek(holes, 5, SEEK_SET) != 5 || unlink(crt_path("ghost.holes")))
		crt_setup_fail("holes: %s", strerror(errno));

	int sh1 = open_new("ghost.shared");
	put(sh1, 2, 0, 5 * PG);
	int sh2 = open(crt_path("ghost.shared"), O_RDWR);
	char *shm = mmap(NULL, 5 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, sh1, 0);
	if (sh2 < 0 || shm == MAP_FAILED || lseek(sh1, 1, SEEK_SET) != 1 || lseek(sh2, 2, SEEK_SET) != 2 ||
	    unlink(crt_path("ghost.shared")))
		crt_setup_fail("shared: %s", strerror(errno));

	int reused = open_new("ghost.reused");
	put(reused, 3, 0, 100);
	if (unlink(crt_path("ghost.reused")))
		crt_setup_fail("reused: %s", strerror(errno));
	int fresh = open_new("ghost.reused");
	put(fresh, 4, 0, 200);
	close(fresh);

	int mf = open_new("ghost.mapped");
	put(mf, 5, 0, 3 * PG);
	char *ms = mmap(NULL, 3 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, mf, 0);
	char *mp = mmap(NULL, 3 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE, mf, 0);
	if (ms == MAP_FAILED || mp == MAP_FAILED || close(mf) || unlink(crt_path("ghost.mapped")))
		crt_setup_fail("mapped: %s", strerror(errno));
	memcpy(ms + PG, "after unlink", 12);
	mp[2 * PG] = 'P';

	int big = -1;
	if (getenv("GHOST_BIG")) {
		big = open_new("ghost.big");
		put(big, 6, 0, 2 * 1024 * 1024);
		if (unlink(crt_path("ghost.big")))
			crt_setup_fail("big: %s", strerror(errno));
	}

	crt_ready();
	crt_wait();

	struct stat st;
	CHECK(!fstat(holes, &st) && st.st_size == HOLES_SIZE && st.st_nlink == 0, "holes: size %lld nlink %ld",
	      (long long)st.st_size, (long)st.st_nlink);
	CHECK(got(holes, 1, 0, PG) && got(holes, 1, 1024 * 1024, PG) && got(holes, 1, HOLES_SIZE - PG, PG), "holes: data");
	static char zero[PG], buf[PG];
	CHECK(pread(holes, buf, PG, 512 * 1024) == PG && !memcmp(buf, zero, PG), "holes: a hole reads non-zero");
	CHECK(lseek(holes, 0, SEEK_CUR) == 5, "holes: offset %lld", (long long)lseek(holes, 0, SEEK_CUR));
	layout(holes, now_layout, sizeof(now_layout));
	CHECK(!strcmp(want_layout, now_layout), "holes: data at %s, was at %s", now_layout, want_layout);

	struct stat st1, st2;
	CHECK(!fstat(sh1, &st1) && !fstat(sh2, &st2) && st1.st_ino == st2.st_ino && st1.st_dev == st2.st_dev &&
		      st1.st_nlink == 0, "shared: two inodes, or linked");
	CHECK(lseek(sh1, 0, SEEK_CUR) == 1 && lseek(sh2, 0, SEEK_CUR) == 2, "shared: offsets");
	CHECK(got(sh2, 2, 0, 5 * PG), "shared: contents");
	CHECK(pwrite(sh1, "one", 3, 100) == 3 && pread(sh2, buf, 3, 100) == 3 && !memcmp(buf, "one", 3) &&
		      !memcmp(shm + 100, "one", 3), "shared: a write through one fd is not seen by the other and the mapping");
	memcpy(shm + 200, "two", 3);
	CHECK(pread(sh2, buf, 3, 200) == 3 && !memcmp(buf, "two", 3), "shared: a write through the mapping is not seen by the fds");

	CHECK(nlink(reused) == 0 && got(reused, 3, 0, 100), "reused: the deleted file");
	int now = open(crt_path("ghost.reused"), O_RDONLY);
	CHECK(now >= 0 && !fstat(now, &st) && st.st_size == 200 && got(now, 4, 0, 200), "reused: the file at the path");
	CHECK(!fstat(reused, &st1) && !fstat(now, &st2) && st1.st_ino != st2.st_ino, "reused: one inode for both");

	CHECK(!memcmp(ms + PG, "after unlink", 12) && mp[2 * PG] == 'P', "mapped: writes lost");
	int ok = 1;
	for (long i = 0; i < 3 * PG; i++) {
		if (i >= PG && i < PG + 12)
			continue;
		if ((unsigned char)ms[i] != pat(5, i) || (i != 2 * PG && (unsigned char)mp[i] != pat(5, i)))
			ok = 0;
	}
	CHECK(ok, "mapped: contents");
	ms[5] = 'S';
	CHECK(mp[5] == 'S' && mp[2 * PG + 5] != 'S', "mapped: the private mapping's unwritten pages do not follow the file");
	ms[2 * PG + 5] = 'S';
	CHECK(mp[2 * PG + 5] != 'S', "mapped: the private mapping's written page follows the file");
	if (big >= 0)
		CHECK(got(big, 6, 0, 2 * 1024 * 1024), "big: contents");
	return crt_finish();
}
