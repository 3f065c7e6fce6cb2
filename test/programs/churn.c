/* churn: memory that keeps changing while it is dumped, which matters most
 * to a pre-dump (it reads the pages of a tree that runs again).
 *
 * A writer thread fills 8192 private pages, one at a time, with a new
 * generation byte and then records it in gen[]. Every 64 steps it also
 * replaces a 16-page mapping by a new one (munmap, then mmap where the
 * kernel likes) filled with a generation of its own. It writes in bursts
 * with short sleeps, so that it runs all through a dump without taking a
 * core. A step frozen half done is finished after the restore.
 *
 * Checks, once the writer has stopped: every page is whole and holds its
 * recorded generation, the moving mapping holds its own, and the writer
 * had been running before the checkpoint. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "crtest.h"

#define PG 4096
#define NPAGES 8192
#define NMOVE 16

#define barrier() __asm__ __volatile__("" ::: "memory")

static unsigned char *area;
static unsigned char gen[NPAGES];
static volatile unsigned long steps;
static volatile int stop;

static unsigned char *volatile moving;	/* the moving mapping, NULL while replaced */
static volatile unsigned char moving_gen;

static int uniform(const unsigned char *p, size_t n, unsigned char v)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != v)
			return 0;
	return 1;
}

static void replace_moving(void)
{
	unsigned char g = moving_gen + 1;
	unsigned char *old = moving;

	moving = NULL;
	barrier();
	if (munmap(old, NMOVE * PG))
		crt_setup_fail("munmap: %s", strerror(errno));
	unsigned char *m = mmap(NULL, NMOVE * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		crt_setup_fail("mmap: %s", strerror(errno));
	memset(m, g, NMOVE * PG);
	moving_gen = g;
	barrier();
	moving = m;
}

static void *writer(void *arg)
{
	unsigned long i = 0;

	(void)arg;
	while (!stop) {
		for (int k = 0; k < 32; k++) {
			i = (i * 1103515245 + 12345) % NPAGES;
			unsigned char g = gen[i] + 1;
			memset(area + i * PG, g, PG);
			barrier();
			gen[i] = g;
			barrier();
			steps++;
			if (steps % 64 == 0)
				replace_moving();
		}
		usleep(200);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t th;

	crt_init(argc, argv);
	area = mmap(NULL, NPAGES * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (area == MAP_FAILED)
		crt_setup_fail("mmap area: %s", strerror(errno));
	for (long i = 0; i < NPAGES; i++) {
		gen[i] = (unsigned char)(i * 7 + 1);
		memset(area + i * PG, gen[i], PG);
	}
	unsigned char *m = mmap(NULL, NMOVE * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		crt_setup_fail("mmap moving: %s", strerror(errno));
	moving_gen = 1;
	memset(m, 1, NMOVE * PG);
	moving = m;
	if ((errno = pthread_create(&th, NULL, writer, NULL)))
		crt_setup_fail("pthread_create: %s", strerror(errno));
	while (steps < 1000)
		crt_sleep_ms(1);
	crt_ready();
	crt_wait();

	/* The writer ends the burst it is in: every step it began, before
	 * the dump or after the restore, is then complete, so every page must
	 * be whole and hold its recorded generation. A page the dump took
	 * half written from a pre-dump would show here as a mix of two. */
	unsigned long before = steps;
	stop = 1;
	pthread_join(th, NULL);
	for (long i = 0; i < NPAGES; i++)
		CHECK(uniform(area + i * PG, PG, gen[i]),
		      "page %ld not filled with its generation %#x (first byte %#x)", i, gen[i], area[i * PG]);
	CHECK(moving && uniform(moving, NMOVE * PG, moving_gen),
	      "moving mapping not filled with its generation %#x", moving_gen);
	CHECK(before > 1000, "the writer made only %lu steps", before);
	return crt_finish();
}
