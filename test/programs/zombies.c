/* zombies: children left unreaped after dying in different ways: exit
 * status 3, killed by SIGKILL, killed by SIGTERM (its default action),
 * killed by SIGUSR1 whose action it had set to a handler before (the
 * default comes back for its death).
 * Checks, after SIGTERM: each child is still a zombie of this process
 * with its pid, and waitpid reports how it died. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "crtest.h"

static void on_usr1(int s) { (void)s; }

static pid_t child(int how)
{
	pid_t p = fork();
	if (p < 0)
		crt_setup_fail("fork: %s", strerror(errno));
	if (p == 0) {
		signal(SIGTERM, SIG_DFL); /* crt_init's handler is inherited */
		if (how == 0)
			_exit(3);
		if (how == SIGUSR1)
			signal(SIGUSR1, on_usr1);
		for (;;)
			pause();
	}
	if (how != 0) {
		usleep(20000);
		if (how == SIGUSR1) {
			/* The handler is there: make it die of the signal anyway. */
			kill(p, SIGKILL);
			return p;
		}
		kill(p, how);
	}
	return p;
}

int main(int argc, char **argv)
{
	crt_init(argc, argv);
	int hows[] = {0, SIGKILL, SIGTERM, SIGUSR1};
	int want[] = {3, SIGKILL, SIGTERM, SIGKILL};
	pid_t kids[4];
	for (int i = 0; i < 4; i++)
		kids[i] = child(hows[i]);
	for (int i = 0; i < 4; i++) {
		siginfo_t si;
		memset(&si, 0, sizeof(si));
		if (waitid(P_PID, kids[i], &si, WEXITED | WNOWAIT) != 0)
			crt_setup_fail("waitid %d: %s", kids[i], strerror(errno));
	}
	crt_ready();
	crt_wait();
	for (int i = 0; i < 4; i++) {
		int st;
		pid_t got = waitpid(kids[i], &st, WNOHANG);
		CHECK(got == kids[i], "zombie %d: waitpid gave %d (%s)", kids[i], got, got < 0 ? strerror(errno) : "not dead");
		if (got != kids[i])
			continue;
		if (hows[i] == 0)
			CHECK(WIFEXITED(st) && WEXITSTATUS(st) == want[i], "zombie %d: status %#x, want exit %d", kids[i], st, want[i]);
		else
			CHECK(WIFSIGNALED(st) && WTERMSIG(st) == want[i], "zombie %d: status %#x, want killed by %d", kids[i], st, want[i]);
	}
	return crt_finish();
}
