/* cow: private pages shared copy-on-write between a parent and the
 * children it forked (CRIU's zdtm cow00/cow01).
 *   Anonymous: 64 pages written by the root, then a child forked; the
 *   child writes its own data into pages 0-15, the root into pages 16-31;
 *   pages 32-63 nobody writes after the fork, but the child drops pages
 *   60-61 (MADV_DONTNEED: zeros for it); the child then forks a
 *   grandchild, which writes pages 8-11 again.
 *   File: a private mapping of a 16-page file in the work directory, whose
 *   pages 0-7 the root writes before the fork (anonymous copies of the
 *   file's pages) and whose pages 0-1 the child writes after it.
 * Checks: every task reads what it wrote or inherited in every page (the
 * child and grandchild answer through pipes). As root, from
 * /proc/PID/pagemap, the pages nobody wrote since a fork are still one
 * physical page in the tasks that share them: anonymous pages 32-59 and
 * 62-63 in root, child and grandchild; pages 0-7, 12-31 between child
 * and grandchild; file pages 2-7 between root and child. Then writes after
 * the restore still copy: the child writes anonymous page 40 and the
 * root page 50; neither sees the other's write, the grandchild sees
 * neither, and page 40 of the child is a page of its own.
 * With COW_UNSHARED_OK=1 the sharing counts are only printed (a restore
 * that gives every task its own copy). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "crtest.h"

#define PAGES 64
#define FPAGES 16

static long pg;
static unsigned char *mem, *fmem;
/* Writes after the restore: the child's to page 40, the root's to 50. */
static int wrote40, wrote50;

/* expect: the byte anonymous page i holds in a task: 'r' root, 'c'
 * child, 'g' grandchild. */
static unsigned char expect(char who, int i)
{
	if (i == 40 && who == 'c' && wrote40)
		return 0xee;
	if (i == 50 && who == 'r' && wrote50)
		return 0xdd;
	if (i >= 60 && i < 62 && who != 'r')
		return 0;
	if (i < 16 && who != 'r') {
		if (who == 'g' && i >= 8 && i < 12)
			return (unsigned char)(0xc0 + i);
		return (unsigned char)(0x80 + i);
	}
	if (i >= 16 && i < 32 && who == 'r')
		return (unsigned char)(0x40 + i);
	return (unsigned char)(1 + i);
}

/* fexpect: the byte file page i holds in a task's private mapping. */
static unsigned char fexpect(char who, int i)
{
	if (i < 2 && who != 'r')
		return (unsigned char)(0x90 + i);
	if (i < 8)
		return (unsigned char)(0x30 + i);
	return (unsigned char)(0x10 + i);
}

/* check_mem: the first page that does not hold what who expects (file
 * pages after the anonymous ones), or -1. */
static int check_mem(char who)
{
	for (int i = 0; i < PAGES; i++)
		for (long j = 0; j < pg; j += 512)
			if (mem[i * pg + j] != expect(who, i))
				return i;
	for (int i = 0; i < FPAGES; i++)
		for (long j = 0; j < pg; j += 512)
			if (fmem[i * pg + j] != fexpect(who, i))
				return PAGES + i;
	return -1;
}

/* A child's loop: on '?' it checks its memory, on 'w' (the child) it
 * writes page 40 first; it answers 'P' or the page number that is wrong
 * + 1. */
static void serve(char who, int req, int ans)
{
	char c;
	while (read(req, &c, 1) == 1) {
		if (c == 'w') {
			memset(mem + 40 * pg, 0xee, pg);
			wrote40 = 1;
		}
		int bad = check_mem(who);
		c = bad < 0 ? 'P' : (char)(bad + 1);
		if (write(ans, &c, 1) != 1)
			break;
	}
	_exit(0);
}

/* pfns: the physical frame numbers of n pages from base in pid (0: not
 * present). */
static int pfns(pid_t pid, unsigned char *base, int n, uint64_t *out)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/pagemap", (int)pid);
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return -1;
	off_t off = (off_t)((uintptr_t)base / pg * 8);
	ssize_t got = pread(fd, out, n * sizeof(uint64_t), off);
	close(fd);
	if (got != (ssize_t)(n * sizeof(uint64_t)))
		return -1;
	for (int i = 0; i < n; i++)
		out[i] = (out[i] >> 63) ? (out[i] & ((1ULL << 55) - 1)) : 0;
	return 0;
}

/* shared: how many of the pages of base in mask (bit i: page i) are one
 * physical page in both tasks. */
static int shared(pid_t a, pid_t b, unsigned char *base, uint64_t mask)
{
	uint64_t pa[PAGES], pb[PAGES];
	if (pfns(a, base, PAGES, pa) || pfns(b, base, PAGES, pb))
		return -1;
	int n = 0;
	for (int i = 0; i < PAGES; i++)
		if (mask >> i & 1)
			n += pa[i] && pa[i] == pb[i];
	return n;
}

/* pages: the mask of pages [from, to). */
static uint64_t pages(int from, int to)
{
	return (to >= 64 ? ~0ULL : (1ULL << to) - 1) & ~((1ULL << from) - 1);
}

static pid_t child, gchild;

/* check_shared: the sharing of the pages nobody wrote since a fork, as
 * counts into what; 0 when all are shared. */
static int check_shared(char *what, size_t len)
{
	uint64_t untouched = pages(32, 64) & ~pages(60, 62);
	int rc = shared(getpid(), child, mem, untouched);
	int rg = shared(getpid(), gchild, mem, untouched);
	int cg = shared(child, gchild, mem, pages(0, 64) & ~pages(8, 12) & ~pages(60, 62));
	int fc = shared(getpid(), child, fmem, pages(2, 8));
	snprintf(what, len, "anonymous pages 32-59, 62-63 shared root/child %d of 30, root/grandchild %d of 30; pages 0-7, 12-59, 62-63 child/grandchild %d of 58; file pages 2-7 root/child %d of 6",
		 rc, rg, cg, fc);
	return !(rc == 30 && rg == 30 && cg == 58 && fc == 6);
}

/* ask: sends c to a child and returns its answer ('P' or a page + 1). */
static char ask(int req, int ans, char c)
{
	char a = 0;
	if (write(req, &c, 1) != 1 || read(ans, &a, 1) != 1)
		return 0;
	return a;
}

int main(int argc, char **argv)
{
	crt_init(argc, argv);
	pg = sysconf(_SC_PAGESIZE);
	int must_share = geteuid() == 0 && getenv("COW_UNSHARED_OK") == NULL;

	mem = mmap(NULL, PAGES * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		crt_setup_fail("mmap: %s", strerror(errno));
	/* THP would share or split whole 2 MiB pages, not these. */
	madvise(mem, PAGES * pg, MADV_NOHUGEPAGE);
	for (int i = 0; i < PAGES; i++)
		memset(mem + i * pg, 1 + i, pg);

	int fd = open(crt_path("cow.data"), O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		crt_setup_fail("open cow.data: %s", strerror(errno));
	unsigned char *buf = malloc(pg);
	for (int i = 0; i < FPAGES; i++) {
		memset(buf, 0x10 + i, pg);
		if (write(fd, buf, pg) != pg)
			crt_setup_fail("write cow.data: %s", strerror(errno));
	}
	free(buf);
	fmem = mmap(NULL, FPAGES * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	if (fmem == MAP_FAILED)
		crt_setup_fail("mmap cow.data: %s", strerror(errno));
	close(fd);
	for (int i = 0; i < 8; i++)
		memset(fmem + i * pg, 0x30 + i, pg);
	/* Pages 8-15 read in, from the file. */
	for (int i = 8; i < FPAGES; i++)
		if (fmem[i * pg] != 0x10 + i)
			crt_setup_fail("file page %d reads %#x", i, fmem[i * pg]);

	int creq[2], cans[2], greq[2], gans[2];
	if (pipe(creq) || pipe(cans) || pipe(greq) || pipe(gans))
		crt_setup_fail("pipe: %s", strerror(errno));
	child = fork();
	if (child < 0)
		crt_setup_fail("fork: %s", strerror(errno));
	if (child == 0) {
		for (int i = 0; i < 16; i++)
			memset(mem + i * pg, 0x80 + i, pg);
		for (int i = 0; i < 2; i++)
			memset(fmem + i * pg, 0x90 + i, pg);
		madvise(mem + 60 * pg, 2 * pg, MADV_DONTNEED);
		pid_t gc = fork();
		if (gc < 0)
			_exit(1);
		if (gc == 0) {
			close(creq[0]);
			close(cans[1]);
			close(greq[1]);
			close(gans[0]);
			for (int i = 8; i < 12; i++)
				memset(mem + i * pg, 0xc0 + i, pg);
			serve('g', greq[0], gans[1]);
		}
		close(greq[0]);
		close(gans[1]);
		close(creq[1]);
		close(cans[0]);
		/* Tell the root the grandchild's pid. */
		if (write(cans[1], &gc, sizeof(gc)) != sizeof(gc))
			_exit(1);
		serve('c', creq[0], cans[1]);
	}
	close(creq[0]);
	close(cans[1]);
	close(greq[0]);
	close(gans[1]);
	for (int i = 16; i < 32; i++)
		memset(mem + i * pg, 0x40 + i, pg);
	if (read(cans[0], &gchild, sizeof(gchild)) != sizeof(gchild) || gchild <= 0)
		crt_setup_fail("no grandchild");
	if (ask(greq[1], gans[0], '?') != 'P')
		crt_setup_fail("the grandchild is not ready");
	if (ask(creq[1], cans[0], '?') != 'P')
		crt_setup_fail("the child is not ready");
	char what[256];
	if (geteuid() == 0 && check_shared(what, sizeof(what)))
		crt_setup_fail("after the forks: %s", what);

	crt_ready();
	crt_wait();

	int bad = check_mem('r');
	CHECK(bad < 0, "root: page %d lost its contents", bad);
	char c = ask(creq[1], cans[0], '?');
	CHECK(c == 'P', "child: page %d lost its contents", c - 1);
	c = ask(greq[1], gans[0], '?');
	CHECK(c == 'P', "grandchild: page %d lost its contents", c - 1);
	if (geteuid() == 0) {
		int unshared = check_shared(what, sizeof(what));
		fprintf(stderr, "cow: %s\n", what);
		if (must_share)
			CHECK(!unshared, "not shared: %s", what);
	}

	/* Writes now still copy. */
	c = ask(creq[1], cans[0], 'w');
	CHECK(c == 'P', "child: after writing page 40, page %d is wrong", c - 1);
	memset(mem + 50 * pg, 0xdd, pg);
	wrote50 = 1;
	bad = check_mem('r');
	CHECK(bad < 0, "root: after the writes, page %d is wrong (the child's write seen?)", bad);
	c = ask(creq[1], cans[0], '?');
	CHECK(c == 'P', "child: after the root's write, page %d is wrong", c - 1);
	c = ask(greq[1], gans[0], '?');
	CHECK(c == 'P', "grandchild: after the writes, page %d is wrong", c - 1);
	if (geteuid() == 0) {
		uint64_t r40[41], c40[41], g40[41];
		if (pfns(getpid(), mem, 41, r40) == 0 && pfns(child, mem, 41, c40) == 0 && pfns(gchild, mem, 41, g40) == 0) {
			CHECK(c40[40] && c40[40] != r40[40] && c40[40] != g40[40], "child's page 40 after its write is not its own");
			if (must_share)
				CHECK(r40[40] && r40[40] == g40[40], "page 40 of root and grandchild no longer shared after the child's write");
		} else {
			CHECK(0, "read pagemaps: %s", strerror(errno));
		}
	}
	int ret = crt_finish();
	close(creq[1]);
	close(greq[1]);
	waitpid(child, NULL, 0);
	return ret;
}
