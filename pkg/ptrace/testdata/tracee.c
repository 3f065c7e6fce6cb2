//go:build ignore

// tracee: a small process for pkg/ptrace tests. It sets up the state its
// mode names, prints "ready" on stdout, and sleeps until killed.
//
//	tracee sleep      nothing more
//	tracee sigqueue   SIGUSR1 queued to the process with value 42 and
//	                  SIGUSR2 to the thread, both blocked
//	tracee seccomp    two allow-all seccomp filters, the second with
//	                  SECCOMP_FILTER_FLAG_LOG
#define _GNU_SOURCE
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static int allow_all(unsigned int flags, int extra)
{
	struct sock_filter insns[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = {
		.len = extra ? 2 : 1,
		.filter = extra ? insns : insns + 1,
	};
	return syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &prog);
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "sleep";

	if (!strcmp(mode, "sigqueue")) {
		sigset_t set;
		union sigval v = {.sival_int = 42};

		sigemptyset(&set);
		sigaddset(&set, SIGUSR1);
		sigaddset(&set, SIGUSR2);
		if (sigprocmask(SIG_BLOCK, &set, NULL) ||
		    sigqueue(getpid(), SIGUSR1, v) ||
		    syscall(SYS_tgkill, getpid(), gettid(), SIGUSR2)) {
			perror("sigqueue");
			return 1;
		}
	} else if (!strcmp(mode, "seccomp")) {
		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) || allow_all(0, 1) ||
		    allow_all(SECCOMP_FILTER_FLAG_LOG, 0)) {
			perror("seccomp");
			return 1;
		}
	} else if (strcmp(mode, "sleep")) {
		fprintf(stderr, "unknown mode %s\n", mode);
		return 2;
	}
	printf("ready\n");
	fflush(stdout);
	for (;;) {
		struct timespec ts = {.tv_sec = 1000};
		nanosleep(&ts, NULL);
	}
}
