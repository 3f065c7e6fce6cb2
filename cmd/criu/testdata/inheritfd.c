// inheritfd PIDFILE: the tracee of cmd/criu's inherit-fd and sibling
// tests. Its fd 3 is the write end of a pipe and its fd 4 a file opened
// for appending, both given by the test. It writes "before PID\n" to
// both, then its pid to PIDFILE, and waits; on SIGTERM it writes "after
// PID\n" to both and exits with status 7. After a restore with
// --inherit-fd the "after" lines must reach the pipe and the file the
// restore was given, not the dumped ones.
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t done;

static void on_term(int sig) { (void)sig; done = 1; }

static int say(const char *what)
{
	char buf[64];
	int n = snprintf(buf, sizeof(buf), "%s %d\n", what, getpid());
	if (write(3, buf, n) != n || write(4, buf, n) != n)
		return -1;
	return 0;
}

int main(int argc, char **argv)
{
	sigset_t set, old;
	FILE *f;

	if (argc != 2)
		return 2;
	signal(SIGTERM, on_term);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigprocmask(SIG_BLOCK, &set, &old);
	if (say("before"))
		return 3;
	f = fopen(argv[1], "w");
	if (!f || fprintf(f, "%d\n", getpid()) < 0 || fclose(f))
		return 4;
	while (!done)
		sigsuspend(&old);
	if (say("after"))
		return 5;
	return 7;
}
