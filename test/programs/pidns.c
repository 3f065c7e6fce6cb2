/* pidns: a pid namespace of its own, the program's tree inside it.
 *   The program unshares CLONE_NEWPID (as an ordinary user inside a new
 *   user namespace, so that the selfcheck runs) and forks the namespace's
 *   init, which leads a session of its own and forks
 *     A (pid 2), which waits;
 *     B (pid 3), which forks C (pid 4) and exits: C is an orphan the init
 *       adopts, and the init reaps B;
 *   and starts a second thread (tid 5). The starting process writes the
 *   init's pid outside the namespace to the pidfile and exits; the harness
 *   dumps the init's tree.
 * Checks (in the init, after SIGTERM): its pid 1, session and group 1, the
 *   last NSpid of /proc/self/status 1, a pid namespace that is not the one
 *   the program started in; the thread's id; A's and C's pids and parents
 *   as they see them (C's parent is the init); and the init reaping both
 *   with the status each exits with, the orphan C too. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "crtest.h"

enum { A, C, NKIDS };
static const pid_t want_pid[NKIDS] = { 2, 4 };
static const int exit_code[NKIDS] = { 22, 44 };

static int req[NKIDS][2], resp[NKIDS][2];
static ino_t start_ns;

struct ids {
	pid_t pid, ppid;
};

/* In a child: answer one request with its ids, then exit with its code. */
static void serve(int me)
{
	for (int i = 0; i < NKIDS; i++) {
		if (i == me)
			continue;
		close(req[i][0]);
		close(req[i][1]);
		close(resp[i][0]);
		close(resp[i][1]);
	}
	close(req[me][1]);
	close(resp[me][0]);
	char c;
	if (read(req[me][0], &c, 1) != 1)
		_exit(1);
	struct ids id = { getpid(), getppid() };
	if (write(resp[me][1], &id, sizeof(id)) != sizeof(id))
		_exit(1);
	_exit(exit_code[me]);
}

static volatile int thread_go;
static volatile pid_t thread_tid, thread_tid_after;

static void *thread_main(void *arg)
{
	(void)arg;
	thread_tid = syscall(SYS_gettid);
	while (!thread_go)
		crt_sleep_ms(10);
	thread_tid_after = syscall(SYS_gettid);
	return NULL;
}

/* last_nspid returns the last id of the NSpid line of /proc/self/status. */
static long last_nspid(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long last = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "NSpid:", 6))
			continue;
		char *p = line + 6, *end;
		for (;;) {
			long v = strtol(p, &end, 10);
			if (end == p)
				break;
			last = v;
			p = end;
		}
	}
	fclose(f);
	return last;
}

static ino_t pidns_ino(void)
{
	struct stat st;

	return stat("/proc/self/ns/pid", &st) ? 0 : st.st_ino;
}

static int init_main(int ready)
{
	if (setsid() < 0)
		crt_setup_fail("setsid: %s", strerror(errno));
	for (int i = 0; i < NKIDS; i++)
		if (pipe(req[i]) || pipe(resp[i]))
			crt_setup_fail("pipe: %s", strerror(errno));
	pid_t a = fork();
	if (a < 0)
		crt_setup_fail("fork A: %s", strerror(errno));
	if (a == 0)
		serve(A);
	pid_t b = fork();
	if (b < 0)
		crt_setup_fail("fork B: %s", strerror(errno));
	if (b == 0) {
		pid_t c = fork();
		if (c == 0)
			serve(C);
		_exit(c < 0 ? 1 : 0);
	}
	int st;
	if (waitpid(b, &st, 0) != b || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
		crt_setup_fail("B did not fork C");
	if (a != want_pid[A] || b != 3)
		crt_setup_fail("children got pids %d, %d, not 2, 3", a, b);
	for (int i = 0; i < NKIDS; i++) {
		close(req[i][0]);
		close(resp[i][1]);
	}
	pthread_t th;
	if (pthread_create(&th, NULL, thread_main, NULL))
		crt_setup_fail("pthread_create");
	while (!thread_tid)
		crt_sleep_ms(1);
	if (write(ready, "r", 1) != 1)
		crt_setup_fail("tell readiness: %s", strerror(errno));
	close(ready);
	crt_wait();

	CHECK(getpid() == 1, "pid %d, not 1", getpid());
	CHECK(getsid(0) == 1 && getpgrp() == 1, "session %d, group %d, not 1", getsid(0), getpgrp());
	CHECK(last_nspid() == 1, "last NSpid %ld, not 1", last_nspid());
	CHECK(pidns_ino() != 0 && pidns_ino() != start_ns, "back in the starting pid namespace");
	thread_go = 1;
	pthread_join(th, NULL);
	CHECK(thread_tid == 5 && thread_tid_after == thread_tid, "thread id %d, then %d, not 5", thread_tid, thread_tid_after);
	for (int i = 0; i < NKIDS; i++) {
		struct ids id = { 0, 0 };
		char c = 'q';
		int ok = write(req[i][1], &c, 1) == 1 && read(resp[i][0], &id, sizeof(id)) == sizeof(id);
		CHECK(ok, "child %d does not answer", want_pid[i]);
		CHECK(id.pid == want_pid[i] && id.ppid == 1, "child %d sees itself as %d, child of %d", want_pid[i], id.pid, id.ppid);
	}
	for (int n = 0; n < NKIDS; n++) {
		pid_t p = waitpid(-1, &st, 0);
		int i = p == want_pid[A] ? A : p == want_pid[C] ? C : -1;
		CHECK(i >= 0, "reaped %d (%s)", p, p < 0 ? strerror(errno) : "not a child");
		if (i >= 0)
			CHECK(WIFEXITED(st) && WEXITSTATUS(st) == exit_code[i], "child %d ended with status %#x", p, st);
	}
	return crt_finish();
}

int main(int argc, char **argv)
{
	crt_init(argc, argv);
	start_ns = pidns_ino();
	crt_ready_pid(crt_pidns_init(init_main));
	return 0;
}
