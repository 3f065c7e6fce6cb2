/* madvguard: guard regions (madvise MADV_GUARD_INSTALL, kernel 6.13+),
 * which live in page tables only: no line of /proc/PID/maps shows them.
 *   busy:  16 private anonymous pages, each with its own pattern, guards
 *          on pages 4-5 and 10 (installed after the writes);
 *   quiet: 8 pages never touched, a guard on page 3 (a mapping with
 *          nothing resident);
 *   a thread, whose stack glibc 2.41+ guards the same way.
 * Checks: every other page still holds its pattern (or zeros); the guard
 * pages are guards in /proc/self/pagemap (bit 58) and touching one faults
 * (SIGSEGV, caught); the pages next to them do not. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "crtest.h"

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif
#define PM_GUARD_REGION (1ULL << 58)

#define BUSY_PAGES 16
#define QUIET_PAGES 8

static long pg;

/* guard_bit: whether pagemap marks the page at addr as a guard (-1: unreadable). */
static int guard_bit(int pm, void *addr)
{
	uint64_t e;

	if (pread(pm, &e, sizeof(e), (off_t)((uintptr_t)addr / pg * sizeof(e))) != sizeof(e))
		return -1;
	return (e & PM_GUARD_REGION) != 0;
}

static int is_guard(int idx, const int *guards, int n)
{
	for (int i = 0; i < n; i++)
		if (guards[i] == idx)
			return 1;
	return 0;
}

static void *idle(void *arg)
{
	(void)arg;
	for (;;)
		pause();
	return NULL;
}

int main(int argc, char **argv)
{
	static const int busy_guards[] = { 4, 5, 10 };
	static const int quiet_guards[] = { 3 };
	pthread_t th;

	crt_init(argc, argv);
	pg = sysconf(_SC_PAGESIZE);

	unsigned char *busy = mmap(NULL, BUSY_PAGES * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	unsigned char *quiet = mmap(NULL, QUIET_PAGES * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (busy == MAP_FAILED || quiet == MAP_FAILED)
		crt_setup_fail("mmap: %s", strerror(errno));
	for (int i = 0; i < BUSY_PAGES; i++)
		memset(busy + i * pg, 0x40 + i, pg);
	if (madvise(busy + 4 * pg, 2 * pg, MADV_GUARD_INSTALL) || madvise(busy + 10 * pg, pg, MADV_GUARD_INSTALL) ||
	    madvise(quiet + 3 * pg, pg, MADV_GUARD_INSTALL))
		crt_setup_fail("madvise MADV_GUARD_INSTALL: %s", strerror(errno));
	if (pthread_create(&th, NULL, idle, NULL))
		crt_setup_fail("pthread_create");

	crt_ready();
	crt_wait();

	int pm = open("/proc/self/pagemap", O_RDONLY);
	CHECK(pm >= 0, "open pagemap: %s", strerror(errno));
	for (int i = 0; i < BUSY_PAGES; i++) {
		unsigned char *p = busy + i * pg;
		int g = is_guard(i, busy_guards, 3);
		CHECK(guard_bit(pm, p) == g, "busy page %d: pagemap guard bit %d, want %d", i, guard_bit(pm, p), g);
		CHECK(crt_faults(p) == g, "busy page %d: %s", i, g ? "guard does not fault" : "faults");
		if (!g) {
			int ok = 1;
			for (long j = 0; j < pg; j++)
				ok &= p[j] == 0x40 + i;
			CHECK(ok, "busy page %d: pattern lost", i);
		}
	}
	for (int i = 0; i < QUIET_PAGES; i++) {
		unsigned char *p = quiet + i * pg;
		int g = is_guard(i, quiet_guards, 1);
		CHECK(guard_bit(pm, p) == g, "quiet page %d: pagemap guard bit %d, want %d", i, guard_bit(pm, p), g);
		CHECK(crt_faults(p) == g, "quiet page %d: %s", i, g ? "guard does not fault" : "faults");
		if (!g)
			CHECK(p[0] == 0 && p[pg - 1] == 0, "quiet page %d not zero", i);
	}
	return crt_finish();
}
