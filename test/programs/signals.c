/* signals: signal dispositions, mask, pending signals and the alternate
 * stack.
 *   SIGUSR1: sa_sigaction, SA_SIGINFO|SA_ONSTACK|SA_RESTART, mask {SIGHUP, SIGRTMIN+1}
 *   SIGUSR2: handler, SA_NODEFER|SA_RESETHAND
 *   SIGCHLD: handler, SA_NOCLDSTOP
 *   SIGRTMIN+2: sa_sigaction, SA_SIGINFO
 *   SIGPIPE: ignored
 *   blocked: SIGHUP, SIGINT, SIGWINCH, SIGRTMIN+3, SIGRTMIN+4
 *   pending: SIGHUP for the process (kill), SIGINT for the thread (tgkill),
 *            SIGRTMIN+3 queued twice with values 42 and 43 (sigqueue),
 *            SIGRTMIN+4 for the thread with value 44 (rt_tgsigqueueinfo)
 *   sigaltstack: 64 KiB
 * Checks: every disposition with its flags and mask; the blocked mask; the
 * pending sets of the thread and the process and each pending signal's
 * siginfo; the alternate stack, and
 * that handlers run on it with their mask; SA_RESETHAND still resets. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "crtest.h"

#define ALT_SIZE (64 * 1024)
#ifndef SA_RESTORER
#define SA_RESTORER 0x04000000 /* set by libc on every handler it installs */
#endif

static char *alt;
static volatile int usr1_calls, usr1_on_alt, usr1_masked, usr1_code, usr2_calls;

static void on_usr1(int sig, siginfo_t *si, void *uc)
{
	char here;
	sigset_t cur;

	(void)sig;
	(void)uc;
	usr1_calls++;
	usr1_on_alt = (char *)&here >= alt && (char *)&here < alt + ALT_SIZE;
	sigprocmask(SIG_BLOCK, NULL, &cur);
	usr1_masked = sigismember(&cur, SIGHUP) && sigismember(&cur, SIGRTMIN + 1) && sigismember(&cur, SIGUSR1);
	usr1_code = si->si_code;
}

static void on_usr2(int sig)
{
	(void)sig;
	usr2_calls++;
}

static void on_other(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)si;
	(void)uc;
}

static void on_chld(int sig)
{
	(void)sig;
}

static int set_action(int sig, void *fn, int flags, int siginfo, const int *mask)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	if (siginfo)
		sa.sa_sigaction = fn;
	else
		sa.sa_handler = fn;
	sa.sa_flags = flags;
	sigemptyset(&sa.sa_mask);
	for (; mask && *mask; mask++)
		sigaddset(&sa.sa_mask, *mask);
	return sigaction(sig, &sa, NULL);
}

/* Checks one disposition: its handler, that it has the wanted flags, and
 * its mask (exactly the listed signals among 1..SIGRTMAX). */
static void check_action(const char *name, int sig, void *fn, int flags, const int *mask)
{
	struct sigaction sa;

	if (sigaction(sig, NULL, &sa)) {
		CHECK(0, "sigaction %s: %s", name, strerror(errno));
		return;
	}
	void *got = (sa.sa_flags & SA_SIGINFO) ? (void *)sa.sa_sigaction : (void *)sa.sa_handler;
	CHECK(got == fn, "%s handler changed", name);
	CHECK((sa.sa_flags & flags) == flags, "%s flags %#x lack %#x", name, sa.sa_flags, flags);
	CHECK(!(sa.sa_flags & ~(flags | SA_RESTORER)), "%s has extra flags %#x", name, sa.sa_flags & ~flags);
	for (int s = 1; s <= SIGRTMAX; s++) {
		int want = 0;
		for (const int *m = mask; m && *m; m++)
			want |= *m == s;
		if (s == 32 || s == 33)
			continue; /* glibc's own */
		CHECK(sigismember(&sa.sa_mask, s) == want, "%s mask: signal %d %s", name, s, want ? "missing" : "extra");
	}
}

/* Takes one pending sig and checks its siginfo. */
static void take(int sig, int code, int value)
{
	sigset_t set;
	siginfo_t si;
	struct timespec zero = { 0, 0 };

	sigemptyset(&set);
	sigaddset(&set, sig);
	memset(&si, 0, sizeof(si));
	int got = sigtimedwait(&set, &si, &zero);
	CHECK(got == sig, "signal %d not pending (%s)", sig, got < 0 ? strerror(errno) : "other");
	if (got != sig)
		return;
	CHECK(si.si_code == code, "signal %d: si_code %d, want %d", sig, si.si_code, code);
	CHECK(si.si_pid == getpid() && si.si_uid == getuid(), "signal %d: sender %d/%d", sig, si.si_pid, si.si_uid);
	if (code == SI_QUEUE)
		CHECK(si.si_value.sival_int == value, "signal %d: value %d, want %d", sig, si.si_value.sival_int, value);
}

/* The si_code the kernel gives a signal sent with tgkill: SI_TKILL, or
 * SI_USER on kernels that treat it like kill (6.18 does). */
static int probe_tkill_code(void)
{
	sigset_t m, old;
	siginfo_t si;
	struct timespec zero = { 0, 0 };

	sigemptyset(&m);
	sigaddset(&m, SIGURG);
	sigprocmask(SIG_BLOCK, &m, &old);
	if (syscall(SYS_tgkill, getpid(), (pid_t)syscall(SYS_gettid), SIGURG) || sigtimedwait(&m, &si, &zero) != SIGURG)
		crt_setup_fail("probe tgkill: %s", strerror(errno));
	sigprocmask(SIG_SETMASK, &old, NULL);
	return si.si_code;
}

/* Reads a signal set ("SigPnd", "ShdPnd") from /proc/self/status. */
static unsigned long long status_mask(const char *key)
{
	char line[256];
	unsigned long long v = 0;
	size_t n = strlen(key);
	FILE *f = fopen("/proc/self/status", "r");

	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, key, n) && line[n] == ':')
			v = strtoull(line + n + 1, NULL, 16);
	if (f)
		fclose(f);
	return v;
}

#define BIT(sig) (1ULL << ((sig) - 1))

int main(int argc, char **argv)
{
	crt_init(argc, argv);
	int usr1_mask[] = { SIGHUP, SIGRTMIN + 1, 0 };
	int blocked[] = { SIGHUP, SIGINT, SIGWINCH, SIGRTMIN + 3, SIGRTMIN + 4, 0 };
	int pending[] = { SIGHUP, SIGINT, SIGRTMIN + 3, SIGRTMIN + 4, 0 };

	/* The harness may start us with signals ignored (a shell ignores
	 * SIGINT and SIGQUIT in background jobs), and an ignored signal is
	 * dropped even while blocked: start from the defaults. */
	for (int s = 1; s <= SIGRTMAX; s++)
		if (s != SIGKILL && s != SIGSTOP && s != SIGTERM && (s < 32 || s >= SIGRTMIN))
			set_action(s, SIG_DFL, 0, 0, NULL);
	int tkill_code = probe_tkill_code();

	alt = malloc(ALT_SIZE);
	stack_t ss = { .ss_sp = alt, .ss_size = ALT_SIZE, .ss_flags = 0 };
	if (!alt || sigaltstack(&ss, NULL))
		crt_setup_fail("sigaltstack: %s", strerror(errno));
	if (set_action(SIGUSR1, on_usr1, SA_SIGINFO | SA_ONSTACK | SA_RESTART, 1, usr1_mask) ||
	    set_action(SIGUSR2, on_usr2, SA_NODEFER | SA_RESETHAND, 0, NULL) ||
	    set_action(SIGCHLD, on_chld, SA_NOCLDSTOP, 0, NULL) ||
	    set_action(SIGRTMIN + 2, on_other, SA_SIGINFO, 1, NULL) || set_action(SIGPIPE, SIG_IGN, 0, 0, NULL))
		crt_setup_fail("sigaction: %s", strerror(errno));

	sigset_t m;
	sigemptyset(&m);
	for (int *b = blocked; *b; b++)
		sigaddset(&m, *b);
	if (sigprocmask(SIG_BLOCK, &m, NULL))
		crt_setup_fail("sigprocmask: %s", strerror(errno));

	union sigval v42 = { .sival_int = 42 }, v43 = { .sival_int = 43 };
	siginfo_t si;
	memset(&si, 0, sizeof(si));
	si.si_signo = SIGRTMIN + 4;
	si.si_code = SI_QUEUE;
	si.si_pid = getpid();
	si.si_uid = getuid();
	si.si_value.sival_int = 44;
	pid_t tid = (pid_t)syscall(SYS_gettid);
	if (kill(getpid(), SIGHUP) || syscall(SYS_tgkill, getpid(), tid, SIGINT) || sigqueue(getpid(), SIGRTMIN + 3, v42) ||
	    sigqueue(getpid(), SIGRTMIN + 3, v43) || syscall(SYS_rt_tgsigqueueinfo, getpid(), tid, SIGRTMIN + 4, &si))
		crt_setup_fail("send signals: %s", strerror(errno));
	crt_ready();
	crt_wait();

	check_action("SIGUSR1", SIGUSR1, (void *)on_usr1, SA_SIGINFO | SA_ONSTACK | SA_RESTART, usr1_mask);
	check_action("SIGUSR2", SIGUSR2, (void *)on_usr2, SA_NODEFER | SA_RESETHAND, NULL);
	check_action("SIGCHLD", SIGCHLD, (void *)on_chld, SA_NOCLDSTOP, NULL);
	check_action("SIGRTMIN+2", SIGRTMIN + 2, (void *)on_other, SA_SIGINFO, NULL);
	check_action("SIGPIPE", SIGPIPE, (void *)SIG_IGN, 0, NULL);
	check_action("SIGQUIT", SIGQUIT, (void *)SIG_DFL, 0, NULL);

	sigset_t cur, pend;
	sigprocmask(SIG_BLOCK, NULL, &cur);
	sigpending(&pend);
	for (int s = 1; s <= SIGRTMAX; s++) {
		int want_blocked = 0, want_pending = 0;
		for (int *b = blocked; *b; b++)
			want_blocked |= *b == s;
		for (int *p = pending; *p; p++)
			want_pending |= *p == s;
		if (s == 32 || s == 33)
			continue;
		CHECK(sigismember(&cur, s) == want_blocked, "blocked mask: signal %d %s", s, want_blocked ? "missing" : "extra");
		CHECK(sigismember(&pend, s) == want_pending, "pending set: signal %d %s", s, want_pending ? "missing" : "extra");
	}

	unsigned long long thread_pnd = status_mask("SigPnd"), shared_pnd = status_mask("ShdPnd");
	CHECK(thread_pnd == (BIT(SIGINT) | BIT(SIGRTMIN + 4)), "thread pending %#llx", thread_pnd);
	CHECK(shared_pnd == (BIT(SIGHUP) | BIT(SIGRTMIN + 3)), "process pending %#llx", shared_pnd);

	take(SIGRTMIN + 3, SI_QUEUE, 42);
	take(SIGRTMIN + 3, SI_QUEUE, 43);
	take(SIGRTMIN + 4, SI_QUEUE, 44);
	take(SIGINT, tkill_code, 0);
	take(SIGHUP, SI_USER, 0);
	sigpending(&pend);
	for (int s = 1; s <= SIGRTMAX; s++)
		CHECK(!sigismember(&pend, s), "signal %d still pending", s);

	stack_t now;
	CHECK(!sigaltstack(NULL, &now) && now.ss_sp == alt && now.ss_size == ALT_SIZE && now.ss_flags == 0,
	      "sigaltstack %p/%zu/%#x, want %p/%d/0", now.ss_sp, now.ss_size, now.ss_flags, (void *)alt, ALT_SIZE);

	kill(getpid(), SIGUSR1);
	CHECK(usr1_calls == 1, "SIGUSR1 handler ran %d times", usr1_calls);
	CHECK(usr1_on_alt, "SIGUSR1 handler not on the alternate stack");
	CHECK(usr1_masked, "SIGUSR1 handler ran without its mask");
	CHECK(usr1_code == SI_USER, "SIGUSR1 si_code %d", usr1_code);

	kill(getpid(), SIGUSR2);
	/* SA_RESETHAND resets the handler and keeps the flags. */
	check_action("SIGUSR2 after delivery", SIGUSR2, (void *)SIG_DFL, SA_NODEFER | SA_RESETHAND, NULL);
	CHECK(usr2_calls == 1, "SIGUSR2 handler ran %d times", usr2_calls);
	return crt_finish();
}
