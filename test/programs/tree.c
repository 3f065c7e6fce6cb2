/* tree: sessions, process groups and a zombie.
 * The test process leads a new session and forks:
 *   A: stays in the leader's group;
 *   B: leads its own group, and forks C, which stays in B's group;
 *   D: leads its own session;
 *   E: joins B's group;
 *   Z: exits with status 7 and is left a zombie.
 * Each live child answers a request on its own pipe pair with its pid,
 * ppid, pgid and sid as it sees them.
 * Checks: every child's ids from its own view, the leader's session and
 * group, and the zombie's exit status. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "crtest.h"

enum { A, B, C, D, E, NKIDS };
static const char *names = "ABCDE";

struct ids {
	pid_t pid, ppid, pgid, sid;
};

static int req[NKIDS][2], resp[NKIDS][2];
static pid_t kids[NKIDS];

/* In a child: keep only its own pipe ends (and C's, for B to hand over),
 * then answer requests until killed. */
static void serve(int me, int keep_c)
{
	for (int i = 0; i < NKIDS; i++) {
		if (i == me || (keep_c && i == C))
			continue;
		close(req[i][0]);
		close(req[i][1]);
		close(resp[i][0]);
		close(resp[i][1]);
	}
	if (keep_c)
		return;
	close(req[me][1]);
	close(resp[me][0]);
	for (;;) {
		char c;
		if (read(req[me][0], &c, 1) != 1)
			_exit(0);
		struct ids id = { getpid(), getppid(), getpgrp(), getsid(0) };
		if (write(resp[me][1], &id, sizeof(id)) != sizeof(id))
			_exit(1);
	}
}

static pid_t spawn(int me, void (*before)(void))
{
	pid_t pid = fork();

	if (pid < 0)
		crt_setup_fail("fork: %s", strerror(errno));
	if (pid == 0) {
		if (before)
			before();
		serve(me, 0);
	}
	return pid;
}

static void own_session(void)
{
	setsid();
}

static void join_b(void)
{
	setpgid(0, kids[B]);
}

static void b_main(void)
{
	setpgid(0, 0);
	serve(B, 1); /* keeps C's pipes */
	pid_t c = fork();
	if (c == 0)
		serve(C, 0);
	close(req[C][0]);
	close(req[C][1]);
	close(resp[C][0]);
	close(resp[C][1]);
	serve(B, 0);
}

static int ask(int k, struct ids *id)
{
	char c = 'q';

	return write(req[k][1], &c, 1) == 1 && read(resp[k][0], id, sizeof(*id)) == sizeof(*id);
}

int main(int argc, char **argv)
{
	crt_init(argc, argv);
	if (getsid(0) != getpid() && setsid() < 0)
		crt_setup_fail("setsid: %s", strerror(errno));
	for (int i = 0; i < NKIDS; i++)
		if (pipe(req[i]) || pipe(resp[i]))
			crt_setup_fail("pipe: %s", strerror(errno));

	kids[A] = spawn(A, NULL);
	kids[B] = fork();
	if (kids[B] < 0)
		crt_setup_fail("fork: %s", strerror(errno));
	if (kids[B] == 0)
		b_main();
	setpgid(kids[B], kids[B]); /* as B does: whoever runs first wins */
	kids[D] = spawn(D, own_session);
	kids[E] = spawn(E, join_b);
	pid_t z = fork();
	if (z == 0)
		_exit(7);
	for (int i = 0; i < NKIDS; i++) {
		close(req[i][0]);
		close(resp[i][1]);
	}

	/* Everyone answers once before we are ready: the tree is complete. */
	struct ids id[NKIDS];
	for (int k = 0; k < NKIDS; k++)
		if (!ask(k, &id[k]))
			crt_setup_fail("child %c does not answer", names[k]);
	kids[C] = id[C].pid;
	siginfo_t si;
	memset(&si, 0, sizeof(si));
	if (waitid(P_PID, z, &si, WEXITED | WNOWAIT))
		crt_setup_fail("waitid zombie: %s", strerror(errno));
	crt_ready();
	crt_wait();

	pid_t me = getpid();
	CHECK(getsid(0) == me && getpgrp() == me, "leader: sid %d pgid %d", getsid(0), getpgrp());
	struct ids want[NKIDS] = {
		[A] = { kids[A], me, me, me },	       [B] = { kids[B], me, kids[B], me },
		[C] = { kids[C], kids[B], kids[B], me }, [D] = { kids[D], me, kids[D], kids[D] },
		[E] = { kids[E], me, kids[B], me },
	};
	for (int k = 0; k < NKIDS; k++) {
		struct ids got;
		if (!ask(k, &got)) {
			CHECK(0, "child %c does not answer", names[k]);
			continue;
		}
		CHECK(!memcmp(&got, &want[k], sizeof(got)), "child %c: pid %d ppid %d pgid %d sid %d, want %d %d %d %d",
		      names[k], got.pid, got.ppid, got.pgid, got.sid, want[k].pid, want[k].ppid, want[k].pgid, want[k].sid);
	}
	int st;
	CHECK(waitpid(z, &st, WNOHANG) == z && WIFEXITED(st) && WEXITSTATUS(st) == 7, "zombie lost or wrong status");

	kill(kids[C], SIGKILL);
	for (int k = 0; k < NKIDS; k++)
		if (k != C) {
			kill(kids[k], SIGKILL);
			waitpid(kids[k], NULL, 0);
		}
	return crt_finish();
}
