/* sharedfs: working directories and roots that differ between tasks.
 *   the parent works in sharedfs.p;
 *   a child works in sharedfs.c;
 *   (as root) a child chrooted into sharedfs.root (holding "marker"),
 *   working in its "sub".
 * Each child answers over a pipe whether its cwd and root are still
 * what they were set to. With SHAREDFS_CLONE=FS it also holds a child
 * made with clone(CLONE_FS), which the dump must refuse (pkg/dump's
 * TestDumpSharedFsRefused), the program running on; with FILES a child
 * made with clone(CLONE_FILES) (restored, see clonefiles); that child
 * answers whether the table is still shared.
 * Checks: the parent's cwd, each child's answer. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "crtest.h"

struct kid {
	pid_t pid;
	int ask, answer;
};

static int same(const char *a, const char *b)
{
	struct stat sa, sb;
	return !stat(a, &sa) && !stat(b, &sb) && sa.st_ino == sb.st_ino && sa.st_dev == sb.st_dev;
}

/* serve answers each question on ask with what check says. */
static void serve(int ask, int answer, int (*check)(void))
{
	char c;
	while (read(ask, &c, 1) == 1) {
		c = check() ? 'y' : 'n';
		if (write(answer, &c, 1) != 1)
			_exit(1);
	}
	_exit(0);
}

static struct stat kid_cwd;
static int check_cwd(void)
{
	struct stat st;
	return !stat(".", &st) && st.st_ino == kid_cwd.st_ino && st.st_dev == kid_cwd.st_dev;
}

static int check_chroot(void)
{
	char buf[64] = "";
	return !access("/marker", F_OK) && getcwd(buf, sizeof(buf)) && !strcmp(buf, "/sub") && same(".", "/sub");
}

static int fs_probe, files_fd = -1;
static int check_shared(void)
{
	/* CLONE_FS: the parent's umask shows here; CLONE_FILES: its fd. */
	if (fs_probe) {
		mode_t m = umask(0);
		umask(m);
		return m == 027;
	}
	return fcntl(files_fd, F_GETFD) >= 0;
}

static int (*clone_check)(void);
static int ask_fds[2], answer_fds[2], clone_files;
static int clone_main(void *arg)
{
	(void)arg;
	if (!clone_files) {
		close(ask_fds[1]);
		close(answer_fds[0]);
	}
	serve(ask_fds[0], answer_fds[1], clone_check);
	return 0;
}

static struct kid start(const char *dir, const char *root, int (*check)(void), int clone_flags)
{
	struct kid k;
	if (pipe(ask_fds) || pipe(answer_fds))
		crt_setup_fail("pipe: %s", strerror(errno));
	if (clone_flags) {
		static char stack[64 * 1024];
		clone_check = check;
		clone_files = clone_flags & CLONE_FILES;
		k.pid = clone(clone_main, stack + sizeof(stack), clone_flags | SIGCHLD, NULL);
	} else {
		k.pid = fork();
		if (k.pid == 0) {
			close(ask_fds[1]);
			close(answer_fds[0]);
			if ((root && (chroot(root) || chdir("/"))) || chdir(dir) || stat(".", &kid_cwd))
				_exit(1);
			serve(ask_fds[0], answer_fds[1], check);
		}
	}
	if (k.pid < 0)
		crt_setup_fail("fork: %s", strerror(errno));
	if (!(clone_flags & CLONE_FILES)) {
		close(ask_fds[0]);
		close(answer_fds[1]);
	}
	k.ask = ask_fds[1];
	k.answer = answer_fds[0];
	return k;
}

static char answer(struct kid *k)
{
	char c = '?';
	if (write(k->ask, "?", 1) != 1 || read(k->answer, &c, 1) != 1)
		c = '?';
	return c;
}

int main(int argc, char **argv)
{
	crt_init(argc, argv);
	char *p = crt_path("sharedfs.p"), *c = crt_path("sharedfs.c"), *root = crt_path("sharedfs.root");
	if ((mkdir(p, 0755) && errno != EEXIST) || (mkdir(c, 0755) && errno != EEXIST))
		crt_setup_fail("mkdir: %s", strerror(errno));
	struct kid kids[3];
	int n = 0;
	kids[n++] = start(c, NULL, check_cwd, 0);
	if (geteuid() == 0) {
		if ((mkdir(root, 0755) && errno != EEXIST) || (mkdir(crt_path("sharedfs.root/sub"), 0755) && errno != EEXIST))
			crt_setup_fail("mkdir: %s", strerror(errno));
		int m = open(crt_path("sharedfs.root/marker"), O_CREAT | O_WRONLY, 0600);
		if (m < 0)
			crt_setup_fail("marker: %s", strerror(errno));
		close(m);
		kids[n++] = start("sub", root, check_chroot, 0);
	}
	const char *clone_what = getenv("SHAREDFS_CLONE");
	if (clone_what) {
		umask(027);
		files_fd = open("/dev/null", O_RDONLY);
		fs_probe = !strcmp(clone_what, "FS");
		kids[n++] = start(NULL, NULL, check_shared, fs_probe ? CLONE_FS : CLONE_FILES);
	}
	if (chdir(p))
		crt_setup_fail("chdir: %s", strerror(errno));
	for (int i = 0; i < n; i++)
		if (answer(&kids[i]) != 'y')
			crt_setup_fail("child %d does not answer yes", i);

	crt_ready();
	crt_wait();

	CHECK(same(".", p), "parent: cwd is not sharedfs.p");
	for (int i = 0; i < n; i++) {
		char a = answer(&kids[i]);
		CHECK(a == 'y', "child %d answered %c", i, a);
		close(kids[i].ask);
	}
	for (int i = 0; i < n; i++) {
		int status;
		CHECK(waitpid(kids[i].pid, &status, 0) == kids[i].pid && WIFEXITED(status) && !WEXITSTATUS(status),
		      "child %d exit", i);
	}
	return crt_finish();
}
