//go:build ignore

// victim: a process for pkg/compel tests. It sets up state, prints
// "ready key=value ...", and then checks itself whenever a line "check"
// arrives on stdin, answering "PASS" or "FAIL: why". EOF ends it.
//
//	victim full          signal actions, timers, altstacks, umask, ... and
//	                     a second thread looping in clock_nanosleep; the
//	                     main thread waits in read(0)
//	victim full seccomp  the same under an allow-all seccomp filter
//	victim spin [novdso] the main thread spins in user code (after
//	                     unmapping the vDSO with novdso); a second thread
//	                     answers the checks
#define _GNU_SOURCE
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static char altstack[16384] __attribute__((aligned(16)));
static char talt[8192] __attribute__((aligned(16)));
static struct sigaction before[65];
static int before_ret[65];
static sigset_t before_mask;
static timer_t timer;
static volatile int thread_ready, thread_tid, thread_fail;
static int *volatile thread_tidaddr;
static volatile long thread_loops, spins;
static char why[256];

static void on_usr1(int sig, siginfo_t *si, void *uc) { (void)sig; (void)si; (void)uc; }
static void on_term(int sig) { (void)sig; }

static void fail(const char *fmt, long a, long b)
{
	if (!why[0])
		snprintf(why, sizeof(why), fmt, a, b);
}

static long ms_since(struct timespec *a)
{
	struct timespec b;

	clock_gettime(CLOCK_MONOTONIC, &b);
	return (b.tv_sec - a->tv_sec) * 1000 + (b.tv_nsec - a->tv_nsec) / 1000000;
}

static void *sleeper(void *arg)
{
	stack_t ss = {.ss_sp = talt, .ss_size = sizeof(talt)};

	(void)arg;
	if (sigaltstack(&ss, NULL) || prctl(PR_SET_PDEATHSIG, SIGUSR2) ||
	    prctl(PR_GET_TID_ADDRESS, &thread_tidaddr) || prctl(PR_SET_KEEPCAPS, 1))
		thread_fail = errno;
	thread_tid = gettid();
	thread_ready = 1;
	for (;;) {
		struct timespec a, d = {.tv_nsec = 50 * 1000 * 1000};
		int r;

		clock_gettime(CLOCK_MONOTONIC, &a);
		r = clock_nanosleep(CLOCK_MONOTONIC, 0, &d, NULL);
		if (r)
			thread_fail = r;
		else if (ms_since(&a) < 50)
			thread_fail = -1;
		thread_loops++;
	}
	return NULL;
}

static int setup_full(void)
{
	struct sigaction sa = {0};
	struct itimerval real = {.it_interval = {500, 0}, .it_value = {1000, 0}};
	struct itimerval virt = {.it_value = {2000, 0}};
	struct sigevent sev = {.sigev_notify = SIGEV_NONE};
	struct itimerspec its = {.it_interval = {7, 0}, .it_value = {3000, 0}};
	stack_t ss = {.ss_sp = altstack, .ss_size = sizeof(altstack)};
	sigset_t block;
	pthread_t t;
	int sig;

	if (setsid() < 0)
		return perror("setsid"), -1;
	umask(027);
	personality(personality(0xffffffff) | ADDR_NO_RANDOMIZE);
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) || prctl(PR_SET_PDEATHSIG, SIGHUP))
		return perror("prctl"), -1;
	sa.sa_sigaction = on_usr1;
	sa.sa_flags = SA_SIGINFO | SA_RESTART | SA_ONSTACK;
	sigaddset(&sa.sa_mask, SIGUSR2);
	sigaddset(&sa.sa_mask, SIGINT);
	if (sigaction(SIGUSR1, &sa, NULL))
		return perror("sigaction"), -1;
	signal(SIGUSR2, SIG_IGN);
	signal(SIGTERM, on_term);
	if (sigaltstack(&ss, NULL) || setitimer(ITIMER_REAL, &real, NULL) ||
	    setitimer(ITIMER_VIRTUAL, &virt, NULL) ||
	    timer_create(CLOCK_MONOTONIC, &sev, &timer) || timer_settime(timer, 0, &its, NULL))
		return perror("setup"), -1;
	sigemptyset(&block);
	sigaddset(&block, SIGPIPE);
	sigaddset(&block, SIGWINCH);
	sigprocmask(SIG_BLOCK, &block, NULL);
	sigprocmask(SIG_BLOCK, NULL, &before_mask);
	for (sig = 1; sig <= 64; sig++)
		before_ret[sig] = sigaction(sig, NULL, &before[sig]);
	if (pthread_create(&t, NULL, sleeper, NULL))
		return perror("pthread_create"), -1;
	while (!thread_ready)
		usleep(1000);
	int *tidaddr = NULL;
	if (prctl(PR_GET_TID_ADDRESS, &tidaddr))
		return perror("prctl"), -1;
	printf("ready pid=%d tid=%d usr1=%lx alt=%lx altsize=%zu talt=%lx taltsize=%zu brk=%lx timer=%ld tidaddr=%lx ttidaddr=%lx\n",
	       getpid(), thread_tid, (unsigned long)on_usr1, (unsigned long)altstack, sizeof(altstack),
	       (unsigned long)talt, sizeof(talt), (unsigned long)sbrk(0), (long)timer,
	       (unsigned long)tidaddr, (unsigned long)thread_tidaddr);
	fflush(stdout);
	return 0;
}

static void check_full(long loops)
{
	struct sigaction now;
	struct itimerval real;
	struct itimerspec its;
	sigset_t mask;
	stack_t ss;
	mode_t m;
	int sig;

	for (sig = 1; sig <= 64; sig++) {
		int r = sigaction(sig, NULL, &now);

		if (r != before_ret[sig])
			fail("sigaction %ld: ret %ld", sig, r);
		else if (!r && (now.sa_handler != before[sig].sa_handler ||
				now.sa_flags != before[sig].sa_flags ||
				memcmp(&now.sa_mask, &before[sig].sa_mask, 8)))
			fail("sigaction %ld changed (flags %#lx)", sig, now.sa_flags);
	}
	sigprocmask(SIG_BLOCK, NULL, &mask);
	if (memcmp(&mask, &before_mask, 8))
		fail("signal mask changed: %#lx", *(long *)&mask, 0);
	m = umask(0);
	umask(m);
	if (m != 027)
		fail("umask %#lo", m, 0);
	if (sigaltstack(NULL, &ss) || ss.ss_sp != altstack || ss.ss_size != sizeof(altstack))
		fail("altstack %#lx size %ld", (long)ss.ss_sp, ss.ss_size);
	if (getitimer(ITIMER_REAL, &real) || real.it_interval.tv_sec != 500)
		fail("itimer interval %ld", real.it_interval.tv_sec, 0);
	if (timer_gettime(timer, &its) || its.it_interval.tv_sec != 7)
		fail("posix timer interval %ld", its.it_interval.tv_sec, 0);
	for (sig = 0; sig < 200 && thread_loops <= loops; sig++)
		usleep(10000);
	if (thread_fail)
		fail("sleeping thread: %ld", thread_fail, 0);
	if (thread_loops <= loops)
		fail("sleeping thread stuck at %ld loops", loops, 0);
}

static void *checker(void *arg)
{
	char buf[64];

	(void)arg;
	while (spins < 1000000)
		;
	printf("ready pid=%d\n", getpid());
	fflush(stdout);
	for (;;) {
		long a, b;
		int i;
		struct timespec d = {.tv_nsec = 20 * 1000 * 1000};
		ssize_t n = read(0, buf, sizeof(buf));

		if (n <= 0)
			exit(n < 0);
		/* Under load the spinner may wait its turn: give it 2 s. */
		a = spins;
		for (i = 0; i < 100 && spins == a; i++)
			nanosleep(&d, NULL);
		b = spins;
		if (b == a)
			fail("spinning thread stopped at %ld", a, 0);
		printf(why[0] ? "FAIL: %s\n" : "PASS\n", why);
		fflush(stdout);
	}
	return NULL;
}

static void unmap_vdso(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];
	unsigned long s, e;

	while (fgets(line, sizeof(line), f))
		if (strstr(line, "[vdso]") && sscanf(line, "%lx-%lx", &s, &e) == 2)
			munmap((void *)s, e - s);
	fclose(f);
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "full";
	char buf[64];
	long loops;

	if (!strcmp(mode, "spin")) {
		pthread_t t;

		if (argc > 2 && !strcmp(argv[2], "novdso"))
			unmap_vdso();
		if (pthread_create(&t, NULL, checker, NULL))
			return 1;
		for (;;)
			spins++;
	}
	if (strcmp(mode, "full"))
		return 2;
	if (argc > 2 && !strcmp(argv[2], "seccomp")) {
		struct sock_filter allow = BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
		struct sock_fprog prog = {.len = 1, .filter = &allow};

		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) ||
		    syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog))
			return perror("seccomp"), 2;
	}
	if (setup_full())
		return 2;
	loops = thread_loops;
	for (;;) {
		ssize_t n = read(0, buf, sizeof(buf));

		if (n < 0) {
			printf("FAIL: read: %s\n", strerror(errno));
			return 1;
		}
		if (n == 0)
			return 0;
		check_full(loops);
		printf(why[0] ? "FAIL: %s\n" : "PASS\n", why);
		fflush(stdout);
		loops = thread_loops;
	}
}
