/* pidfd: process file descriptors.
 *   pa:  of a running child, from clone(CLONE_PIDFD);
 *   pa2: of the same child, pidfd_open with PIDFD_NONBLOCK;
 *   ps:  of the program itself (close-on-exec cleared), ps2 a dup of it;
 *   pz:  of a child that exited with status 7 and is left a zombie;
 *   pd:  of a child that was killed and reaped, pd3 a dup
 *        of it, pd2 a second pidfd of it opened with PIDFD_NONBLOCK.
 * Checks: each is a pidfd whose fdinfo Pid: names its process (-1 for the
 * reaped one), the flags and close-on-exec, which fds share a file and
 * which a process (one pidfs inode), poll (the zombie and the reaped one
 * have exited, the running child not), waitid through the non-blocking
 * one says EAGAIN, pidfd_send_signal to itself runs the handler and to
 * the reaped one says ESRCH, waitid through the zombie's reports status
 * 7 and through the reaped one's ECHILD, and the running child is killed
 * through its pidfd and reaped with its SIGKILL. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "crtest.h"

#ifndef PIDFD_NONBLOCK
#define PIDFD_NONBLOCK O_NONBLOCK
#endif
#ifndef P_PIDFD
#define P_PIDFD 3
#endif
#define KCMP_FILE 0

static volatile sig_atomic_t usr1;
static void on_usr1(int s) { (void)s; usr1++; }

static int pidfd_open(pid_t pid, unsigned flags) { return syscall(SYS_pidfd_open, pid, flags); }
static int send_sig(int pfd, int sig) { return syscall(SYS_pidfd_send_signal, pfd, sig, NULL, 0); }
static int same_file(int a, int b) { return syscall(SYS_kcmp, getpid(), getpid(), KCMP_FILE, a, b) == 0; }

/* fdinfo_pid returns the Pid: of fd's fdinfo, or -2 if there is none. */
static int fdinfo_pid(int fd)
{
	char path[64], line[256];
	int pid = -2;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	FILE *f = fopen(path, "r");
	if (!f)
		return -2;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "Pid: %d", &pid) == 1)
			break;
	fclose(f);
	return pid;
}

static int is_pidfd(int fd)
{
	char path[64], link[64] = "";

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	return readlink(path, link, sizeof(link) - 1) > 0 && !strcmp(link, "anon_inode:[pidfd]");
}

static ino_t ino(int fd)
{
	struct stat st;
	return fstat(fd, &st) ? 0 : st.st_ino;
}

static short revents(int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	return poll(&p, 1, 0) == 1 ? p.revents : 0;
}

static int nonblock(int fd) { return (fcntl(fd, F_GETFL) & O_NONBLOCK) != 0; }

int main(int argc, char **argv)
{
	crt_init(argc, argv);
	signal(SIGUSR1, on_usr1);

	int pa = -1;
	pid_t a = syscall(SYS_clone, CLONE_PIDFD | SIGCHLD, NULL, &pa, NULL, NULL);
	if (a < 0)
		crt_setup_fail("clone(CLONE_PIDFD): %s", strerror(errno));
	if (a == 0) {
		signal(SIGTERM, SIG_DFL);
		for (;;)
			pause();
	}
	int pa2 = pidfd_open(a, PIDFD_NONBLOCK);
	int ps = pidfd_open(getpid(), 0);
	if (pa < 0 || pa2 < 0 || ps < 0)
		crt_setup_fail("pidfd_open: %s", strerror(errno));
	if (fcntl(ps, F_SETFD, 0) < 0)
		crt_setup_fail("F_SETFD: %s", strerror(errno));
	int ps2 = dup(ps);

	pid_t z = fork();
	if (z == 0)
		_exit(7);
	pid_t d = fork();
	if (d == 0) {
		signal(SIGTERM, SIG_DFL);
		for (;;)
			pause();
	}
	if (z < 0 || d < 0)
		crt_setup_fail("fork: %s", strerror(errno));
	int pz = pidfd_open(z, 0);
	int pd = pidfd_open(d, 0);
	int pd2 = pidfd_open(d, PIDFD_NONBLOCK);
	if (pz < 0 || pd < 0 || pd2 < 0)
		crt_setup_fail("pidfd_open: %s", strerror(errno));
	int pd3 = dup(pd);
	siginfo_t si;
	memset(&si, 0, sizeof(si));
	if (waitid(P_PID, z, &si, WEXITED | WNOWAIT) != 0)
		crt_setup_fail("waitid zombie: %s", strerror(errno));
	kill(d, SIGKILL);
	if (waitpid(d, NULL, 0) != d)
		crt_setup_fail("waitpid: %s", strerror(errno));
	crt_ready();
	crt_wait();

	int all[] = {pa, pa2, ps, ps2, pz, pd, pd2, pd3};
	for (unsigned i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		CHECK(is_pidfd(all[i]), "fd %d is not a pidfd", all[i]);
	CHECK(fdinfo_pid(pa) == a && fdinfo_pid(pa2) == a, "child's pidfds say Pid %d, %d; want %d", fdinfo_pid(pa), fdinfo_pid(pa2), a);
	CHECK(fdinfo_pid(ps) == getpid() && fdinfo_pid(ps2) == getpid(), "own pidfd says Pid %d; want %d", fdinfo_pid(ps), getpid());
	CHECK(fdinfo_pid(pz) == z, "zombie's pidfd says Pid %d; want %d", fdinfo_pid(pz), z);
	CHECK(fdinfo_pid(pd) == -1 && fdinfo_pid(pd2) == -1, "reaped child's pidfds say Pid %d, %d; want -1", fdinfo_pid(pd), fdinfo_pid(pd2));

	CHECK(!nonblock(pa) && nonblock(pa2) && !nonblock(ps) && !nonblock(pz) && !nonblock(pd) && nonblock(pd2),
	      "PIDFD_NONBLOCK: pa %d pa2 %d ps %d pz %d pd %d pd2 %d", nonblock(pa), nonblock(pa2), nonblock(ps), nonblock(pz), nonblock(pd), nonblock(pd2));
	CHECK(fcntl(pa, F_GETFD) == FD_CLOEXEC && fcntl(pd2, F_GETFD) == FD_CLOEXEC, "pidfds not close-on-exec");
	CHECK(fcntl(ps, F_GETFD) == 0 && fcntl(ps2, F_GETFD) == 0, "own pidfd close-on-exec");

	CHECK(same_file(ps, ps2) && same_file(pd, pd3), "dups are not one file");
	CHECK(!same_file(pa, pa2) && !same_file(pd, pd2), "separately opened pidfds are one file");
	CHECK(ino(pa) == ino(pa2) && ino(pd) == ino(pd2) && ino(pd) == ino(pd3), "pidfds of one process are not of one inode");
	CHECK(ino(pa) != ino(ps) && ino(pa) != ino(pd) && ino(pz) != ino(pd), "pidfds of different processes share an inode");

	CHECK(revents(pa) == 0, "running child's pidfd polls %#x", revents(pa));
	CHECK(revents(pz) & POLLIN, "zombie's pidfd polls %#x", revents(pz));
	CHECK(revents(pd) & POLLIN && revents(pd2) & POLLIN, "reaped child's pidfd polls %#x", revents(pd));

	/* (Without PIDFD_NONBLOCK this waitid would wait for good.) */
	memset(&si, 0, sizeof(si));
	errno = 0;
	CHECK(nonblock(pa2) && waitid(P_PIDFD, pa2, &si, WEXITED) < 0 && errno == EAGAIN, "waitid on the PIDFD_NONBLOCK pidfd: errno %d, want EAGAIN", errno);

	CHECK(send_sig(ps, SIGUSR1) == 0, "pidfd_send_signal to itself: %s", strerror(errno));
	for (int i = 0; i < 100 && !usr1; i++)
		crt_sleep_ms(10);
	CHECK(usr1 == 1, "SIGUSR1 sent through own pidfd: handler ran %d times", usr1);
	errno = 0;
	CHECK(send_sig(pd, 0) < 0 && errno == ESRCH, "pidfd_send_signal to the reaped child: errno %d, want ESRCH", errno);

	memset(&si, 0, sizeof(si));
	CHECK(waitid(P_PIDFD, pz, &si, WEXITED) == 0 && si.si_pid == z && si.si_code == CLD_EXITED && si.si_status == 7,
	      "waitid on zombie's pidfd: pid %d code %d status %d (%s)", si.si_pid, si.si_code, si.si_status, strerror(errno));
	errno = 0;
	CHECK(waitid(P_PIDFD, pd, &si, WEXITED | WNOHANG) < 0 && errno == ECHILD, "waitid on the reaped child's pidfd: errno %d, want ECHILD", errno);

	CHECK(send_sig(pa, SIGKILL) == 0, "pidfd_send_signal SIGKILL to the child: %s", strerror(errno));
	memset(&si, 0, sizeof(si));
	CHECK(waitid(P_PIDFD, pa, &si, WEXITED) == 0 && si.si_pid == a && si.si_code == CLD_KILLED && si.si_status == SIGKILL,
	      "waitid on the killed child: pid %d code %d status %d (%s)", si.si_pid, si.si_code, si.si_status, strerror(errno));
	kill(a, SIGKILL);
	return crt_finish();
}
