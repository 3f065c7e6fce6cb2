/* seccomp: seccomp filters shared by threads, and strict mode.
 *   the main thread starts a second thread, then sets no_new_privs and
 *   installs two filters with SECCOMP_FILTER_FLAG_TSYNC, so both threads
 *   share one chain: F1 makes getppid fail with EPERM, F2 (also
 *   SECCOMP_FILTER_FLAG_LOG) makes getsid fail with EACCES;
 *   a child enters strict mode (mode 1) and blocks in read() on a pipe.
 * Checks: in both threads getppid and getsid still fail as the filters
 * say and getpid works; /proc says "Seccomp: 2" and "Seccomp_filters: 2"
 * for both threads; a third filter installed with TSYNC after the restore
 * succeeds (the threads still share one chain) and reaches the second
 * thread (getpgid fails with ENOENT there); the child is in mode 1, still
 * answers through its pipes, and is killed by the kernel (SIGKILL) on its
 * first call outside strict mode's four. */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "crtest.h"

/* install puts a filter that fails syscall nr with err, with flags. */
static int install(int nr, int err, unsigned int flags)
{
	struct sock_filter prog[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned int)nr, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (err & SECCOMP_RET_DATA)),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog fprog = { sizeof(prog) / sizeof(prog[0]), prog };
	return (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &fprog);
}

/* fails reports whether a raw syscall with one argument fails with err. */
static int fails(int nr, long arg, int err)
{
	errno = 0;
	return syscall(nr, arg) == -1 && errno == err;
}

/* status_field reads "name:\t<n>" from a status file; -1 if absent. */
static int status_field(const char *path, const char *name)
{
	char line[256];
	int v = -1;
	size_t n = strlen(name);
	FILE *f = fopen(path, "r");

	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, name, n) && line[n] == ':')
			v = atoi(line + n + 1);
	if (f)
		fclose(f);
	return v;
}

static volatile int go, done, thread_ok, thread_tid;
static char thread_why[128];

/* The second thread waits to be asked, then checks its own view. */
static void *worker(void *arg)
{
	(void)arg;
	thread_tid = (int)syscall(SYS_gettid);
	for (int round = 1; round <= 2; round++) {
		while (go < round)
			crt_sleep_ms(5);
		int ok = fails(SYS_getppid, 0, EPERM) && fails(SYS_getsid, 0, EACCES) &&
			 syscall(SYS_getpid) == getpid();
		if (!ok)
			snprintf(thread_why, sizeof(thread_why), "round %d: filters F1/F2 do not act", round);
		if (ok && round == 2 && !fails(SYS_getpgid, 0, ENOENT)) {
			snprintf(thread_why, sizeof(thread_why), "filter F3 (TSYNC after restore) does not act");
			ok = 0;
		}
		thread_ok = ok;
		done = round;
	}
	for (;;) /* stays, so that its /proc entry can be read */
		crt_sleep_ms(1000);
	return NULL;
}

/* strict_child enters strict mode and answers one byte with one byte;
 * its next call (getpid) is not allowed in strict mode and kills it. */
static void strict_child(int in, int out)
{
	char c;

	if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_STRICT))
		syscall(SYS_exit, 3);
	if (syscall(SYS_read, in, &c, 1) != 1)
		syscall(SYS_exit, 4);
	c++;
	syscall(SYS_write, out, &c, 1);
	syscall(SYS_getpid);
	syscall(SYS_exit, 5);
}

int main(int argc, char **argv)
{
	crt_init(argc, argv);

	int p2c[2], c2p[2];
	if (pipe(p2c) || pipe(c2p))
		crt_setup_fail("pipe: %s", strerror(errno));
	pid_t child = fork();
	if (child < 0)
		crt_setup_fail("fork: %s", strerror(errno));
	if (child == 0)
		strict_child(p2c[0], c2p[1]);
	char status[64];
	snprintf(status, sizeof(status), "/proc/%d/status", child);
	for (int i = 0; status_field(status, "Seccomp") != 1; i++) {
		if (i > 2000)
			crt_setup_fail("the child does not enter strict mode");
		crt_sleep_ms(5);
	}

	pthread_t th;
	if (pthread_create(&th, NULL, worker, NULL))
		crt_setup_fail("pthread_create");
	while (!thread_tid)
		crt_sleep_ms(5);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		crt_setup_fail("PR_SET_NO_NEW_PRIVS: %s", strerror(errno));
	if (install(SYS_getppid, EPERM, SECCOMP_FILTER_FLAG_TSYNC))
		crt_setup_fail("install F1: %s", strerror(errno));
	if (install(SYS_getsid, EACCES, SECCOMP_FILTER_FLAG_TSYNC | SECCOMP_FILTER_FLAG_LOG))
		crt_setup_fail("install F2: %s", strerror(errno));
	go = 1;
	while (done < 1)
		crt_sleep_ms(5);
	if (!thread_ok)
		crt_setup_fail("thread: %s", thread_why);

	crt_ready();
	crt_wait();

	char tstatus[64];
	snprintf(tstatus, sizeof(tstatus), "/proc/self/task/%d/status", thread_tid);
	CHECK(fails(SYS_getppid, 0, EPERM), "getppid does not fail with EPERM (filter F1)");
	CHECK(fails(SYS_getsid, 0, EACCES), "getsid does not fail with EACCES (filter F2)");
	CHECK(syscall(SYS_getpid) == getpid(), "getpid fails");
	CHECK(status_field("/proc/self/status", "Seccomp") == 2, "main thread: Seccomp: %d",
	      status_field("/proc/self/status", "Seccomp"));
	CHECK(status_field("/proc/self/status", "Seccomp_filters") == 2, "main thread: Seccomp_filters: %d",
	      status_field("/proc/self/status", "Seccomp_filters"));
	CHECK(status_field(tstatus, "Seccomp") == 2, "second thread: Seccomp: %d", status_field(tstatus, "Seccomp"));
	CHECK(status_field(tstatus, "Seccomp_filters") == 2, "second thread: Seccomp_filters: %d",
	      status_field(tstatus, "Seccomp_filters"));
	CHECK(status_field("/proc/self/status", "NoNewPrivs") == 1, "no_new_privs is %d",
	      status_field("/proc/self/status", "NoNewPrivs"));

	int r = install(SYS_getpgid, ENOENT, SECCOMP_FILTER_FLAG_TSYNC);
	CHECK(r == 0, "TSYNC install after restore: %d (%s): the threads no longer share a chain", r,
	      r < 0 ? strerror(errno) : "tid that cannot sync");
	go = 2;
	for (int i = 0; done < 2 && i < 2000; i++)
		crt_sleep_ms(5);
	CHECK(done == 2 && thread_ok, "second thread: %s", done == 2 ? thread_why : "does not answer");
	CHECK(r != 0 || status_field(tstatus, "Seccomp_filters") == 3, "second thread: Seccomp_filters: %d after F3",
	      status_field(tstatus, "Seccomp_filters"));

	CHECK(status_field(status, "Seccomp") == 1, "child: Seccomp: %d", status_field(status, "Seccomp"));
	char c = 'a';
	CHECK(write(p2c[1], &c, 1) == 1, "write to the child: %s", strerror(errno));
	CHECK(read(c2p[0], &c, 1) == 1 && c == 'b', "the child answered %d", c);
	int ws;
	CHECK(waitpid(child, &ws, 0) == child && WIFSIGNALED(ws) && WTERMSIG(ws) == SIGKILL,
	      "the child was not killed by strict mode (status %#x)", ws);
	return crt_finish();
}
