/* memfdsize: shared memory objects and shared file mappings whose size
 * is not the size of their mappings, or not a whole number of pages.
 *   tiny:   a memfd of 5 bytes, fd only, at offset 3;
 *   small:  a memfd of 5000 bytes mapped MAP_SHARED over 4 pages, with a
 *           byte written through the mapping past the end of the file in
 *           its last page (which only the mapping sees);
 *   grown:  a memfd mapped over 2 pages, then grown to 6 pages and
 *           written at pages 4-5 with pwrite;
 *   shrunk: a memfd of 8 pages mapped whole and filled, then cut to 3
 *           pages and 10 bytes;
 *   anon:   shared anonymous memory of 4 pages, opened through
 *           /proc/self/map_files and cut to 1 page and 100 bytes;
 *   anongrown: shared anonymous memory of 2 pages grown to 5 pages
 *           through its fd, written at page 3 with pwrite;
 *   file:   a regular file of 5000 bytes mapped MAP_SHARED over 3 pages;
 *   filecut: a regular file of 4 pages mapped whole, then cut to 1 page
 *           and 1 byte.
 * Checks: sizes, contents through fds and mappings (the byte past the end
 * of small), that pages past the end fault (SIGBUS) and those before do
 * not, that fd and mapping still share one object. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crtest.h"

#define PG 4096L

static sigjmp_buf probe_jmp;

static void on_bus(int sig)
{
	(void)sig;
	siglongjmp(probe_jmp, 1);
}

/* readable says whether the byte at p can be read without a fault. */
static int readable(volatile char *p)
{
	if (sigsetjmp(probe_jmp, 1))
		return 0;
	(void)*p;
	return 1;
}

static unsigned char pat(int seed, long i)
{
	return (unsigned char)(i * 7 + seed + i / 4096);
}

static void fill_mem(char *m, int seed, long from, long to)
{
	for (long i = from; i < to; i++)
		m[i] = pat(seed, i);
}

static int mem_ok(const char *m, int seed, long from, long to)
{
	for (long i = from; i < to; i++)
		if ((unsigned char)m[i] != pat(seed, i))
			return 0;
	return 1;
}

static void fill_fd(int fd, int seed, long from, long to)
{
	static char buf[8 * PG];
	for (long i = from; i < to; i++)
		buf[i - from] = pat(seed, i);
	if (pwrite(fd, buf, to - from, from) != to - from)
		crt_setup_fail("pwrite: %s", strerror(errno));
}

static int fd_ok(int fd, int seed, long from, long to)
{
	static char buf[8 * PG];
	if (pread(fd, buf, to - from, from) != to - from)
		return 0;
	for (long i = from; i < to; i++)
		if ((unsigned char)buf[i - from] != pat(seed, i))
			return 0;
	return 1;
}

static long size_of(int fd)
{
	struct stat st;
	return fstat(fd, &st) ? -1 : (long)st.st_size;
}

static char *map(int fd, long len, int flags)
{
	char *m = mmap(NULL, len, PROT_READ | PROT_WRITE, flags, fd, 0);
	if (m == MAP_FAILED)
		crt_setup_fail("mmap: %s", strerror(errno));
	return m;
}

static int memfd(const char *name, long size)
{
	int fd = memfd_create(name, MFD_CLOEXEC);
	if (fd < 0 || ftruncate(fd, size))
		crt_setup_fail("memfd %s: %s", name, strerror(errno));
	return fd;
}

/* anon_fd opens the object behind shared anonymous memory m of len bytes. */
static int anon_fd(char *m, long len)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/self/map_files/%lx-%lx", (long)m, (long)m + len);
	int fd = open(path, O_RDWR);
	if (fd < 0)
		crt_setup_fail("open %s: %s", path, strerror(errno));
	return fd;
}

int main(int argc, char **argv)
{
	crt_init(argc, argv);
	struct sigaction sa = {.sa_handler = on_bus};
	sigaction(SIGBUS, &sa, NULL);

	int tiny = memfd("tiny", 0);
	if (write(tiny, "hello", 5) != 5 || lseek(tiny, 3, SEEK_SET) != 3)
		crt_setup_fail("tiny: %s", strerror(errno));

	int small = memfd("small", 5000);
	char *sm = map(small, 4 * PG, MAP_SHARED);
	fill_mem(sm, 1, 0, 5000);
	sm[6000] = 'T';

	int grown = memfd("grown", 2 * PG);
	char *gm = map(grown, 2 * PG, MAP_SHARED);
	fill_mem(gm, 2, 0, 2 * PG);
	if (ftruncate(grown, 6 * PG))
		crt_setup_fail("grow: %s", strerror(errno));
	fill_fd(grown, 3, 4 * PG, 6 * PG);

	int shrunk = memfd("shrunk", 8 * PG);
	char *shm = map(shrunk, 8 * PG, MAP_SHARED);
	fill_mem(shm, 4, 0, 8 * PG);
	if (ftruncate(shrunk, 3 * PG + 10))
		crt_setup_fail("shrink: %s", strerror(errno));

	char *am = map(-1, 4 * PG, MAP_SHARED | MAP_ANONYMOUS);
	fill_mem(am, 5, 0, 4 * PG);
	int anon = anon_fd(am, 4 * PG);
	if (ftruncate(anon, PG + 100))
		crt_setup_fail("cut anon: %s", strerror(errno));

	char *agm = map(-1, 2 * PG, MAP_SHARED | MAP_ANONYMOUS);
	fill_mem(agm, 6, 0, 2 * PG);
	int anongrown = anon_fd(agm, 2 * PG);
	if (ftruncate(anongrown, 5 * PG))
		crt_setup_fail("grow anon: %s", strerror(errno));
	fill_fd(anongrown, 7, 3 * PG, 4 * PG);

	int file = open(crt_path("memfdsize.file"), O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (file < 0 || ftruncate(file, 5000))
		crt_setup_fail("file: %s", strerror(errno));
	char *fm = map(file, 3 * PG, MAP_SHARED);
	fill_mem(fm, 8, 0, 5000);

	int filecut = open(crt_path("memfdsize.cut"), O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (filecut < 0 || ftruncate(filecut, 4 * PG))
		crt_setup_fail("filecut: %s", strerror(errno));
	char *cm = map(filecut, 4 * PG, MAP_SHARED);
	fill_mem(cm, 9, 0, 4 * PG);
	if (ftruncate(filecut, PG + 1))
		crt_setup_fail("cut file: %s", strerror(errno));

	crt_ready();
	crt_wait();

	char buf[8];
	CHECK(size_of(tiny) == 5, "tiny: size %ld", size_of(tiny));
	CHECK(lseek(tiny, 0, SEEK_CUR) == 3, "tiny: offset %ld", (long)lseek(tiny, 0, SEEK_CUR));
	CHECK(pread(tiny, buf, 8, 0) == 5 && !memcmp(buf, "hello", 5), "tiny: contents");

	CHECK(size_of(small) == 5000, "small: size %ld", size_of(small));
	CHECK(mem_ok(sm, 1, 0, 5000) && fd_ok(small, 1, 0, 5000), "small: contents");
	CHECK(sm[6000] == 'T', "small: byte past the end in the last page is %#x", sm[6000]);
	CHECK(readable(sm + PG + 4095) && !readable(sm + 2 * PG) && !readable(sm + 3 * PG), "small: faults wrong");

	CHECK(size_of(grown) == 6 * PG, "grown: size %ld", size_of(grown));
	CHECK(mem_ok(gm, 2, 0, 2 * PG) && fd_ok(grown, 2, 0, 2 * PG), "grown: mapped contents");
	CHECK(fd_ok(grown, 3, 4 * PG, 6 * PG), "grown: pages written past the mapping");
	static char zero[2 * PG], got[2 * PG];
	CHECK(pread(grown, got, 2 * PG, 2 * PG) == 2 * PG && !memcmp(got, zero, 2 * PG), "grown: hole not zero");

	CHECK(size_of(shrunk) == 3 * PG + 10, "shrunk: size %ld", size_of(shrunk));
	CHECK(mem_ok(shm, 4, 0, 3 * PG + 10) && fd_ok(shrunk, 4, 0, 3 * PG + 10), "shrunk: contents");
	CHECK(readable(shm + 3 * PG + 4095) && !readable(shm + 4 * PG) && !readable(shm + 7 * PG), "shrunk: faults wrong");

	CHECK(size_of(anon) == PG + 100, "anon: size %ld", size_of(anon));
	CHECK(mem_ok(am, 5, 0, PG + 100) && fd_ok(anon, 5, 0, PG + 100), "anon: contents");
	CHECK(readable(am + PG) && !readable(am + 2 * PG), "anon: faults wrong");
	am[7] = 'x';
	CHECK(pread(anon, buf, 1, 7) == 1 && buf[0] == 'x', "anon: fd and mapping are not one object");

	CHECK(size_of(anongrown) == 5 * PG, "anongrown: size %ld", size_of(anongrown));
	CHECK(mem_ok(agm, 6, 0, 2 * PG) && fd_ok(anongrown, 7, 3 * PG, 4 * PG), "anongrown: contents");
	CHECK(pwrite(anongrown, "y", 1, 9) == 1 && agm[9] == 'y', "anongrown: fd and mapping are not one object");

	CHECK(size_of(file) == 5000, "file: size %ld", size_of(file));
	CHECK(mem_ok(fm, 8, 0, 5000) && fd_ok(file, 8, 0, 5000), "file: contents");
	CHECK(readable(fm + PG) && !readable(fm + 2 * PG), "file: faults wrong");

	CHECK(size_of(filecut) == PG + 1, "filecut: size %ld", size_of(filecut));
	CHECK(mem_ok(cm, 9, 0, PG + 1) && fd_ok(filecut, 9, 0, PG + 1), "filecut: contents");
	CHECK(readable(cm + PG) && !readable(cm + 2 * PG), "filecut: faults wrong");
	return crt_finish();
}
