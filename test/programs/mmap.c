/* mmap: kinds of memory mappings.
 *   anon:    16 private anonymous pages, each with its own pattern;
 *   shared:  4 shared anonymous pages shared with a child process, which
 *            answers requests through them (and wrote page 2);
 *   fshared: 3 pages of mmap.file mapped MAP_SHARED, written through the map;
 *   fpriv:   the same file mapped MAP_PRIVATE, page 0 changed (copy on write);
 *   guard:   3 pages, the middle one PROT_NONE;
 *   untouched: 256 pages never touched (MAP_NORESERVE, no huge pages).
 * Checks: all contents; the child still shares the memory; the shared file
 * mapping still writes through to the file and the private one does not;
 * the guard page is still PROT_NONE between its neighbours; the untouched
 * region is still not resident and reads as zeros. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "crtest.h"

#define ANON_PAGES 16
#define UNTOUCHED_PAGES 256

struct share {
	volatile long req, ack, resp;
	volatile int child_ready;
};

static long pg;

static void child(struct share *sh, unsigned char *shared, pid_t parent)
{
	memset(shared + 2 * pg, 0xc2, pg);
	sh->child_ready = 1;
	for (;;) {
		long r = sh->req;
		if (r == -1)
			_exit(0);
		if (getppid() != parent)
			_exit(1); /* orphaned: the test was killed */
		if (r != sh->ack) {
			sh->resp = r * 3;
			__sync_synchronize();
			sh->ack = r;
		}
		usleep(1000);
	}
}

/* Finds the line of /proc/self/maps for addr and returns its permissions. */
static const char *perms_at(void *addr, char out[5])
{
	char line[512];
	FILE *f = fopen("/proc/self/maps", "r");

	strcpy(out, "none");
	while (f && fgets(line, sizeof(line), f)) {
		unsigned long lo, hi;
		char perm[5];
		if (sscanf(line, "%lx-%lx %4s", &lo, &hi, perm) == 3 && lo <= (uintptr_t)addr && (uintptr_t)addr < hi) {
			strcpy(out, perm);
			break;
		}
	}
	if (f)
		fclose(f);
	return out;
}

static unsigned char anon_pat(int page, int i)
{
	return (unsigned char)(page * 7 + 1 + (i & 0xf));
}

int main(int argc, char **argv)
{
	crt_init(argc, argv);
	pg = sysconf(_SC_PAGESIZE);
	int prot = PROT_READ | PROT_WRITE;

	unsigned char *anon = mmap(NULL, ANON_PAGES * pg, prot, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	unsigned char *shared = mmap(NULL, 4 * pg, prot, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	unsigned char *guard = mmap(NULL, 3 * pg, prot, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	unsigned char *untouched = mmap(NULL, UNTOUCHED_PAGES * pg, prot, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (anon == MAP_FAILED || shared == MAP_FAILED || guard == MAP_FAILED || untouched == MAP_FAILED)
		crt_setup_fail("mmap: %s", strerror(errno));
	madvise(untouched, UNTOUCHED_PAGES * pg, MADV_NOHUGEPAGE);

	char *fpath = crt_path("mmap.file");
	int fd = open(fpath, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || ftruncate(fd, 3 * pg))
		crt_setup_fail("mmap.file: %s", strerror(errno));
	for (int p = 0; p < 3; p++) {
		char buf[64];
		int n = snprintf(buf, sizeof(buf), "file page %d", p);
		if (pwrite(fd, buf, n, p * pg) != n)
			crt_setup_fail("write mmap.file: %s", strerror(errno));
	}
	char *fshared = mmap(NULL, 3 * pg, prot, MAP_SHARED, fd, 0);
	char *fpriv = mmap(NULL, 3 * pg, prot, MAP_PRIVATE, fd, 0);
	if (fshared == MAP_FAILED || fpriv == MAP_FAILED)
		crt_setup_fail("mmap file: %s", strerror(errno));

	for (int p = 0; p < ANON_PAGES; p++)
		for (int i = 0; i < pg; i++)
			anon[p * pg + i] = anon_pat(p, i);
	memset(shared + pg, 0xb1, pg);
	struct share *sh = (struct share *)shared;
	strcpy(fshared + pg + 100, "written through the shared map");
	strcpy(fpriv, "private copy");
	memset(guard, 0x11, pg);
	memset(guard + 2 * pg, 0x33, pg);
	if (mprotect(guard + pg, pg, PROT_NONE))
		crt_setup_fail("mprotect: %s", strerror(errno));

	pid_t parent = getpid(), kid = fork();
	if (kid < 0)
		crt_setup_fail("fork: %s", strerror(errno));
	if (kid == 0)
		child(sh, shared, parent);
	while (!sh->child_ready)
		crt_sleep_ms(1);
	crt_ready();
	crt_wait();

	/* Untouched first: any read below would fault pages in. */
	unsigned char vec[UNTOUCHED_PAGES];
	int resident = 0;
	if (mincore(untouched, UNTOUCHED_PAGES * pg, vec) == 0) {
		for (int p = 0; p < UNTOUCHED_PAGES; p++)
			resident += vec[p] & 1;
		CHECK(resident == 0, "%d of %d untouched pages are resident", resident, UNTOUCHED_PAGES);
	} else {
		CHECK(0, "mincore: %s", strerror(errno));
	}
	int nonzero = 0;
	for (long i = 0; i < UNTOUCHED_PAGES * pg; i++)
		nonzero += untouched[i] != 0;
	CHECK(nonzero == 0, "untouched region has %d non-zero bytes", nonzero);

	int bad = -1;
	for (int p = 0; p < ANON_PAGES && bad < 0; p++)
		for (int i = 0; i < pg; i++)
			if (anon[p * pg + i] != anon_pat(p, i)) {
				bad = p;
				break;
			}
	CHECK(bad < 0, "private anonymous page %d wrong", bad);

	CHECK(shared[pg] == 0xb1 && shared[2 * pg - 1] == 0xb1, "shared page 1 (parent's) wrong");
	CHECK(shared[2 * pg] == 0xc2 && shared[3 * pg - 1] == 0xc2, "shared page 2 (child's) wrong");
	sh->req = 14;
	for (int ms = 0; sh->ack != 14 && ms < 10000; ms += 5)
		crt_sleep_ms(5);
	__sync_synchronize();
	CHECK(sh->ack == 14 && sh->resp == 42, "child does not answer through shared memory (ack %ld resp %ld)", sh->ack,
	      sh->resp);

	char buf[64] = "";
	CHECK(pread(fd, buf, 31, pg + 100) == 31 && !strcmp(buf, "written through the shared map"),
	      "file lacks what the shared map wrote: %s", buf);
	strcpy(fshared + 2 * pg, "after restore");
	CHECK(pread(fd, buf, 14, 2 * pg) == 14 && !strcmp(buf, "after restore"), "shared map no longer writes the file");
	CHECK(!strcmp(fpriv, "private copy"), "private file page 0 holds %.20s", fpriv);
	CHECK(pread(fd, buf, 12, 0) == 12 && !memcmp(buf, "file page 0", 11), "private write reached the file");
	CHECK(!strcmp(fpriv + pg, "file page 1"), "private file page 1 holds %.20s", fpriv + pg);

	char p0[5], p1[5], p2[5];
	perms_at(guard, p0);
	perms_at(guard + pg, p1);
	perms_at(guard + 2 * pg, p2);
	CHECK(!strcmp(p0, "rw-p") && !strcmp(p1, "---p") && !strcmp(p2, "rw-p"), "guard perms %s %s %s", p0, p1, p2);
	CHECK(guard[0] == 0x11 && guard[pg - 1] == 0x11 && guard[2 * pg] == 0x33 && guard[3 * pg - 1] == 0x33,
	      "guard neighbours wrong");

	sh->req = -1;
	int st;
	CHECK(waitpid(kid, &st, 0) == kid && WIFEXITED(st) && WEXITSTATUS(st) == 0, "child did not exit cleanly");
	return crt_finish();
}
