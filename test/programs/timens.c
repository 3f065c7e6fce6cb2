/* timens: a time namespace of its own.
 *   unshare(CLONE_NEWTIME) (as an ordinary user inside a new user
 *   namespace, so that the selfcheck runs), CLOCK_MONOTONIC set 100000 s
 *   and CLOCK_BOOTTIME 200000 s ahead of the host's, then the program joins
 *   the namespace (setns on its time_for_children) and forks a child, born
 *   in it too. Before the pidfile it notes how far each clock is from
 *   CLOCK_REALTIME, which no time namespace moves.
 * Checks: each clock is as far from CLOCK_REALTIME as before but for the
 *   time the tree spent dumped (under a minute: a restore makes the clocks
 *   go on from where they were dumped), so the offsets are kept; the
 *   offsets /proc/self/timens_offsets shows are those too; the namespace is
 *   not the starting one and the child is in the same one, its clocks
 *   within a second of the program's. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "crtest.h"

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

#define MONO_OFF 100000LL
#define BOOT_OFF 200000LL
#define SLACK 60.0 /* seconds a dump and restore may take */

static double now(clockid_t c)
{
	struct timespec ts;

	clock_gettime(c, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

struct report {
	ino_t ns;
	double mono, boot;
};

static ino_t timens_ino(void)
{
	struct stat st;

	return stat("/proc/self/ns/time", &st) ? 0 : st.st_ino;
}

/* offset returns the offset /proc/self/timens_offsets shows for clock. */
static long long offset(const char *clock)
{
	FILE *f = fopen("/proc/self/timens_offsets", "r");
	char name[32];
	long long sec, nsec, got = -1;

	if (!f)
		return -1;
	while (fscanf(f, "%31s %lld %lld", name, &sec, &nsec) == 3)
		if (!strcmp(name, clock))
			got = sec;
	fclose(f);
	return got;
}

int main(int argc, char **argv)
{
	crt_init(argc, argv);
	ino_t start_ns = timens_ino();
	int flags = CLONE_NEWTIME;
	if (geteuid() != 0)
		flags |= CLONE_NEWUSER;
	if (unshare(flags))
		crt_setup_fail("unshare: %s", strerror(errno));
	int fd = open("/proc/self/timens_offsets", O_WRONLY);
	char offs[128];
	int n = snprintf(offs, sizeof(offs), "%d %lld 0\n%d %lld 0\n", CLOCK_MONOTONIC, MONO_OFF, CLOCK_BOOTTIME, BOOT_OFF);
	if (fd < 0 || write(fd, offs, n) != n)
		crt_setup_fail("write timens_offsets: %s", strerror(errno));
	close(fd);
	fd = open("/proc/self/ns/time_for_children", O_RDONLY);
	if (fd < 0 || setns(fd, CLONE_NEWTIME))
		crt_setup_fail("join the time namespace: %s", strerror(errno));
	close(fd);

	int req[2], resp[2];
	if (pipe(req) || pipe(resp))
		crt_setup_fail("pipe: %s", strerror(errno));
	pid_t kid = fork();
	if (kid < 0)
		crt_setup_fail("fork: %s", strerror(errno));
	if (kid == 0) {
		char c;
		close(req[1]);
		close(resp[0]);
		while (read(req[0], &c, 1) == 1) {
			struct report r = { timens_ino(), now(CLOCK_MONOTONIC), now(CLOCK_BOOTTIME) };
			if (write(resp[1], &r, sizeof(r)) != sizeof(r))
				_exit(1);
		}
		_exit(0);
	}
	close(req[0]);
	close(resp[1]);
	double mono0 = now(CLOCK_MONOTONIC) - now(CLOCK_REALTIME);
	double boot0 = now(CLOCK_BOOTTIME) - now(CLOCK_REALTIME);
	if (timens_ino() == start_ns)
		crt_setup_fail("not in the new time namespace");
	crt_ready();
	crt_wait();

	double mono = now(CLOCK_MONOTONIC) - now(CLOCK_REALTIME);
	double boot = now(CLOCK_BOOTTIME) - now(CLOCK_REALTIME);
	CHECK(mono <= mono0 + 1 && mono > mono0 - SLACK, "monotonic clock moved by %.3f s against the real-time clock", mono - mono0);
	CHECK(boot <= boot0 + 1 && boot > boot0 - SLACK, "boot clock moved by %.3f s against the real-time clock", boot - boot0);
	long long mo = offset("monotonic"), bo = offset("boottime");
	CHECK(mo <= MONO_OFF + 1 && mo > MONO_OFF - SLACK, "monotonic offset %lld, not about %lld", mo, MONO_OFF);
	CHECK(bo <= BOOT_OFF + 1 && bo > BOOT_OFF - SLACK, "boottime offset %lld, not about %lld", bo, BOOT_OFF);
	ino_t ns = timens_ino();
	CHECK(ns != 0 && ns != start_ns, "back in the starting time namespace");
	struct report r = { 0, 0, 0 };
	char c = 'q';
	CHECK(write(req[1], &c, 1) == 1 && read(resp[0], &r, sizeof(r)) == sizeof(r), "the child does not answer");
	double m = now(CLOCK_MONOTONIC), b = now(CLOCK_BOOTTIME);
	CHECK(r.ns == ns, "the child is in time namespace %lu, not %lu", (unsigned long)r.ns, (unsigned long)ns);
	CHECK(r.mono > m - 1 && r.mono <= m, "the child's monotonic clock %.3f, not about %.3f", r.mono, m);
	CHECK(r.boot > b - 1 && r.boot <= b, "the child's boot clock %.3f, not about %.3f", r.boot, b);
	close(req[1]);
	int st;
	CHECK(waitpid(kid, &st, 0) == kid && WIFEXITED(st) && WEXITSTATUS(st) == 0, "the child ended with %#x", st);
	return crt_finish();
}
