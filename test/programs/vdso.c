/* vdso: time through the vDSO. Two threads call clock_gettime (several
 * clocks), gettimeofday, time, getcpu and clock_getres through the entry
 * points the vDSO exports (found by their names in its symbol table, as
 * the C library finds them), between short sleeps.
 * Checks, after SIGTERM: every vDSO call agrees with the same system call
 * made around it (raw syscall(2)): monotonic clocks fall between the two
 * syscalls' readings, wall clocks within 50 ms of them, time() within a
 * second, getcpu names a CPU that exists, clock_getres gives what the
 * system call gives; and no vDSO call failed while it ran. Restored on a
 * kernel whose vDSO is another, the calls must reach this kernel's code.
 * With VDSO_SPIN=1 in its environment the worker thread instead calls
 * clock_gettime(CLOCK_MONOTONIC) and time() through the vDSO back to back,
 * so that a dump often stops it inside the vDSO, and checks that the
 * clock never goes back and time() is never 0. */
#define _GNU_SOURCE
#include <elf.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "crtest.h"

typedef int (*gettime_fn)(clockid_t, struct timespec *);
typedef int (*gettimeofday_fn)(struct timeval *, void *);
typedef time_t (*time_fn)(time_t *);
typedef long (*getcpu_fn)(unsigned *, unsigned *, void *);

static gettime_fn v_gettime, v_getres;
static gettimeofday_fn v_gettimeofday;
static time_fn v_time;
static getcpu_fn v_getcpu;

/* vdso_sym finds an exported symbol of the vDSO by name through its
 * dynamic section (the vDSO has no section headers a program may rely on). */
static void *vdso_sym(const char *name)
{
	uintptr_t base = getauxval(AT_SYSINFO_EHDR);
	if (!base)
		return NULL;
	Elf64_Ehdr *eh = (Elf64_Ehdr *)base;
	Elf64_Phdr *ph = (Elf64_Phdr *)(base + eh->e_phoff);
	uintptr_t load = 0;
	Elf64_Dyn *dyn = NULL;
	for (int i = 0; i < eh->e_phnum; i++) {
		if (ph[i].p_type == PT_LOAD && !load)
			load = base + ph[i].p_offset - ph[i].p_vaddr;
		if (ph[i].p_type == PT_DYNAMIC)
			dyn = (Elf64_Dyn *)(base + ph[i].p_offset);
	}
	if (!dyn)
		return NULL;
	Elf64_Sym *sym = NULL;
	const char *str = NULL;
	uint32_t *hash = NULL;
	for (; dyn->d_tag != DT_NULL; dyn++) {
		switch (dyn->d_tag) {
		case DT_SYMTAB: sym = (Elf64_Sym *)(load + dyn->d_un.d_ptr); break;
		case DT_STRTAB: str = (const char *)(load + dyn->d_un.d_ptr); break;
		case DT_HASH: hash = (uint32_t *)(load + dyn->d_un.d_ptr); break;
		}
	}
	if (!sym || !str || !hash)
		return NULL;
	for (uint32_t i = 0; i < hash[1]; i++) {
		if (ELF64_ST_TYPE(sym[i].st_info) == STT_FUNC && sym[i].st_shndx != SHN_UNDEF &&
		    strcmp(str + sym[i].st_name, name) == 0)
			return (void *)(load + sym[i].st_value);
	}
	return NULL;
}

static volatile int failed;
static char failure[256];
static pthread_mutex_t fail_lock = PTHREAD_MUTEX_INITIALIZER;

static void fail(const char *what)
{
	pthread_mutex_lock(&fail_lock);
	if (!failed) {
		snprintf(failure, sizeof(failure), "%s", what);
		failed = 1;
	}
	pthread_mutex_unlock(&fail_lock);
}

static long long ns(const struct timespec *t)
{
	return (long long)t->tv_sec * 1000000000LL + t->tv_nsec;
}

static int nr_cpus;

/* check_once makes every vDSO call between system calls and records the
 * first disagreement in buf; it returns 0 if all agree. */
static int check_once(char *buf, size_t len)
{
	static const clockid_t mono[] = {CLOCK_MONOTONIC, CLOCK_MONOTONIC_RAW, CLOCK_BOOTTIME, CLOCK_MONOTONIC_COARSE};
	static const clockid_t wall[] = {CLOCK_REALTIME, CLOCK_REALTIME_COARSE};
	struct timespec a, v, b;

	for (unsigned i = 0; i < sizeof(mono) / sizeof(mono[0]); i++) {
		syscall(SYS_clock_gettime, mono[i], &a);
		int r = v_gettime(mono[i], &v);
		syscall(SYS_clock_gettime, mono[i], &b);
		/* A coarse clock may lag the fine reading by a tick. */
		long long slack = mono[i] == CLOCK_MONOTONIC_COARSE ? 20000000LL : 0;
		if (r != 0 || ns(&v) < ns(&a) - slack || ns(&v) > ns(&b) + slack) {
			snprintf(buf, len, "clock %d: vdso %d %lld.%09ld, syscalls %lld.%09ld .. %lld.%09ld", mono[i], r,
				 (long long)v.tv_sec, v.tv_nsec, (long long)a.tv_sec, a.tv_nsec, (long long)b.tv_sec, b.tv_nsec);
			return -1;
		}
	}
	for (unsigned i = 0; i < sizeof(wall) / sizeof(wall[0]); i++) {
		syscall(SYS_clock_gettime, wall[i], &a);
		int r = v_gettime(wall[i], &v);
		syscall(SYS_clock_gettime, wall[i], &b);
		if (r != 0 || ns(&v) < ns(&a) - 50000000LL || ns(&v) > ns(&b) + 50000000LL) {
			snprintf(buf, len, "clock %d: vdso %d %lld.%09ld, syscalls %lld.%09ld .. %lld.%09ld", wall[i], r,
				 (long long)v.tv_sec, v.tv_nsec, (long long)a.tv_sec, a.tv_nsec, (long long)b.tv_sec, b.tv_nsec);
			return -1;
		}
	}
	struct timeval tv, ta, tb;
	syscall(SYS_gettimeofday, &ta, NULL);
	int r = v_gettimeofday(&tv, NULL);
	syscall(SYS_gettimeofday, &tb, NULL);
	long long us = tv.tv_sec * 1000000LL + tv.tv_usec;
	if (r != 0 || us < ta.tv_sec * 1000000LL + ta.tv_usec - 50000 || us > tb.tv_sec * 1000000LL + tb.tv_usec + 50000) {
		snprintf(buf, len, "gettimeofday: vdso %d %lld.%06ld, syscalls %lld.%06ld .. %lld.%06ld", r, (long long)tv.tv_sec,
			 tv.tv_usec, (long long)ta.tv_sec, ta.tv_usec, (long long)tb.tv_sec, tb.tv_usec);
		return -1;
	}
	time_t t0 = syscall(SYS_time, NULL);
	time_t tv2 = v_time(NULL);
	time_t t1 = syscall(SYS_time, NULL);
	if (tv2 < t0 - 1 || tv2 > t1 + 1) {
		snprintf(buf, len, "time: vdso %lld, syscalls %lld .. %lld", (long long)tv2, (long long)t0, (long long)t1);
		return -1;
	}
	unsigned cpu = ~0u, node = ~0u;
	if (v_getcpu(&cpu, &node, NULL) != 0 || cpu >= (unsigned)nr_cpus) {
		snprintf(buf, len, "getcpu: cpu %u of %d", cpu, nr_cpus);
		return -1;
	}
	struct timespec rs, rv;
	syscall(SYS_clock_getres, CLOCK_MONOTONIC, &rs);
	if (v_getres(CLOCK_MONOTONIC, &rv) != 0 || rv.tv_sec != rs.tv_sec || rv.tv_nsec != rs.tv_nsec) {
		snprintf(buf, len, "clock_getres: vdso %lld.%09ld, syscall %lld.%09ld", (long long)rv.tv_sec, rv.tv_nsec,
			 (long long)rs.tv_sec, rs.tv_nsec);
		return -1;
	}
	return 0;
}

static volatile int stop;
static volatile unsigned long rounds;

static void *worker(void *arg)
{
	char buf[256];
	(void)arg;
	while (!stop) {
		if (check_once(buf, sizeof(buf)) != 0)
			fail(buf);
		rounds++;
		crt_sleep_ms(1);
	}
	return NULL;
}

static void *spinner(void *arg)
{
	char buf[128];
	long long prev = 0;
	(void)arg;
	while (!stop) {
		struct timespec ts;
		if (v_gettime(CLOCK_MONOTONIC, &ts) != 0 || ns(&ts) < prev) {
			snprintf(buf, sizeof(buf), "spinner: monotonic clock went from %lld to %lld", prev, ns(&ts));
			fail(buf);
		}
		prev = ns(&ts);
		if (v_time(NULL) == 0)
			fail("spinner: time() gave 0");
		rounds++;
	}
	return NULL;
}

int main(int argc, char **argv)
{
	crt_init(argc, argv);
	nr_cpus = sysconf(_SC_NPROCESSORS_CONF);
	v_gettime = (gettime_fn)vdso_sym("__vdso_clock_gettime");
	v_getres = (gettime_fn)vdso_sym("__vdso_clock_getres");
	v_gettimeofday = (gettimeofday_fn)vdso_sym("__vdso_gettimeofday");
	v_time = (time_fn)vdso_sym("__vdso_time");
	v_getcpu = (getcpu_fn)vdso_sym("__vdso_getcpu");
	if (!v_gettime || !v_getres || !v_gettimeofday || !v_time || !v_getcpu)
		crt_setup_fail("a vDSO entry point is missing");
	char buf[256];
	if (check_once(buf, sizeof(buf)) != 0)
		crt_setup_fail("before C/R: %s", buf);

	pthread_t th;
	const char *spin = getenv("VDSO_SPIN");
	if (pthread_create(&th, NULL, spin && *spin == '1' ? spinner : worker, NULL) != 0)
		crt_setup_fail("pthread_create");
	crt_ready();
	while (!crt_term) {
		if (check_once(buf, sizeof(buf)) != 0)
			fail(buf);
		crt_sleep_ms(1);
	}
	unsigned long seen = rounds;
	for (int i = 0; i < 100; i++) {
		if (check_once(buf, sizeof(buf)) != 0) {
			fail(buf);
			break;
		}
	}
	crt_sleep_ms(20);
	stop = 1;
	pthread_join(th, NULL);
	CHECK(!failed, "%s", failure);
	CHECK(rounds > seen, "the worker thread made no round after SIGTERM (%lu)", rounds);
	return crt_finish();
}
