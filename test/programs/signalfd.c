/* signalfd: signal descriptors.
 *   s1: O_NONBLOCK | close-on-exec, accepts SIGUSR1, which is blocked and
 *       pending;
 *   s2: blocking, accepts SIGUSR2 and SIGRTMIN+1.
 * Checks: the masks (fdinfo), the flags, the pending SIGUSR1 read through
 * s1, and that s2 still takes SIGUSR2. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "crtest.h"

/* The "sigmask:" of the fd's fdinfo: bit n-1 for signal n. */
static unsigned long long fdinfo_mask(int fd)
{
	char path[64], line[256];
	unsigned long long m = 0;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "sigmask: %llx", &m) == 1)
			break;
	fclose(f);
	return m;
}

int main(int argc, char **argv)
{
	crt_init(argc, argv);
	sigset_t blk, m1, m2;
	sigemptyset(&blk);
	sigaddset(&blk, SIGUSR1);
	sigaddset(&blk, SIGUSR2);
	sigaddset(&blk, SIGRTMIN + 1);
	if (sigprocmask(SIG_BLOCK, &blk, NULL))
		crt_setup_fail("sigprocmask: %s", strerror(errno));
	sigemptyset(&m1);
	sigaddset(&m1, SIGUSR1);
	sigemptyset(&m2);
	sigaddset(&m2, SIGUSR2);
	sigaddset(&m2, SIGRTMIN + 1);
	int s1 = signalfd(-1, &m1, SFD_NONBLOCK | SFD_CLOEXEC);
	int s2 = signalfd(-1, &m2, 0);
	if (s1 < 0 || s2 < 0)
		crt_setup_fail("signalfd: %s", strerror(errno));
	if (kill(getpid(), SIGUSR1))
		crt_setup_fail("kill: %s", strerror(errno));
	crt_ready();
	crt_wait();

	unsigned long long want1 = 1ULL << (SIGUSR1 - 1), want2 = 1ULL << (SIGUSR2 - 1) | 1ULL << (SIGRTMIN + 1 - 1);
	CHECK(fdinfo_mask(s1) == want1, "s1 mask %#llx, want %#llx", fdinfo_mask(s1), want1);
	CHECK(fdinfo_mask(s2) == want2, "s2 mask %#llx, want %#llx", fdinfo_mask(s2), want2);
	CHECK((fcntl(s1, F_GETFL) & O_NONBLOCK) && fcntl(s1, F_GETFD) == FD_CLOEXEC, "s1 flags");
	CHECK(!(fcntl(s2, F_GETFL) & O_NONBLOCK) && fcntl(s2, F_GETFD) == 0, "s2 flags");

	struct signalfd_siginfo si;
	memset(&si, 0, sizeof(si));
	CHECK(read(s1, &si, sizeof(si)) == sizeof(si) && si.ssi_signo == SIGUSR1, "s1 gave signal %u, want SIGUSR1",
	      si.ssi_signo);
	errno = 0;
	CHECK(read(s1, &si, sizeof(si)) < 0 && errno == EAGAIN, "s1 not empty after SIGUSR1 (errno %d)", errno);
	CHECK(!kill(getpid(), SIGUSR2), "kill SIGUSR2");
	memset(&si, 0, sizeof(si));
	CHECK(read(s2, &si, sizeof(si)) == sizeof(si) && si.ssi_signo == SIGUSR2, "s2 gave signal %u, want SIGUSR2",
	      si.ssi_signo);
	return crt_finish();
}
