/* nsfd: nsfs fds, opened from /proc/self/ns.
 *   own:  net, ipc, pid, mnt, user, cgroup and time, each open O_RDONLY
 *         (net also O_RDONLY|O_CLOEXEC: another file);
 *   uts:  (as root, unless NSFD_NO_OWN_UTS) the starting UTS namespace,
 *         then a UTS namespace of its own (unshare) named "nsfd-own", and
 *         an fd of that one too.
 * Checks: each fd is of the namespace /proc/self/ns shows now (same
 * inode), the two net fds too and one has FD_CLOEXEC; setns through the
 * starting UTS fd gives the starting host name, through the own one
 * "nsfd-own" again. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crtest.h"

static const char *kinds[] = {"net", "ipc", "pid", "mnt", "user", "cgroup", "time"};
#define NKINDS (int)(sizeof(kinds) / sizeof(kinds[0]))

static int open_ns(const char *kind, int flags)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/self/ns/%s", kind);
	int fd = open(path, flags);
	if (fd < 0)
		crt_setup_fail("open %s: %s", path, strerror(errno));
	return fd;
}

/* is_now says whether fd is of the namespace of kind the task is in. */
static int is_now(int fd, const char *kind)
{
	char path[64];
	struct stat a, b;
	snprintf(path, sizeof(path), "/proc/self/ns/%s", kind);
	return !fstat(fd, &a) && !stat(path, &b) && a.st_ino == b.st_ino && a.st_dev == b.st_dev;
}

int main(int argc, char **argv)
{
	crt_init(argc, argv);
	int fds[NKINDS];
	for (int i = 0; i < NKINDS; i++)
		fds[i] = open_ns(kinds[i], O_RDONLY);
	int net2 = open_ns("net", O_RDONLY | O_CLOEXEC);

	int host_uts = -1, own_uts = -1;
	char host_name[256] = "";
	if (geteuid() == 0 && !getenv("NSFD_NO_OWN_UTS")) {
		host_uts = open_ns("uts", O_RDONLY);
		if (gethostname(host_name, sizeof(host_name)) || unshare(CLONE_NEWUTS) ||
		    sethostname("nsfd-own", 8))
			crt_setup_fail("own UTS namespace: %s", strerror(errno));
		own_uts = open_ns("uts", O_RDONLY);
	}

	crt_ready();
	crt_wait();

	for (int i = 0; i < NKINDS; i++)
		CHECK(is_now(fds[i], kinds[i]), "%s: fd %d is of another namespace", kinds[i], fds[i]);
	CHECK(is_now(net2, "net"), "net: the second fd is of another namespace");
	CHECK(fcntl(net2, F_GETFD) == FD_CLOEXEC && fcntl(fds[0], F_GETFD) == 0, "net: close-on-exec flags");

	if (own_uts >= 0) {
		char name[256] = "";
		CHECK(is_now(own_uts, "uts") && !is_now(host_uts, "uts"), "uts: fds of the wrong namespaces");
		CHECK(!gethostname(name, sizeof(name)) && !strcmp(name, "nsfd-own"), "uts: host name %s", name);
		CHECK(!setns(host_uts, CLONE_NEWUTS) && !gethostname(name, sizeof(name)) && !strcmp(name, host_name),
		      "uts: the starting namespace is named %s, was %s", name, host_name);
		CHECK(!setns(own_uts, CLONE_NEWUTS) && !gethostname(name, sizeof(name)) && !strcmp(name, "nsfd-own"),
		      "uts: back in the own namespace, named %s", name);
	}
	return crt_finish();
}
