/* stopped: a tree dumped while stopped, tasks stopped in different ways.
 *
 *   root (2 threads)  stopped by SIGSTOP sent by its child M, with one
 *                     more SIGSTOP queued for the process and a SIGTSTP
 *                     queued for its second thread while it is stopped
 *   M                 runs: stops the root, waits until every thread of
 *                     it is stopped, writes the pidfile (the root's pid)
 *   A (3 threads)     group stop begun by a SIGSTOP sent to one of its
 *                     threads (tgkill), then SIGSTOP queued for the
 *                     process and for its leader (tkill) while stopped
 *   B                 in a process group of its own, stopped by a SIGTSTP
 *                     it raised itself (default action)
 *
 * A stopped task cannot see itself stopped, so the harness checks that
 * every thread of the root is stopped and sends SIGCONT before SIGTERM
 * (run-cr.sh and run-selfcheck.sh: resume_stopped). Checks, once
 * continued: both threads of the root run; A and B are still stopped,
 * each by its own signal as waitid reports it to the parent, every thread
 * of theirs in state T; a SIGCONT continues each (CLD_CONTINUED) and none
 * stops again on a stop signal left queued; A's three threads and B run
 * and exit with status 0; M still runs. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "crtest.h"

/* Shared with every task: counters the threads keep raising. */
struct shared {
	volatile long root_ticks;
	volatile long a_ticks[3];
	volatile int a_tids[3];
	volatile long b_ticks;
};
static struct shared *sh;

static int gettid_(void) { return (int)syscall(SYS_gettid); }

/* state_of: the state letter of /proc/PID/task/TID/stat, or 0. */
static char state_of(pid_t pid, pid_t tid)
{
	char path[64], buf[512];
	snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", pid, tid);
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	char *p = strrchr(buf, ')');
	return p && p[1] && p[2] ? p[2] : 0;
}

/* all_stopped: every thread of pid is in state T; n gets their number. */
static int all_stopped(pid_t pid, int *n)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/task", pid);
	DIR *d = opendir(path);
	if (!d)
		return 0;
	int ok = 1, count = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		count++;
		if (state_of(pid, atoi(e->d_name)) != 'T')
			ok = 0;
	}
	closedir(d);
	if (n)
		*n = count;
	return ok && count > 0;
}

static int wait_all_stopped(pid_t pid, int threads)
{
	for (int i = 0; i < 2000; i++) {
		int n;
		if (all_stopped(pid, &n) && n == threads)
			return 1;
		crt_sleep_ms(5);
	}
	return 0;
}

static void *root_thread(void *arg)
{
	(void)arg;
	/* SIGTERM is for the main thread, which waits for it. */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	for (;;) {
		sh->root_ticks++;
		crt_sleep_ms(5);
	}
	return NULL;
}

static void *a_thread(void *arg)
{
	long i = (long)arg;
	sh->a_tids[i] = gettid_();
	for (;;) {
		sh->a_ticks[i]++;
		crt_sleep_ms(5);
	}
	return NULL;
}

/* child_a: three threads; once continued after the checkpoint it lets its
 * threads run a while and exits 0 if every one of them went on. */
static void child_a(void)
{
	pthread_t t;
	sh->a_tids[0] = gettid_();
	for (long i = 1; i < 3; i++)
		if (pthread_create(&t, NULL, a_thread, (void *)i))
			_exit(10);
	for (;;) {
		sh->a_ticks[0]++;
		crt_sleep_ms(5);
	}
}

static void child_b(void)
{
	if (setpgid(0, 0))
		_exit(10);
	raise(SIGTSTP);
	/* Continued: count, so the parent sees it run. */
	for (;;) {
		sh->b_ticks++;
		crt_sleep_ms(5);
	}
}

static void child_m(pid_t root, pid_t root_t2)
{
	signal(SIGTERM, SIG_DFL);
	if (kill(root, SIGSTOP) || !wait_all_stopped(root, 2))
		_exit(1);
	/* Queued while stopped: they must neither be lost as a stop nor
	 * stop the root again once it is continued. */
	kill(root, SIGSTOP);
	syscall(SYS_tgkill, root, root_t2, SIGTSTP);
	crt_ready_pid(root);
	for (;;)
		pause();
}

static pid_t fork_or_fail(void)
{
	pid_t p = fork();
	if (p < 0)
		crt_setup_fail("fork: %s", strerror(errno));
	if (p == 0)
		signal(SIGTERM, SIG_DFL);
	return p;
}

/* check_stopped: child pid is stopped by sig as its parent sees it, with
 * n threads all in T. */
static void check_stopped(const char *name, pid_t pid, int sig, int n)
{
	siginfo_t si;
	memset(&si, 0, sizeof(si));
	int r = waitid(P_PID, pid, &si, WSTOPPED | WNOHANG | WNOWAIT);
	CHECK(r == 0 && si.si_pid == pid && si.si_code == CLD_STOPPED && si.si_status == sig,
	      "%s (pid %d): waitid: r %d (%s), pid %d, code %d, status %d; want CLD_STOPPED by %d", name, pid, r,
	      r ? strerror(errno) : "-", si.si_pid, si.si_code, si.si_status, sig);
	int have = 0;
	CHECK(all_stopped(pid, &have) && have == n, "%s (pid %d): %d threads, not all in state T (want %d)", name, pid,
	      have, n);
}

/* check_continues: SIGCONT continues pid (CLD_CONTINUED), and it does not
 * stop again within 300 ms while its counters move. */
static void check_continues(const char *name, pid_t pid, volatile long *ticks, int nticks)
{
	long before[3];
	for (int i = 0; i < nticks; i++)
		before[i] = ticks[i];
	CHECK(kill(pid, SIGCONT) == 0, "%s: SIGCONT: %s", name, strerror(errno));
	siginfo_t si;
	memset(&si, 0, sizeof(si));
	int r = waitid(P_PID, pid, &si, WCONTINUED);
	CHECK(r == 0 && si.si_code == CLD_CONTINUED, "%s (pid %d): waitid WCONTINUED: r %d, code %d", name, pid, r,
	      si.si_code);
	crt_sleep_ms(300);
	memset(&si, 0, sizeof(si));
	r = waitid(P_PID, pid, &si, WSTOPPED | WNOHANG);
	CHECK(r == 0 && si.si_pid == 0, "%s (pid %d): stopped again after SIGCONT (status %d)", name, pid, si.si_status);
	for (int i = 0; i < nticks; i++)
		CHECK(ticks[i] > before[i] + 5, "%s (pid %d): thread %d does not run after SIGCONT (%ld -> %ld)", name, pid,
		      i, before[i], ticks[i]);
}

int main(int argc, char **argv)
{
	crt_init(argc, argv);
	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED)
		crt_setup_fail("mmap: %s", strerror(errno));

	siginfo_t si;
	pid_t a = fork_or_fail();
	if (a == 0)
		child_a();
	for (int i = 0; i < 1000 && !(sh->a_tids[1] && sh->a_tids[2]); i++)
		crt_sleep_ms(5);
	if (!(sh->a_tids[1] && sh->a_tids[2]))
		crt_setup_fail("A's threads did not start");
	if (syscall(SYS_tgkill, a, sh->a_tids[2], SIGSTOP))
		crt_setup_fail("tgkill A: %s", strerror(errno));
	if (waitid(P_PID, a, &si, WSTOPPED | WNOWAIT) || !wait_all_stopped(a, 3))
		crt_setup_fail("A did not stop");
	kill(a, SIGSTOP);
	syscall(SYS_tgkill, a, a, SIGSTOP);

	pid_t b = fork_or_fail();
	if (b == 0)
		child_b();
	if (waitid(P_PID, b, &si, WSTOPPED | WNOWAIT) || si.si_status != SIGTSTP)
		crt_setup_fail("B did not stop by SIGTSTP (status %d)", si.si_status);

	pthread_t t2;
	if (pthread_create(&t2, NULL, root_thread, NULL))
		crt_setup_fail("pthread_create");
	for (int i = 0; i < 1000 && !sh->root_ticks; i++)
		crt_sleep_ms(1);
	pid_t root_t2 = 0;
	{
		/* The second thread's tid: the one in /proc/self/task that is not us. */
		DIR *d = opendir("/proc/self/task");
		struct dirent *e;
		while (d && (e = readdir(d)))
			if (e->d_name[0] != '.' && atoi(e->d_name) != getpid())
				root_t2 = atoi(e->d_name);
		if (d)
			closedir(d);
	}
	if (!root_t2)
		crt_setup_fail("no second thread");

	pid_t m = fork_or_fail();
	if (m == 0)
		child_m(getppid(), root_t2);

	/* M stops us here; the harness continues us, then sends SIGTERM. */
	crt_wait();

	long before = sh->root_ticks;
	crt_sleep_ms(100);
	CHECK(sh->root_ticks > before + 5, "root's second thread does not run (%ld -> %ld)", before, sh->root_ticks);
	CHECK(kill(m, 0) == 0 && state_of(m, m) != 'T' && state_of(m, m) != 'Z', "M (pid %d): state %c, want running", m,
	      state_of(m, m));

	check_stopped("A", a, SIGSTOP, 3);
	check_stopped("B", b, SIGTSTP, 1);
	check_continues("A", a, sh->a_ticks, 3);
	check_continues("B", b, &sh->b_ticks, 1);

	kill(a, SIGKILL);
	kill(b, SIGKILL);
	kill(m, SIGKILL);
	while (waitpid(-1, NULL, 0) > 0)
		;
	return crt_finish();
}
