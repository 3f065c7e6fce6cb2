/* pidnsnest: pid namespaces nested two deep, the program's tree in both.
 *   The program unshares CLONE_NEWPID (as an ordinary user inside a new
 *   user namespace, so that the selfcheck runs) and forks the outer
 *   namespace's init, which leads a session of its own and forks
 *     A (pid 2), which waits;
 *     N (pid 3), cloned with CLONE_NEWPID: pid 1 of an inner namespace,
 *       in the init's session (whose leader its namespace cannot see) and
 *       a group of its own;
 *     three children that exit at once (pids 4 to 6, reaped), so that
 *       the outer ids of N's tasks do not follow on from N's; then N forks
 *         X (inner pid 2, outer 7), which waits;
 *         Y (inner 3, outer 8), which forks Z (inner 4, outer 9) and
 *           exits: Z is an orphan N adopts, and N reaps Y;
 *       and starts a thread (inner tid 5, outer 10);
 *     B (pid 11), which forks C (pid 12) and exits: C is an orphan the
 *       outer init adopts;
 *   and starts a thread (tid 13). The starting process writes the outer
 *   init's pid to the pidfile and exits; the harness dumps its tree.
 *   Every task tells its ids in the program's namespaces (the tail of
 *   NSpid) once set up, and again when asked after SIGTERM.
 * Checks: in the outer init its pid, session, group, NSpid and namespace,
 *   its thread's id; A's and C's ids in the outer namespace and parents;
 *   in N (asked by the init, which reports N's verdict): pid 1, NSpid
 *   outer 3 and inner 1, no session visible (0) and group 1, its thread's
 *   ids at both levels;
 *   X's and Z's ids at both levels as before, parents (1 for both, Z an
 *   orphan); N reaping X and Z with their exit statuses; the outer init
 *   reaping A, C and N with theirs; N's namespace (through a pidfd) the
 *   one N reports and a child of the outer init's. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/nsfs.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "crtest.h"

/* The ids of a task: pid and parent as it sees them, and the last depth
 * ids of NSpid (its ids in the program's namespaces, outer first). */
struct ids {
	pid_t pid, ppid;
	int depth;
	long nspid[2];
};

/* nspid_tail fills out with the last n ids of the NSpid line of
 * /proc/self/status (of /proc/thread-self/status for tid > 0: the calling
 * thread's). */
static int nspid_tail(pid_t tid, int n, long *out)
{
	FILE *f = fopen(tid > 0 ? "/proc/thread-self/status" : "/proc/self/status", "r");
	char line[256];
	long all[16];
	int cnt = 0;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "NSpid:", 6))
			continue;
		char *p = line + 6, *end;
		while (cnt < 16) {
			long v = strtol(p, &end, 10);
			if (end == p)
				break;
			all[cnt++] = v;
			p = end;
		}
	}
	fclose(f);
	if (cnt < n)
		return -1;
	for (int i = 0; i < n; i++)
		out[i] = all[cnt - n + i];
	return 0;
}

static struct ids my_ids(int depth)
{
	struct ids id = { getpid(), getppid(), depth, { 0, 0 } };
	if (nspid_tail(0, depth, id.nspid))
		id.nspid[0] = -1;
	return id;
}

/* A child that tells its ids at once, answers one request with them
 * again, then exits with code. */
struct kid {
	int req[2], resp[2];
	pid_t pid; /* as its parent sees it */
	struct ids before;
};

static void kid_pipes(struct kid *k)
{
	if (pipe(k->req) || pipe(k->resp))
		crt_setup_fail("pipe: %s", strerror(errno));
}

static void serve(struct kid *k, int depth, int code)
{
	close(k->req[1]);
	close(k->resp[0]);
	struct ids id = my_ids(depth);
	if (write(k->resp[1], &id, sizeof(id)) != sizeof(id))
		_exit(1);
	char c;
	if (read(k->req[0], &c, 1) != 1)
		_exit(1);
	id = my_ids(depth);
	if (write(k->resp[1], &id, sizeof(id)) != sizeof(id))
		_exit(1);
	_exit(code);
}

static int kid_hello(struct kid *k)
{
	close(k->req[0]);
	close(k->resp[1]);
	return read(k->resp[0], &k->before, sizeof(k->before)) == sizeof(k->before) ? 0 : -1;
}

static int kid_ask(struct kid *k, struct ids *now)
{
	char c = 'q';
	return write(k->req[1], &c, 1) == 1 && read(k->resp[0], now, sizeof(*now)) == sizeof(*now) ? 0 : -1;
}

static ino_t ino_of(const char *path)
{
	struct stat st;

	return stat(path, &st) ? 0 : st.st_ino;
}

static volatile int thread_go;
static volatile pid_t thread_tid;
static long thread_before[2], thread_after[2];
static int thread_depth;

static void *thread_main(void *arg)
{
	(void)arg;
	pid_t tid = syscall(SYS_gettid);
	nspid_tail(tid, thread_depth, thread_before);
	thread_tid = tid;
	while (!thread_go)
		crt_sleep_ms(10);
	nspid_tail(syscall(SYS_gettid), thread_depth, thread_after);
	return NULL;
}

static void start_thread(pthread_t *th, int depth)
{
	thread_depth = depth;
	if (pthread_create(th, NULL, thread_main, NULL))
		crt_setup_fail("pthread_create");
	while (!thread_tid)
		crt_sleep_ms(1);
}

/* The inner init's verdict, sent to the outer init with the inode of
 * its pid namespace. */
static char nverdict[256];
struct verdict {
	char text[256];
	ino_t ns;
};

/* From linux/pidfd.h (6.11): the namespaces of a pidfd's process. */
#ifndef PIDFD_GET_PID_NAMESPACE
#define PIDFD_GET_PID_NAMESPACE _IO(0xFF, 5)
#endif

static void ncheck(int cond, const char *fmt, ...)
{
	if (cond || nverdict[0])
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(nverdict, sizeof(nverdict), fmt, ap);
	va_end(ap);
}

enum { X, Z, NIN };
static const int in_code[NIN] = { 12, 14 };
static const pid_t in_pid[NIN][2] = { { 7, 2 }, { 9, 4 } }; /* outer, inner */

/* N: the inner namespace's init. ctl carries requests from the outer
 * init (its pid namespace's inode), res the verdict back. */
static void inner_main(int go, int ctl, int res, int ready)
{
	if (setpgid(0, 0))
		crt_setup_fail("setpgid: %s", strerror(errno));
	char g;
	if (read(go, &g, 1) != 1)
		crt_setup_fail("the outer init did not say go");
	close(go);
	struct kid k[NIN];
	for (int i = 0; i < NIN; i++)
		kid_pipes(&k[i]);
	pid_t x = fork();
	if (x < 0)
		crt_setup_fail("fork X: %s", strerror(errno));
	if (x == 0)
		serve(&k[X], 2, in_code[X]);
	k[X].pid = x;
	if (kid_hello(&k[X]))
		crt_setup_fail("X does not tell its ids");
	pid_t y = fork();
	if (y < 0)
		crt_setup_fail("fork Y: %s", strerror(errno));
	if (y == 0) {
		pid_t z = fork();
		if (z == 0)
			serve(&k[Z], 2, in_code[Z]);
		_exit(z < 0 ? 1 : 0);
	}
	int st;
	if (waitpid(y, &st, 0) != y || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
		crt_setup_fail("Y did not fork Z");
	k[Z].pid = in_pid[Z][1];
	if (kid_hello(&k[Z]))
		crt_setup_fail("Z does not tell its ids");
	if (x != in_pid[X][1] || y != 3)
		crt_setup_fail("inner children got pids %d, %d, not 2, 3", x, y);
	pthread_t th;
	start_thread(&th, 2);
	long self_before[2];
	if (nspid_tail(0, 2, self_before))
		crt_setup_fail("read NSpid");
	if (write(ready, "r", 1) != 1)
		crt_setup_fail("tell readiness: %s", strerror(errno));
	close(ready);

	ino_t outer_ns;
	if (read(ctl, &outer_ns, sizeof(outer_ns)) != sizeof(outer_ns))
		_exit(1);
	long self[2] = { 0, 0 };
	nspid_tail(0, 2, self);
	ncheck(getpid() == 1, "inner init: pid %d, not 1", getpid());
	ncheck(self[0] == 3 && self[1] == 1 && self_before[0] == 3, "inner init: NSpid ... %ld %ld, not 3 1", self[0], self[1]);
	ncheck(getsid(0) == 0 && getpgrp() == 1, "inner init: session %d, group %d, not 0 and 1", getsid(0), getpgrp());
	ncheck(ino_of("/proc/self/ns/pid") != outer_ns, "inner init: in the outer namespace");
	ncheck(ino_of("/proc/self/ns/pid_for_children") == ino_of("/proc/self/ns/pid"), "inner init: children go to another namespace");
	thread_go = 1;
	pthread_join(th, NULL);
	ncheck(thread_before[0] == 10 && thread_before[1] == 5 && thread_after[0] == 10 && thread_after[1] == 5,
	       "inner thread ids %ld %ld, then %ld %ld, not 10 5", thread_before[0], thread_before[1], thread_after[0], thread_after[1]);
	for (int i = 0; i < NIN; i++) {
		struct ids now;
		memset(&now, 0, sizeof(now));
		ncheck(kid_ask(&k[i], &now) == 0, "inner child %d does not answer", in_pid[i][1]);
		ncheck(k[i].before.nspid[0] == in_pid[i][0] && k[i].before.nspid[1] == in_pid[i][1],
		       "inner child %d had ids %ld %ld, not %d %d", in_pid[i][1], k[i].before.nspid[0], k[i].before.nspid[1], in_pid[i][0], in_pid[i][1]);
		ncheck(now.pid == in_pid[i][1] && now.ppid == 1 && now.nspid[0] == k[i].before.nspid[0] && now.nspid[1] == k[i].before.nspid[1],
		       "inner child %d is now %d, child of %d, ids %ld %ld", in_pid[i][1], now.pid, now.ppid, now.nspid[0], now.nspid[1]);
	}
	for (int n = 0; n < NIN; n++) {
		pid_t p = waitpid(-1, &st, 0);
		int i = p == in_pid[X][1] ? X : p == in_pid[Z][1] ? Z : -1;
		ncheck(i >= 0, "inner init reaped %d (%s)", p, p < 0 ? strerror(errno) : "not a child");
		if (i >= 0)
			ncheck(WIFEXITED(st) && WEXITSTATUS(st) == in_code[i], "inner child %d ended with status %#x", p, st);
	}
	if (!nverdict[0])
		strcpy(nverdict, "PASS");
	struct verdict v;
	memcpy(v.text, nverdict, sizeof(v.text));
	v.ns = ino_of("/proc/self/ns/pid");
	if (write(res, &v, sizeof(v)) != sizeof(v))
		_exit(1);
	_exit(33);
}

/* With PIDNSNEST_SETNS: a child J of the outer init joins N's namespace
 * for its children (setns through a pidfd of N) and forks K there, which
 * no restore could clone (its parent is outside its namespace, and it is
 * not an init): a dump must refuse J (pkg/dump's TestDumpNestedPidNsSetns).
 * J kills and reaps K once hold's write end is closed, and exits 0. */
static pid_t join_inner(int hold[2])
{
	if (pipe(hold))
		crt_setup_fail("pipe: %s", strerror(errno));
	pid_t j = fork();
	if (j < 0)
		crt_setup_fail("fork J: %s", strerror(errno));
	if (j > 0) {
		close(hold[0]);
		return j;
	}
	close(hold[1]);
	int pidfd = syscall(SYS_pidfd_open, 3, 0);
	if (pidfd < 0 || setns(pidfd, CLONE_NEWPID))
		_exit(1);
	pid_t k = fork();
	if (k < 0)
		_exit(1);
	if (k == 0) {
		for (;;)
			pause();
	}
	char c;
	while (read(hold[0], &c, 1) > 0)
		;
	kill(k, SIGKILL);
	_exit(waitpid(k, NULL, 0) == k ? 0 : 1);
}

enum { A, C, N, NOUT };
static const pid_t out_pid[NOUT] = { 2, 12, 3 };
static const int out_code[NOUT] = { 22, 44, 33 };

static int init_main(int ready)
{
	if (setsid() < 0)
		crt_setup_fail("setsid: %s", strerror(errno));
	struct kid k[NOUT];
	kid_pipes(&k[A]);
	kid_pipes(&k[C]);
	pid_t a = fork();
	if (a < 0)
		crt_setup_fail("fork A: %s", strerror(errno));
	if (a == 0)
		serve(&k[A], 1, out_code[A]);
	k[A].pid = a;
	if (kid_hello(&k[A]))
		crt_setup_fail("A does not tell its ids");

	int go[2], ctl[2], res[2], nready[2];
	if (pipe(go) || pipe(ctl) || pipe(res) || pipe(nready))
		crt_setup_fail("pipe: %s", strerror(errno));
	pid_t n = syscall(SYS_clone, CLONE_NEWPID | SIGCHLD, NULL, NULL, NULL, NULL);
	if (n < 0)
		crt_setup_fail("clone CLONE_NEWPID: %s", strerror(errno));
	if (n == 0) {
		close(go[1]);
		close(ctl[1]);
		close(res[0]);
		close(nready[0]);
		inner_main(go[0], ctl[0], res[1], nready[1]);
	}
	close(go[0]);
	/* Ids 4 to 6 of this namespace go to tasks that are gone before N's
	 * children take theirs: their ids here do not follow on from N's. */
	for (int i = 0; i < 3; i++) {
		pid_t d = fork();
		if (d < 0)
			crt_setup_fail("fork: %s", strerror(errno));
		if (d == 0)
			_exit(0);
		if (waitpid(d, NULL, 0) != d)
			crt_setup_fail("reap %d: %s", d, strerror(errno));
	}
	if (write(go[1], "g", 1) != 1)
		crt_setup_fail("tell N to go: %s", strerror(errno));
	close(go[1]);
	close(ctl[0]);
	close(res[1]);
	close(nready[1]);
	char c;
	if (read(nready[0], &c, 1) != 1)
		crt_setup_fail("the inner init did not get ready");
	close(nready[0]);

	pid_t b = fork();
	if (b < 0)
		crt_setup_fail("fork B: %s", strerror(errno));
	if (b == 0) {
		pid_t cc = fork();
		if (cc == 0)
			serve(&k[C], 1, out_code[C]);
		_exit(cc < 0 ? 1 : 0);
	}
	int st;
	if (waitpid(b, &st, 0) != b || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
		crt_setup_fail("B did not fork C");
	k[C].pid = out_pid[C];
	if (kid_hello(&k[C]))
		crt_setup_fail("C does not tell its ids");
	if (a != out_pid[A] || n != out_pid[N] || b != 11)
		crt_setup_fail("children got pids %d, %d, %d, not 2, 3, 11", a, n, b);
	pthread_t th;
	start_thread(&th, 1);
	int hold[2] = { -1, -1 };
	pid_t j = 0;
	if (getenv("PIDNSNEST_SETNS"))
		j = join_inner(hold);
	if (write(ready, "r", 1) != 1)
		crt_setup_fail("tell readiness: %s", strerror(errno));
	close(ready);
	crt_wait();

	ino_t ns = ino_of("/proc/self/ns/pid");
	long self[1] = { 0 };
	nspid_tail(0, 1, self);
	CHECK(getpid() == 1, "pid %d, not 1", getpid());
	CHECK(getsid(0) == 1 && getpgrp() == 1, "session %d, group %d, not 1", getsid(0), getpgrp());
	CHECK(self[0] == 1, "last NSpid %ld, not 1", self[0]);
	thread_go = 1;
	pthread_join(th, NULL);
	CHECK(thread_before[0] == 13 && thread_after[0] == 13, "thread id %ld, then %ld, not 13", thread_before[0], thread_after[0]);
	for (int i = 0; i < N; i++) {
		struct ids now;
		memset(&now, 0, sizeof(now));
		CHECK(kid_ask(&k[i], &now) == 0, "child %d does not answer", out_pid[i]);
		CHECK(k[i].before.nspid[0] == out_pid[i] && now.pid == out_pid[i] && now.ppid == 1 && now.nspid[0] == out_pid[i],
		      "child %d had NSpid ... %ld, is now %d, child of %d, NSpid ... %ld", out_pid[i], k[i].before.nspid[0], now.pid, now.ppid, now.nspid[0]);
	}
	/* N's namespace, through a pidfd of N, is to be a child of this one
	 * (the inner init cannot ask: NS_GET_PARENT sees no namespace above
	 * the caller's); taken while N is alive. */
	int pidfd = syscall(SYS_pidfd_open, out_pid[N], 0);
	int nsfd = pidfd < 0 ? -1 : ioctl(pidfd, PIDFD_GET_PID_NAMESPACE, 0);
	int pfd = nsfd < 0 ? -1 : ioctl(nsfd, NS_GET_PARENT);
	struct stat nst, pst;
	CHECK(pfd >= 0 && fstat(nsfd, &nst) == 0 && fstat(pfd, &pst) == 0, "pid namespace of the inner init and its parent: %s", strerror(errno));
	if (write(ctl[1], &ns, sizeof(ns)) != sizeof(ns))
		CHECK(0, "ask the inner init: %s", strerror(errno));
	struct verdict v;
	memset(&v, 0, sizeof(v));
	if (read(res[0], &v, sizeof(v)) != sizeof(v))
		CHECK(0, "the inner init does not answer");
	v.text[sizeof(v.text) - 1] = 0;
	CHECK(strcmp(v.text, "PASS") == 0, "%s", v.text);
	if (pfd >= 0) {
		CHECK(nst.st_ino == v.ns && nst.st_ino != ns, "the inner init's pid namespace is [%lu], it says [%lu], this one's is [%lu]",
		      (unsigned long)nst.st_ino, (unsigned long)v.ns, (unsigned long)ns);
		CHECK(pst.st_ino == ns, "the inner init's pid namespace has parent [%lu], not this one [%lu]", (unsigned long)pst.st_ino, (unsigned long)ns);
	}
	if (j > 0) {
		close(hold[1]);
		CHECK(waitpid(j, &st, 0) == j && WIFEXITED(st) && WEXITSTATUS(st) == 0, "the task that joined the inner namespace ended with status %#x", st);
	}
	for (int m = 0; m < NOUT; m++) {
		pid_t p = waitpid(-1, &st, 0);
		int i = -1;
		for (int j = 0; j < NOUT; j++)
			if (p == out_pid[j])
				i = j;
		CHECK(i >= 0, "reaped %d (%s)", p, p < 0 ? strerror(errno) : "not a child");
		if (i >= 0)
			CHECK(WIFEXITED(st) && WEXITSTATUS(st) == out_code[i], "child %d ended with status %#x", p, st);
	}
	return crt_finish();
}

int main(int argc, char **argv)
{
	crt_init(argc, argv);
	crt_ready_pid(crt_pidns_init(init_main));
	return 0;
}
