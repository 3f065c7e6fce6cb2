/* vmaflags: mappings whose flags come from mlock, mmap and madvise, as
 * /proc/PID/smaps shows them on its VmFlags line.
 *   locked:    mlock()ed after it was written ("lo", every page resident);
 *   maplocked: mmap(MAP_LOCKED) ("lo");
 *   dontfork, wipeonfork, hugepage, nohugepage, dontdump, sequential,
 *   random, mergeable (when KSM is there): madvise() ("dc", "wf", "hg",
 *   "nh", "dd", "sr", "rr", "mg");
 *   noreserve: mmap(MAP_NORESERVE) ("nr");
 *   droppable: mmap(MAP_DROPPABLE) ("dp", kernel 6.11+);
 *   growsdown: mmap(MAP_GROWSDOWN) at an address with room below ("gd");
 *   protnone:  3 pages written, the middle one then made PROT_NONE;
 *   with VMAFLAGS_MCL_FUTURE=1 also a child that called
 *   mlockall(MCL_FUTURE): a mapping it makes afterwards is locked (off by
 *   default: neither CRIU nor criugo keeps MCL_FUTURE, mm->def_flags).
 * With VMAFLAGS_AIO=1 also an AIO context (io_setup) with a completed
 * read whose event is not reaped, restored as the aio program's are; with
 * VMAFLAGS_URING=1 an io_uring instance with its rings mapped
 * (VMAFLAGS_URING=fd: the fd alone), which a dump must refuse while the
 * program runs on (pkg/dump's TestDumpAsyncRingsRefused); then the event
 * is still there with its result, and the mapped rings still say their
 * sizes.
 * Checks: every mapping is where it was with the same VmFlags but for the
 * accessed/soft-dirty kind ("ac" kept), its pages keep their pattern; the
 * locked ones are resident and count in VmLck; a child forked now sees
 * zeros in wipeonfork, faults in dontfork and the pattern elsewhere; the
 * middle page of protnone faults, holds its pattern once readable again;
 * growsdown grows when the page below it is touched; the MCL_FUTURE child
 * answers that a new mapping of its own is locked. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/aio_abi.h>
#include <linux/io_uring.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "crtest.h"

#ifndef MAP_DROPPABLE
#define MAP_DROPPABLE 0x08
#endif
#ifndef MADV_WIPEONFORK
#define MADV_WIPEONFORK 18
#endif

#define PAGES 4

static long pg;

struct region {
	const char *name;
	int mflags;      /* extra mmap flags */
	int advice;      /* madvise advice, -1 for none */
	int lock;        /* mlock after writing */
	const char *flag; /* the VmFlags name it must show, NULL for none */
	int optional;    /* EINVAL from mmap/madvise: the kernel lacks it, skipped */
	unsigned char *p;
	char before[256]; /* VmFlags before the dump */
};

static struct region regions[] = {
	{ .name = "locked", .advice = -1, .lock = 1, .flag = "lo" },
	{ .name = "maplocked", .mflags = MAP_LOCKED, .advice = -1, .flag = "lo" },
	{ .name = "dontfork", .advice = MADV_DONTFORK, .flag = "dc" },
	{ .name = "wipeonfork", .advice = MADV_WIPEONFORK, .flag = "wf" },
	{ .name = "hugepage", .advice = MADV_HUGEPAGE, .flag = "hg" },
	{ .name = "nohugepage", .advice = MADV_NOHUGEPAGE, .flag = "nh" },
	{ .name = "dontdump", .advice = MADV_DONTDUMP, .flag = "dd" },
	{ .name = "sequential", .advice = MADV_SEQUENTIAL, .flag = "sr" },
	{ .name = "random", .advice = MADV_RANDOM, .flag = "rr" },
	{ .name = "mergeable", .advice = MADV_MERGEABLE, .flag = "mg", .optional = 1 },
	{ .name = "noreserve", .mflags = MAP_NORESERVE, .advice = -1, .flag = "nr" },
	{ .name = "droppable", .mflags = MAP_DROPPABLE, .advice = -1, .flag = "dp", .optional = 1 },
};
#define NREG ((int)(sizeof(regions) / sizeof(regions[0])))

/* vma_flags: the VmFlags line (without the "VmFlags:" and spaces around)
 * of the mapping holding addr, with its start; 0 when found. */
static int vma_flags(pid_t pid, const void *addr, char *out, size_t n, uintptr_t *start)
{
	char path[64], line[512];
	uintptr_t a = (uintptr_t)addr, lo = 0, hi = 0;
	int in = 0, found = -1;

	snprintf(path, sizeof(path), "/proc/%d/smaps", (int)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		unsigned long s, e;
		if (sscanf(line, "%lx-%lx ", &s, &e) == 2 && strchr(line, '-') < strchr(line, ' ')) {
			lo = s;
			hi = e;
			in = a >= lo && a < hi;
			continue;
		}
		if (in && !strncmp(line, "VmFlags:", 8)) {
			char *v = line + 8;
			while (*v == ' ')
				v++;
			v[strcspn(v, "\n")] = 0;
			while (*v && v[strlen(v) - 1] == ' ')
				v[strlen(v) - 1] = 0;
			snprintf(out, n, "%s", v);
			if (start)
				*start = lo;
			found = 0;
			break;
		}
	}
	fclose(f);
	return found;
}

/* has_flag: whether a VmFlags line ("rd wr mr ...") names flag. */
static int has_flag(const char *flags, const char *name)
{
	for (const char *p = flags; p[0] && p[1]; p += 3) {
		if (p[0] == name[0] && p[1] == name[1])
			return 1;
		if (!p[2])
			break;
	}
	return 0;
}

/* same_flags: whether two VmFlags lines name the same flags, in any order. */
static int same_flags(const char *a, const char *b)
{
	if (strlen(a) != strlen(b))
		return 0;
	for (const char *p = a; p[0] && p[1]; p += 3) {
		char name[3] = { p[0], p[1], 0 };
		if (!has_flag(b, name))
			return 0;
		if (!p[2])
			break;
	}
	return 1;
}

static void fill(unsigned char *p, long len, int seed)
{
	for (long i = 0; i < len; i++)
		p[i] = (unsigned char)(seed * 37 + i / pg * 11 + 1);
}

static int filled(const unsigned char *p, long len, int seed)
{
	for (long i = 0; i < len; i++)
		if (p[i] != (unsigned char)(seed * 37 + i / pg * 11 + 1))
			return 0;
	return 1;
}


static long vmlck_kb(void)
{
	char line[256];
	long kb = -1;
	FILE *f = fopen("/proc/self/status", "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmLck: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

static int resident(const void *p, long len)
{
	unsigned char vec[PAGES];
	if (mincore((void *)p, len, vec))
		return 0;
	for (long i = 0; i < len / pg; i++)
		if (!(vec[i] & 1))
			return 0;
	return 1;
}

/* The MCL_FUTURE child: on each byte from req it maps a new page and
 * answers 'L' if it is locked, 'U' if not, 'E' on an error. */
static void future_child(int req, int ans)
{
	char c, flags[256];

	if (mlockall(MCL_FUTURE)) {
		c = 'E';
		(void)!write(ans, &c, 1);
		_exit(1);
	}
	c = 'R';
	(void)!write(ans, &c, 1);
	while (read(req, &c, 1) == 1) {
		void *p = mmap(NULL, pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		c = 'E';
		if (p != MAP_FAILED && !vma_flags(getpid(), p, flags, sizeof(flags), NULL))
			c = has_flag(flags, "lo") ? 'L' : 'U';
		if (p != MAP_FAILED)
			munmap(p, pg);
		(void)!write(ans, &c, 1);
	}
	_exit(0);
}

int main(int argc, char **argv)
{
	crt_init(argc, argv);
	pg = sysconf(_SC_PAGESIZE);
	long len = PAGES * pg;
	int future = getenv("VMAFLAGS_MCL_FUTURE") != NULL;

	for (int i = 0; i < NREG; i++) {
		struct region *r = &regions[i];
		/* MAP_DROPPABLE is a mapping type of its own, not MAP_PRIVATE. */
		int type = r->mflags == MAP_DROPPABLE ? 0 : MAP_PRIVATE;
		r->p = mmap(NULL, len, PROT_READ | PROT_WRITE, type | MAP_ANONYMOUS | r->mflags, -1, 0);
		if (r->p == MAP_FAILED) {
			if (r->optional && errno == EINVAL) {
				r->p = NULL;
				continue;
			}
			crt_setup_fail("mmap %s: %s", r->name, strerror(errno));
		}
		fill(r->p, len, i);
		if (r->advice >= 0 && madvise(r->p, len, r->advice)) {
			if (r->optional && errno == EINVAL) {
				munmap(r->p, len);
				r->p = NULL;
				continue;
			}
			crt_setup_fail("madvise %s: %s", r->name, strerror(errno));
		}
		if (r->lock && mlock(r->p, len))
			crt_setup_fail("mlock %s: %s", r->name, strerror(errno));
		if (vma_flags(getpid(), r->p, r->before, sizeof(r->before), NULL))
			crt_setup_fail("no smaps entry for %s", r->name);
		if (!has_flag(r->before, r->flag))
			crt_setup_fail("%s: no \"%s\" in VmFlags \"%s\"", r->name, r->flag, r->before);
	}

	/* growsdown: mapped high in the lower half of the address space,
	 * where nothing else is, so that the page below it is free to grow
	 * into. */
	unsigned char *gd = mmap((void *)0x300000000000UL, len, PROT_READ | PROT_WRITE,
				 MAP_PRIVATE | MAP_ANONYMOUS | MAP_GROWSDOWN | MAP_FIXED_NOREPLACE, -1, 0);
	if (gd == MAP_FAILED)
		crt_setup_fail("mmap growsdown: %s", strerror(errno));
	fill(gd, len, 100);
	char gdflags[256];
	if (vma_flags(getpid(), gd, gdflags, sizeof(gdflags), NULL) || !has_flag(gdflags, "gd"))
		crt_setup_fail("growsdown: no \"gd\" in VmFlags \"%s\"", gdflags);

	/* protnone: the middle page keeps data it cannot be read through. */
	unsigned char *pn = mmap(NULL, 3 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (pn == MAP_FAILED)
		crt_setup_fail("mmap protnone: %s", strerror(errno));
	fill(pn, 3 * pg, 101);
	if (mprotect(pn + pg, pg, PROT_NONE))
		crt_setup_fail("mprotect PROT_NONE: %s", strerror(errno));

	int req[2], ans[2];
	pid_t child = -1;
	char c;
	if (future) {
		if (pipe(req) || pipe(ans))
			crt_setup_fail("pipe: %s", strerror(errno));
		child = fork();
		if (child < 0)
			crt_setup_fail("fork: %s", strerror(errno));
		if (child == 0) {
			close(req[1]);
			close(ans[0]);
			future_child(req[0], ans[1]);
		}
		close(req[0]);
		close(ans[1]);
		if (read(ans[0], &c, 1) != 1 || c != 'R')
			crt_setup_fail("mlockall(MCL_FUTURE) in the child failed");
		if (write(req[1], "?", 1) != 1 || read(ans[0], &c, 1) != 1 || c != 'L')
			crt_setup_fail("the MCL_FUTURE child's new mapping is not locked (%c)", c);
	}
	long lck_before = vmlck_kb();

	aio_context_t aio = 0;
	char aiobuf[16];
	if (getenv("VMAFLAGS_AIO")) {
		int z = open("/dev/zero", O_RDONLY);
		struct iocb cb, *cbs[1] = { &cb };
		memset(&cb, 0, sizeof(cb));
		cb.aio_fildes = z;
		cb.aio_lio_opcode = IOCB_CMD_PREAD;
		cb.aio_buf = (uintptr_t)aiobuf;
		cb.aio_nbytes = sizeof(aiobuf);
		cb.aio_data = 42;
		if (z < 0 || syscall(SYS_io_setup, 4, &aio) || syscall(SYS_io_submit, aio, 1, cbs) != 1)
			crt_setup_fail("io_setup/io_submit: %s", strerror(errno));
	}
	int uring = -1;
	struct io_uring_params up;
	unsigned char *cq = NULL;
	size_t cqlen = 0;
	if (getenv("VMAFLAGS_URING")) {
		memset(&up, 0, sizeof(up));
		uring = syscall(SYS_io_uring_setup, 4, &up);
		if (uring < 0)
			crt_setup_fail("io_uring_setup: %s", strerror(errno));
		cqlen = up.cq_off.cqes + up.cq_entries * sizeof(struct io_uring_cqe);
		if (!strcmp(getenv("VMAFLAGS_URING"), "fd"))
			goto uring_done; /* the fd alone, no rings mapped */
		cq = mmap(NULL, cqlen, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, uring, IORING_OFF_CQ_RING);
		if (cq == MAP_FAILED)
			crt_setup_fail("mmap io_uring rings: %s", strerror(errno));
	}
uring_done:

	crt_ready();
	crt_wait();

	for (int i = 0; i < NREG; i++) {
		struct region *r = &regions[i];
		char now[256];
		uintptr_t start;
		if (!r->p)
			continue;
		if (vma_flags(getpid(), r->p, now, sizeof(now), &start)) {
			CHECK(0, "%s: no mapping at %p any more", r->name, (void *)r->p);
			continue;
		}
		CHECK(same_flags(now, r->before), "%s: VmFlags \"%s\", before \"%s\"", r->name, now, r->before);
		if (r->mflags == MAP_DROPPABLE) {
			/* The kernel may drop its pages (CRIU does not dump them):
			 * each page holds its pattern or zeros. */
			for (long k = 0; k < PAGES; k++) {
				unsigned char *q = r->p + k * pg;
				int zero = 1, pat = 1;
				for (long j = 0; j < pg; j++) {
					zero &= q[j] == 0;
					pat &= q[j] == (unsigned char)(i * 37 + k * 11 + 1);
				}
				CHECK(zero || pat, "%s: page %ld neither its pattern nor zeros", r->name, k);
			}
		} else {
			CHECK(filled(r->p, len, i), "%s: pattern lost", r->name);
		}
		if (has_flag(r->flag, "lo"))
			CHECK(resident(r->p, len), "%s: locked but not resident", r->name);
	}
	long lck = vmlck_kb();
	CHECK(lck == lck_before, "VmLck %ld kB, before %ld kB", lck, lck_before);

	/* What a fork makes of them. */
	int st[2];
	if (pipe(st) == 0) {
		pid_t k = fork();
		if (k == 0) {
			char res = 'P';
			for (int i = 0; i < NREG && res == 'P'; i++) {
				struct region *r = &regions[i];
				if (!r->p)
					continue;
				if (r->advice == MADV_DONTFORK)
					res = crt_faults(r->p) ? 'P' : 'd';
				else if (r->advice == MADV_WIPEONFORK)
					res = r->p[0] == 0 && r->p[len - 1] == 0 ? 'P' : 'w';
				else if (r->mflags != MAP_DROPPABLE)
					res = filled(r->p, len, i) ? 'P' : 'o';
			}
			(void)!write(st[1], &res, 1);
			_exit(0);
		}
		close(st[1]);
		char res = 0;
		CHECK(k > 0 && read(st[0], &res, 1) == 1, "fork: no answer");
		CHECK(res == 'P', "in a child forked now: %s",
		      res == 'd' ? "dontfork is mapped" : res == 'w' ? "wipeonfork is not wiped" : "a mapping lost its pattern");
		close(st[0]);
		if (k > 0)
			waitpid(k, NULL, 0);
	}

	char now[256];
	uintptr_t start = 0;
	CHECK(!vma_flags(getpid(), gd, now, sizeof(now), &start) && has_flag(now, "gd") && start == (uintptr_t)gd,
	      "growsdown: VmFlags \"%s\" at %#lx", now, (unsigned long)start);
	CHECK(filled(gd, len, 100), "growsdown: pattern lost");
	CHECK(!crt_faults(gd - pg), "growsdown: the page below faults");
	CHECK(!vma_flags(getpid(), gd, now, sizeof(now), &start) && start == (uintptr_t)(gd - pg),
	      "growsdown: did not grow (starts at %#lx)", (unsigned long)start);

	CHECK(!crt_faults(pn) && !crt_faults(pn + 2 * pg), "protnone: the readable pages fault");
	CHECK(crt_faults(pn + pg), "protnone: the PROT_NONE page can be read");
	CHECK(!vma_flags(getpid(), pn + pg, now, sizeof(now), &start) && start == (uintptr_t)(pn + pg) &&
		      !has_flag(now, "rd") && has_flag(now, "mr"),
	      "protnone: VmFlags \"%s\" at %#lx", now, (unsigned long)start);
	CHECK(mprotect(pn + pg, pg, PROT_READ) == 0, "protnone: mprotect: %s", strerror(errno));
	CHECK(filled(pn, 3 * pg, 101), "protnone: pattern lost");

	if (aio) {
		struct io_event ev;
		struct timespec ts = { 5, 0 };
		long n = syscall(SYS_io_getevents, aio, 1, 1, &ev, &ts);
		CHECK(n == 1 && ev.data == 42 && ev.res == sizeof(aiobuf), "AIO: %ld events (data %llu, res %lld)", n,
		      (unsigned long long)ev.data, (long long)ev.res);
		syscall(SYS_io_destroy, aio);
	}
	if (uring >= 0)
		CHECK(fcntl(uring, F_GETFD) >= 0, "io_uring: fd %d closed", uring);
	if (cq) {
		unsigned entries = *(unsigned *)(cq + up.cq_off.ring_entries);
		CHECK(entries == up.cq_entries, "io_uring: CQ ring says %u entries, want %u", entries, up.cq_entries);
	}
	if (future) {
		c = 0;
		CHECK(write(req[1], "?", 1) == 1 && read(ans[0], &c, 1) == 1, "MCL_FUTURE child: no answer");
		CHECK(c == 'L', "MCL_FUTURE child: a new mapping is %s", c == 'U' ? "not locked" : "not made");
		close(req[1]);
		waitpid(child, NULL, 0);
	}
	return crt_finish();
}
