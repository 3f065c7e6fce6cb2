/* threads: four threads, each checking its own state over and over.
 * Threads 0-2 sleep in a raw nanosleep syscall with known values in
 * r12-r15 and vector registers (xmm8, ymm9 with AVX, zmm20 and k3 with
 * AVX-512) and check the values after the syscall; thread 3 spins in user
 * code with the values in registers and checks the result of the spin.
 * Every thread also checks its tid, TLS variable and FS base, name and
 * signal mask (each blocks its own SIGRTMIN+i).
 * Checks after SIGTERM: every thread is still running and has seen no
 * change. */
#define _GNU_SOURCE
#include <asm/prctl.h>
#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "crtest.h"

#define NTHR 4
#define SPINS 20000000UL

struct regs {
	uint64_t gp[4]; /* r12-r15 */
	uint8_t x8[16];
	uint8_t y9[32];
	uint8_t z20[64];
	uint16_t k3;
	uint8_t pad[14];
};
_Static_assert(offsetof(struct regs, x8) == 32, "x8");
_Static_assert(offsetof(struct regs, y9) == 48, "y9");
_Static_assert(offsetof(struct regs, z20) == 80, "z20");
_Static_assert(offsetof(struct regs, k3) == 144, "k3");

struct thr {
	int idx;
	pid_t tid;
	uint64_t fsbase;
	uint64_t *tls_addr;
	pthread_t self;
	volatile unsigned long iters;
	volatile int ready;
	char fail[160];
};

static __thread uint64_t tls_val;
static struct thr thr[NTHR];
static volatile int stop;
static int level; /* 0 SSE, 1 AVX, 2 AVX-512 */

#define LOAD_GP                          \
	"movq 0(%[in]), %%r12\n\t"       \
	"movq 8(%[in]), %%r13\n\t"       \
	"movq 16(%[in]), %%r14\n\t"      \
	"movq 24(%[in]), %%r15\n\t"      \
	"movdqu 32(%[in]), %%xmm8\n\t"
#define STORE_GP                         \
	"movq %%r12, 0(%[out])\n\t"      \
	"movq %%r13, 8(%[out])\n\t"      \
	"movq %%r14, 16(%[out])\n\t"     \
	"movq %%r15, 24(%[out])\n\t"     \
	"movdqu %%xmm8, 32(%[out])\n\t"
#define SLEEP_IO(nr, ts, in, out) "+a"(nr) : "D"(ts), "S"(0L), [in] "r"(in), [out] "r"(out)
#define GP_CLOBBERS "rcx", "r11", "r12", "r13", "r14", "r15", "xmm8", "memory"

static void sleep_sse(const struct timespec *ts, const struct regs *in, struct regs *out)
{
	long nr = SYS_nanosleep;
	asm volatile(LOAD_GP "syscall\n\t" STORE_GP : SLEEP_IO(nr, ts, in, out) : GP_CLOBBERS);
}

__attribute__((target("avx"))) static void sleep_avx(const struct timespec *ts, const struct regs *in, struct regs *out)
{
	long nr = SYS_nanosleep;
	asm volatile(LOAD_GP "vmovdqu 48(%[in]), %%ymm9\n\t"
			     "syscall\n\t" STORE_GP "vmovdqu %%ymm9, 48(%[out])\n\t"
		     : SLEEP_IO(nr, ts, in, out)
		     : GP_CLOBBERS, "xmm9");
}

__attribute__((target("avx512f"))) static void sleep_avx512(const struct timespec *ts, const struct regs *in,
							    struct regs *out)
{
	long nr = SYS_nanosleep;
	asm volatile(LOAD_GP "vmovdqu 48(%[in]), %%ymm9\n\t"
			     "vmovdqu64 80(%[in]), %%zmm20\n\t"
			     "kmovw 144(%[in]), %%k3\n\t"
			     "syscall\n\t" STORE_GP "vmovdqu %%ymm9, 48(%[out])\n\t"
			     "vmovdqu64 %%zmm20, 80(%[out])\n\t"
			     "kmovw %%k3, 144(%[out])\n\t"
		     : SLEEP_IO(nr, ts, in, out)
		     : GP_CLOBBERS, "xmm9", "xmm20", "k3");
}

/* Spins SPINS times adding 1 to r12 and taking 1 from r13, with r14, r15
 * and xmm8 untouched; a freeze lands in the middle of it. */
static void spin(const struct regs *in, struct regs *out)
{
	unsigned long n = SPINS;
	asm volatile(LOAD_GP "1:\n\t"
			     "addq $1, %%r12\n\t"
			     "subq $1, %%r13\n\t"
			     "decq %[n]\n\t"
			     "jnz 1b\n\t" STORE_GP
		     : [n] "+r"(n)
		     : [in] "r"(in), [out] "r"(out)
		     : "cc", "r12", "r13", "r14", "r15", "xmm8", "memory");
}

static void tfail(struct thr *t, const char *what, unsigned long iter)
{
	if (!t->fail[0])
		snprintf(t->fail, sizeof(t->fail), "thread %d: %s (round %lu)", t->idx, what, iter);
}

static void make_regs(struct regs *r, int idx, unsigned long iter)
{
	memset(r, 0, sizeof(*r));
	for (int i = 0; i < 4; i++)
		r->gp[i] = 0x0101010101010101ULL * (uint64_t)(idx * 4 + i + 1) ^ iter;
	for (int i = 0; i < 16; i++)
		r->x8[i] = (uint8_t)(idx * 16 + i + iter);
	if (level >= 1)
		for (int i = 0; i < 32; i++)
			r->y9[i] = (uint8_t)(0x80 + idx * 32 + i + iter);
	if (level >= 2) {
		for (int i = 0; i < 64; i++)
			r->z20[i] = (uint8_t)(0x40 + idx * 64 + i * 3 + iter);
		r->k3 = (uint16_t)(0xa5a5 ^ idx ^ iter);
	}
}

static int mask_ok(int idx)
{
	sigset_t cur;

	pthread_sigmask(SIG_BLOCK, NULL, &cur);
	for (int i = 0; i < NTHR; i++)
		if (sigismember(&cur, SIGRTMIN + i) != (i == idx))
			return 0;
	return sigismember(&cur, SIGTERM) == 1;
}

static void *worker(void *arg)
{
	struct thr *t = arg;
	char name[16], want_name[16];
	sigset_t m;

	sigemptyset(&m);
	sigaddset(&m, SIGTERM); /* SIGTERM goes to the main thread */
	sigaddset(&m, SIGRTMIN + t->idx);
	pthread_sigmask(SIG_BLOCK, &m, NULL);
	snprintf(want_name, sizeof(want_name), "worker-%d", t->idx);
	prctl(PR_SET_NAME, want_name);
	tls_val = 0x7157000000000000ULL | (uint64_t)t->idx;
	t->tls_addr = &tls_val;
	t->tid = (pid_t)syscall(SYS_gettid);
	t->self = pthread_self();
	syscall(SYS_arch_prctl, ARCH_GET_FS, &t->fsbase);
	t->ready = 1;

	struct timespec ts = { 0, 5 * 1000 * 1000 };
	for (unsigned long it = 0; !stop; it++) {
		struct regs in, out, want;
		make_regs(&in, t->idx, it);
		want = in;
		memset(&out, 0, sizeof(out));
		if (t->idx == NTHR - 1) {
			spin(&in, &out);
			want.gp[0] += SPINS;
			want.gp[1] -= SPINS;
			nanosleep(&ts, NULL);
		} else if (level == 2) {
			sleep_avx512(&ts, &in, &out);
		} else if (level == 1) {
			sleep_avx(&ts, &in, &out);
		} else {
			sleep_sse(&ts, &in, &out);
		}
		if (memcmp(out.gp, want.gp, sizeof(want.gp)))
			tfail(t, "r12-r15 changed", it);
		if (memcmp(out.x8, want.x8, sizeof(want.x8)))
			tfail(t, "xmm8 changed", it);
		if (t->idx != NTHR - 1 && memcmp(out.y9, want.y9, sizeof(want.y9)))
			tfail(t, "ymm9 changed", it);
		if (t->idx != NTHR - 1 && (memcmp(out.z20, want.z20, sizeof(want.z20)) || out.k3 != want.k3))
			tfail(t, "zmm20 or k3 changed", it);

		uint64_t fs = 0;
		syscall(SYS_arch_prctl, ARCH_GET_FS, &fs);
		if (fs != t->fsbase)
			tfail(t, "FS base changed", it);
		if (&tls_val != t->tls_addr || tls_val != (0x7157000000000000ULL | (uint64_t)t->idx))
			tfail(t, "TLS variable changed", it);
		if ((pid_t)syscall(SYS_gettid) != t->tid || !pthread_equal(pthread_self(), t->self))
			tfail(t, "tid or pthread_self changed", it);
		if (!mask_ok(t->idx))
			tfail(t, "signal mask changed", it);
		if (prctl(PR_GET_NAME, name) || strcmp(name, want_name))
			tfail(t, "name changed", it);
		t->iters++;
	}
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t th[NTHR];

	crt_init(argc, argv);
	__builtin_cpu_init();
	level = __builtin_cpu_supports("avx512f") ? 2 : __builtin_cpu_supports("avx") ? 1 : 0;
	for (int i = 0; i < NTHR; i++) {
		thr[i].idx = i;
		if (pthread_create(&th[i], NULL, worker, &thr[i]))
			crt_setup_fail("pthread_create: %s", strerror(errno));
	}
	for (int i = 0; i < NTHR; i++)
		while (!thr[i].ready || !thr[i].iters)
			crt_sleep_ms(1);
	crt_ready();
	crt_wait();

	/* Every thread must get through two more rounds; a loaded machine may
	 * take a while, a dead thread never does. */
	unsigned long before[NTHR];
	for (int i = 0; i < NTHR; i++)
		before[i] = thr[i].iters;
	for (int ms = 0, done = 0; !done; ms += 10) {
		done = 1;
		for (int i = 0; i < NTHR; i++)
			done &= thr[i].iters >= before[i] + 2;
		if (!done && ms >= 10000)
			break;
		if (!done)
			crt_sleep_ms(10);
	}
	for (int i = 0; i < NTHR; i++)
		CHECK(thr[i].iters >= before[i] + 2, "thread %d does not run (%lu rounds in 10 s)", i,
		      thr[i].iters - before[i]);
	stop = 1;
	for (int i = 0; i < NTHR; i++) {
		pthread_join(th[i], NULL);
		CHECK(!thr[i].fail[0], "%s", thr[i].fail);
	}
	char path[64], comm[32] = "";
	snprintf(path, sizeof(path), "/proc/self/task/%d/comm", getpid());
	FILE *f = fopen(path, "r");
	CHECK(f && fgets(comm, sizeof(comm), f) && !strcmp(comm, "threads\n"), "main thread comm %s", comm);
	if (f)
		fclose(f);
	return crt_finish();
}
