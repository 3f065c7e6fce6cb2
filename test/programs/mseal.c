/* mseal: mappings sealed with mseal(2) (VmFlags "sl").
 *   whole: 3 private anonymous pages, written, sealed;
 *   middle: 4 pages, the middle two sealed (the mapping splits there);
 *   ro:    a read-only private anonymous page, written before, sealed;
 *   file:  a private read-only mapping of a file of the work directory, sealed.
 * Checks: each sealed range is still sealed ("sl" in smaps, at the same
 * addresses) with its contents; mprotect, munmap, mremap (and
 * madvise(MADV_DONTNEED) of the read-only anonymous one) fail with EPERM
 * and change nothing; the
 * writable sealed pages still take writes; the unsealed pages beside the
 * middle ones are not sealed (mprotect and munmap work on them). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "crtest.h"

#ifndef SYS_mseal
#define SYS_mseal 462
#endif

static long pg;

static int do_mseal(void *p, size_t len) { return syscall(SYS_mseal, p, len, 0); }

/* Whether the mapping holding p is sealed (1), not (0), or absent (-1);
 * its start in *start. */
static int sealed(void *p, unsigned long *start)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	char line[512];
	int in = 0, ret = -1;
	while (f && fgets(line, sizeof(line), f)) {
		unsigned long s, e;
		char c;
		if (sscanf(line, "%lx-%lx%c", &s, &e, &c) == 3 && c == ' ') {
			in = (unsigned long)p >= s && (unsigned long)p < e;
			if (in && start)
				*start = s;
			continue;
		}
		if (in && !strncmp(line, "VmFlags:", 8)) {
			ret = strstr(line, " sl") != NULL;
			break;
		}
	}
	if (f)
		fclose(f);
	return ret;
}

static int filled(unsigned char *p, long len, int seed)
{
	for (long i = 0; i < len; i++)
		if (p[i] != (unsigned char)(seed + i / pg))
			return 0;
	return 1;
}

static void fill(unsigned char *p, long len, int seed)
{
	for (long i = 0; i < len; i++)
		p[i] = (unsigned char)(seed + i / pg);
}

/* Every change a seal forbids fails with EPERM on [p, p+len). */
static void check_locked(const char *name, void *p, long len, int prot, int anon)
{
	errno = 0;
	CHECK(mprotect(p, len, PROT_NONE) < 0 && errno == EPERM, "%s: mprotect: %s", name, errno ? strerror(errno) : "done");
	errno = 0;
	CHECK(munmap(p, len) < 0 && errno == EPERM, "%s: munmap: %s", name, errno ? strerror(errno) : "done");
	errno = 0;
	void *q = mremap(p, len, len + pg, MREMAP_MAYMOVE);
	CHECK(q == MAP_FAILED && errno == EPERM, "%s: mremap: %s", name, q != MAP_FAILED ? "done" : strerror(errno));
	if (anon && !(prot & PROT_WRITE)) {
		/* Discarding pages of a private anonymous mapping the task
		 * cannot write changes what it holds: sealed, refused. */
		errno = 0;
		CHECK(madvise(p, len, MADV_DONTNEED) < 0 && errno == EPERM, "%s: madvise(MADV_DONTNEED): %s", name,
		      errno ? strerror(errno) : "done");
	}
}

struct region {
	const char *name;
	unsigned char *p;
	long len;
	int prot, seed;
	unsigned long start;
};

int main(int argc, char **argv)
{
	crt_init(argc, argv);
	pg = sysconf(_SC_PAGESIZE);
	unsigned char *probe = mmap(NULL, pg, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (probe == MAP_FAILED || do_mseal(probe, pg))
		crt_setup_fail("mseal: %s (kernel 6.10 or later needed)", strerror(errno));

	struct region r[4] = {
		{ .name = "whole", .len = 3 * pg, .prot = PROT_READ | PROT_WRITE, .seed = 10 },
		{ .name = "middle", .len = 2 * pg, .prot = PROT_READ | PROT_WRITE, .seed = 20 },
		{ .name = "ro", .len = pg, .prot = PROT_READ, .seed = 30 },
		{ .name = "file", .len = 2 * pg, .prot = PROT_READ, .seed = 40 },
	};
	r[0].p = mmap(NULL, r[0].len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	unsigned char *mid = mmap(NULL, 4 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	r[2].p = mmap(NULL, pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (r[0].p == MAP_FAILED || mid == MAP_FAILED || r[2].p == MAP_FAILED)
		crt_setup_fail("mmap: %s", strerror(errno));
	r[1].p = mid + pg;
	fill(r[0].p, r[0].len, r[0].seed);
	fill(mid, 4 * pg, 50);
	fill(r[1].p, r[1].len, r[1].seed);
	fill(r[2].p, pg, r[2].seed);
	if (mprotect(r[2].p, pg, PROT_READ))
		crt_setup_fail("mprotect: %s", strerror(errno));

	char *path = crt_path("mseal.data");
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	unsigned char buf[8192];
	if (fd < 0 || 2 * pg > (long)sizeof(buf))
		crt_setup_fail("open %s: %s", path, strerror(errno));
	fill(buf, 2 * pg, r[3].seed);
	if (write(fd, buf, 2 * pg) != 2 * pg)
		crt_setup_fail("write %s: %s", path, strerror(errno));
	r[3].p = mmap(NULL, 2 * pg, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (r[3].p == MAP_FAILED)
		crt_setup_fail("mmap %s: %s", path, strerror(errno));

	for (int i = 0; i < 4; i++) {
		if (do_mseal(r[i].p, r[i].len))
			crt_setup_fail("mseal %s: %s", r[i].name, strerror(errno));
		if (sealed(r[i].p, &r[i].start) != 1)
			crt_setup_fail("%s: not sealed after mseal", r[i].name);
	}
	if (sealed(mid, NULL) != 0 || sealed(mid + 3 * pg, NULL) != 0)
		crt_setup_fail("middle: the pages beside the sealed ones are sealed");

	crt_ready();
	crt_wait();

	for (int i = 0; i < 4; i++) {
		unsigned long start = 0;
		int s = sealed(r[i].p, &start);
		CHECK(s == 1 && start == r[i].start, "%s: sealed %d at %#lx, want 1 at %#lx", r[i].name, s, start, r[i].start);
		CHECK(filled(r[i].p, r[i].len, r[i].seed), "%s: contents lost", r[i].name);
		if (s != 1)
			continue; /* the calls below would change it */
		check_locked(r[i].name, r[i].p, r[i].len, r[i].prot, i < 3);
		CHECK(filled(r[i].p, r[i].len, r[i].seed), "%s: contents changed by a refused call", r[i].name);
		if (r[i].prot & PROT_WRITE) {
			fill(r[i].p, r[i].len, r[i].seed + 1);
			CHECK(filled(r[i].p, r[i].len, r[i].seed + 1), "%s: writes lost", r[i].name);
		}
	}
	CHECK(filled(mid, pg, 50) && filled(mid + 3 * pg, pg, 53), "middle: the unsealed pages lost their contents");
	CHECK(sealed(mid, NULL) == 0 && sealed(mid + 3 * pg, NULL) == 0, "middle: the pages beside the sealed ones are sealed");
	CHECK(mprotect(mid, pg, PROT_READ) == 0 && munmap(mid + 3 * pg, pg) == 0, "middle: the unsealed pages cannot change: %s",
	      strerror(errno));
	return crt_finish();
}
