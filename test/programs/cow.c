/* cow: private anonymous pages shared copy-on-write between a parent and
 * the children it forked (CRIU's zdtm cow00/cow01).
 *   64 pages written by the root, then a child forked; the child writes
 *   its own data into pages 0-15, the root into pages 16-31; pages 32-63
 *   nobody writes after the fork; the child then forks a grandchild,
 *   which writes pages 8-11 again.
 * Checks: every task reads what it wrote or inherited in every page (the
 * child and grandchild answer through a pipe). The root also counts, from
 * /proc/PID/pagemap (root only), how many of pages 32-63 are the same
 * physical page in it, the child and the grandchild, and prints the
 * counts. With COW_SHARED=1 (set by run-cr.sh where the restore is
 * CRIU's, or there is none) all 32 must still be shared: CRIU's restore
 * maps a child's inherited areas from its parent's and keeps its pages
 * where they are the same. criugo's restore gives every task its own
 * copy (the contents are right, the sharing is gone). */
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

static long pg;
static unsigned char *mem;

/* expect: the byte page i holds in a task: 'r' root, 'c' child, 'g' grandchild. */
static unsigned char expect(char who, int i)
{
	if (i < 16 && who != 'r') {
		if (who == 'g' && i >= 8 && i < 12)
			return (unsigned char)(0xc0 + i);
		return (unsigned char)(0x80 + i);
	}
	if (i >= 16 && i < 32 && who == 'r')
		return (unsigned char)(0x40 + i);
	return (unsigned char)(1 + i);
}

/* check_mem: the first page that does not hold what who expects, or -1. */
static int check_mem(char who)
{
	for (int i = 0; i < PAGES; i++)
		for (long j = 0; j < pg; j += 512)
			if (mem[i * pg + j] != expect(who, i))
				return i;
	return -1;
}

/* A child's loop: on each byte from req it checks its memory and answers
 * 'P' or the page number that is wrong + 1. */
static void serve(char who, int req, int ans)
{
	char c;
	while (read(req, &c, 1) == 1) {
		int bad = check_mem(who);
		c = bad < 0 ? 'P' : (char)(bad + 1);
		if (write(ans, &c, 1) != 1)
			break;
	}
	_exit(0);
}

/* pfns: the physical frame numbers of pages 32-63 of pid (0: not present). */
static int pfns(pid_t pid, uint64_t *out)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/pagemap", (int)pid);
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return -1;
	uint64_t e[32];
	off_t off = (off_t)((uintptr_t)(mem + 32 * pg) / pg * 8);
	ssize_t n = pread(fd, e, sizeof(e), off);
	close(fd);
	if (n != sizeof(e))
		return -1;
	for (int i = 0; i < 32; i++)
		out[i] = (e[i] >> 63) ? (e[i] & ((1ULL << 55) - 1)) : 0;
	return 0;
}

/* shared: how many of pages 32-63 are one physical page in both tasks. */
static int shared(pid_t a, pid_t b)
{
	uint64_t pa[32], pb[32];
	if (pfns(a, pa) || pfns(b, pb))
		return -1;
	int n = 0;
	for (int i = 0; i < 32; i++)
		n += pa[i] && pa[i] == pb[i];
	return n;
}

int main(int argc, char **argv)
{
	crt_init(argc, argv);
	pg = sysconf(_SC_PAGESIZE);
	int want_shared = getenv("COW_SHARED") != NULL;

	mem = mmap(NULL, PAGES * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		crt_setup_fail("mmap: %s", strerror(errno));
	/* THP would share or split whole 2 MiB pages, not these. */
	madvise(mem, PAGES * pg, MADV_NOHUGEPAGE);
	for (int i = 0; i < PAGES; i++)
		memset(mem + i * pg, 1 + i, pg);

	int creq[2], cans[2], greq[2], gans[2];
	if (pipe(creq) || pipe(cans) || pipe(greq) || pipe(gans))
		crt_setup_fail("pipe: %s", strerror(errno));
	pid_t child = fork();
	if (child < 0)
		crt_setup_fail("fork: %s", strerror(errno));
	if (child == 0) {
		for (int i = 0; i < 16; i++)
			memset(mem + i * pg, 0x80 + i, pg);
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
	pid_t gchild;
	if (read(cans[0], &gchild, sizeof(gchild)) != sizeof(gchild) || gchild <= 0)
		crt_setup_fail("no grandchild");
	char c;
	if (write(greq[1], "?", 1) != 1 || read(gans[0], &c, 1) != 1 || c != 'P')
		crt_setup_fail("the grandchild is not ready");
	if (write(creq[1], "?", 1) != 1 || read(cans[0], &c, 1) != 1 || c != 'P')
		crt_setup_fail("the child is not ready");
	int rc = shared(getpid(), child), cg = shared(child, gchild);
	if (geteuid() == 0 && (rc != 32 || cg != 32))
		crt_setup_fail("pages 32-63 not shared after fork: root/child %d, child/grandchild %d", rc, cg);

	crt_ready();
	crt_wait();

	int bad = check_mem('r');
	CHECK(bad < 0, "root: page %d lost its contents", bad);
	c = 0;
	CHECK(write(creq[1], "?", 1) == 1 && read(cans[0], &c, 1) == 1, "child: no answer");
	CHECK(c == 'P', "child: page %d lost its contents", c - 1);
	c = 0;
	CHECK(write(greq[1], "?", 1) == 1 && read(gans[0], &c, 1) == 1, "grandchild: no answer");
	CHECK(c == 'P', "grandchild: page %d lost its contents", c - 1);
	if (geteuid() == 0) {
		rc = shared(getpid(), child);
		cg = shared(child, gchild);
		fprintf(stderr, "cow: of 32 pages nobody wrote since the fork, shared root/child %d, child/grandchild %d\n", rc, cg);
		if (want_shared)
			CHECK(rc == 32 && cg == 32, "pages 32-63 not shared: root/child %d, child/grandchild %d", rc, cg);
	}
	int ret = crt_finish();
	close(creq[1]);
	close(greq[1]);
	waitpid(child, NULL, 0);
	return ret;
}
