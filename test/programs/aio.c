/* aio: AIO contexts (io_setup) and their completion rings.
 *   a: 8 reads of a file submitted, 3 reaped: 5 completions wait in the ring;
 *   b: its ring gone round: more completions submitted and reaped than it
 *      holds, 10 waiting across the end of the ring (tail below head);
 *   c: a context with nothing submitted.
 * Checks: each context is still the ring mapped at its address ("/[aio]"
 * in /proc/self/maps, the same size), the ring's header (magic, nr, head,
 * tail), the waiting completions come out of io_getevents in order with
 * their data, result and object; then each context takes new requests and
 * completes them (the kernel's own head and tail agree with the ring's),
 * round the ring again for b; io_destroy of each. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/aio_abi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "crtest.h"

/* The ring the kernel maps at the context's address (fs/aio.c). */
struct aio_ring {
	unsigned id, nr, head, tail;
	unsigned magic, compat_features, incompat_features, header_length;
	struct io_event io_events[];
};

#define AIO_RING_MAGIC 0xa10a10a1

static int fd;
static char bufs[64][8];

static long io_setup(unsigned nr, aio_context_t *ctx) { return syscall(SYS_io_setup, nr, ctx); }
static long io_destroy(aio_context_t ctx) { return syscall(SYS_io_destroy, ctx); }

/* Submits n reads of 8 bytes at offsets off, off+8, ... with aio_data
 * base, base+1, ...; returns how many the kernel took. */
static long submit(aio_context_t ctx, int n, int off, uint64_t base)
{
	struct iocb cb[64], *cbs[64];
	if (n > 64)
		n = 64;
	for (int i = 0; i < n; i++) {
		memset(&cb[i], 0, sizeof(cb[i]));
		cb[i].aio_fildes = fd;
		cb[i].aio_lio_opcode = IOCB_CMD_PREAD;
		cb[i].aio_buf = (uintptr_t)bufs[(off / 8 + i) % 64];
		cb[i].aio_nbytes = 8;
		cb[i].aio_offset = (off + 8 * i) % 4096;
		cb[i].aio_data = base + i;
		cbs[i] = &cb[i];
	}
	return syscall(SYS_io_submit, ctx, n, cbs);
}

/* Reaps exactly n completions, which must carry data base, base+1, ...
 * and each its 8 bytes read; returns 0 or -1. */
static int reap(aio_context_t ctx, int n, uint64_t base, const char *what)
{
	struct io_event ev[64];
	struct timespec ts = { 1, 0 };
	while (n > 0) {
		int k = n > 64 ? 64 : n;
		long got = syscall(SYS_io_getevents, ctx, k, k, ev, &ts);
		if (got != k) {
			CHECK(0, "%s: io_getevents: %ld of %d (%s)", what, got, k, strerror(errno));
			return -1;
		}
		for (int i = 0; i < k; i++) {
			if (ev[i].data != base + i || ev[i].res != 8) {
				CHECK(0, "%s: event %d: data %llu res %lld, want %llu 8", what, i,
				      (unsigned long long)ev[i].data, (long long)ev[i].res, (unsigned long long)(base + i));
				return -1;
			}
		}
		base += k;
		n -= k;
	}
	/* Nothing more. */
	struct timespec zero = { 0, 0 };
	long more = syscall(SYS_io_getevents, ctx, 0, 1, ev, &zero);
	CHECK(more == 0, "%s: %ld more events than expected", what, more);
	return 0;
}

/* Submits and reaps n in steps of at most step. */
static void cycle(aio_context_t ctx, int n, int step, uint64_t base, const char *what)
{
	while (n > 0) {
		int k = n > step ? step : n;
		if (submit(ctx, k, 0, base) != k)
			crt_setup_fail("%s: io_submit: %s", what, strerror(errno));
		if (reap(ctx, k, base, what))
			crt_setup_fail("%s: reap failed", what);
		base += k;
		n -= k;
	}
}

/* The mapping at addr in /proc/self/maps: its size and name. */
static long ring_mapping(aio_context_t ctx, char *name, size_t len)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];
	long size = -1;
	name[0] = 0;
	while (f && fgets(line, sizeof(line), f)) {
		unsigned long s, e;
		char path[256] = "";
		if (sscanf(line, "%lx-%lx %*s %*s %*s %*s %255[^\n]", &s, &e, path) < 2)
			continue;
		if (s == (unsigned long)ctx) {
			size = e - s;
			snprintf(name, len, "%s", path);
			break;
		}
	}
	if (f)
		fclose(f);
	return size;
}

struct ctxinfo {
	const char *name;
	aio_context_t ctx;
	long size;
	unsigned nr, head, tail;
};

static void record(struct ctxinfo *c)
{
	char name[256];
	struct aio_ring *r = (struct aio_ring *)c->ctx;
	c->size = ring_mapping(c->ctx, name, sizeof(name));
	if (c->size <= 0 || strncmp(name, "/[aio]", 6))
		crt_setup_fail("%s: no ring mapped at %#lx (%s)", c->name, (unsigned long)c->ctx, name);
	c->nr = r->nr;
	c->head = r->head;
	c->tail = r->tail;
}

static void check_ring(struct ctxinfo *c)
{
	char name[256];
	struct aio_ring *r = (struct aio_ring *)c->ctx;
	long size = ring_mapping(c->ctx, name, sizeof(name));
	if (size != c->size || strncmp(name, "/[aio]", 6)) {
		CHECK(0, "%s: mapping at %#lx: %ld bytes \"%s\", want %ld \"/[aio]\"", c->name, (unsigned long)c->ctx,
		      size, name, c->size);
		return;
	}
	CHECK(r->magic == AIO_RING_MAGIC && r->header_length == sizeof(struct aio_ring), "%s: ring header magic %#x length %u",
	      c->name, r->magic, r->header_length);
	CHECK(r->nr == c->nr && r->head == c->head && r->tail == c->tail, "%s: ring nr %u head %u tail %u, want %u %u %u",
	      c->name, r->nr, r->head, r->tail, c->nr, c->head, c->tail);
}

int main(int argc, char **argv)
{
	crt_init(argc, argv);
	char *path = crt_path("aio.data");
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		crt_setup_fail("open %s: %s", path, strerror(errno));
	/* Every 8 bytes at offset o hold o/8 repeated: a read shows its offset. */
	for (int o = 0; o < 4096; o += 8) {
		char b[8];
		memset(b, o / 8, 8);
		if (pwrite(fd, b, 8, o) != 8)
			crt_setup_fail("write %s: %s", path, strerror(errno));
	}

	struct ctxinfo c[3] = { { .name = "a" }, { .name = "b" }, { .name = "c" } };
	if (io_setup(8, &c[0].ctx) || io_setup(16, &c[1].ctx) || io_setup(4, &c[2].ctx))
		crt_setup_fail("io_setup: %s", strerror(errno));
	if (submit(c[0].ctx, 8, 0, 100) != 8)
		crt_setup_fail("io_submit a: %s", strerror(errno));
	/* Reap 3 of a's 8: 5 wait. Wait for all 8 to complete first. */
	{
		struct io_event ev[3];
		struct timespec ts = { 1, 0 };
		struct aio_ring *r = (struct aio_ring *)c[0].ctx;
		for (int i = 0; i < 100 && r->tail - r->head < 8; i++)
			crt_sleep_ms(10);
		if (syscall(SYS_io_getevents, c[0].ctx, 3, 3, ev, &ts) != 3 || ev[0].data != 100)
			crt_setup_fail("io_getevents a: %s", strerror(errno));
	}
	/* Round b's ring: all but 4 of its slots, then 10 more waiting past the end. */
	struct aio_ring *rb = (struct aio_ring *)c[1].ctx;
	int pre = rb->nr - 4;
	cycle(c[1].ctx, pre, 16, 1000, "b setup");
	if (submit(c[1].ctx, 10, 80, 5000) != 10)
		crt_setup_fail("io_submit b: %s", strerror(errno));
	for (int i = 0; i < 100 && (rb->tail + rb->nr - rb->head) % rb->nr < 10; i++)
		crt_sleep_ms(10);
	for (int i = 0; i < 3; i++)
		record(&c[i]);
	if (!(c[1].tail < c[1].head))
		crt_setup_fail("b: tail %u not below head %u", c[1].tail, c[1].head);
	if (c[0].tail - c[0].head != 5)
		crt_setup_fail("a: %u completions waiting, want 5", c[0].tail - c[0].head);

	crt_ready();
	crt_wait();

	for (int i = 0; i < 3; i++)
		check_ring(&c[i]);
	/* The waiting completions, in order; a's came from offsets 24.., b's from 80.. */
	reap(c[0].ctx, 5, 103, "a");
	reap(c[1].ctx, 10, 5000, "b");
	for (int i = 0; i < 10; i++)
		CHECK(bufs[10 + i][0] == 10 + i, "b: read %d holds %d", i, bufs[10 + i][0]);
	reap(c[2].ctx, 0, 0, "c");
	/* New requests on each; b round its ring twice more. */
	uint64_t base = 20000;
	for (int i = 0; i < 3; i++) {
		int n = i == 1 ? 2 * (int)c[1].nr + 7 : 6;
		for (int done = 0; done < n;) {
			int k = n - done > 16 ? 16 : n - done;
			long got = submit(c[i].ctx, k, 0, base);
			if (got != k) {
				CHECK(0, "%s: io_submit after restore: %ld of %d (%s)", c[i].name, got, k, strerror(errno));
				break;
			}
			if (reap(c[i].ctx, k, base, c[i].name))
				break;
			base += k;
			done += k;
		}
	}
	for (int i = 0; i < 3; i++)
		CHECK(io_destroy(c[i].ctx) == 0, "%s: io_destroy: %s", c[i].name, strerror(errno));
	return crt_finish();
}
