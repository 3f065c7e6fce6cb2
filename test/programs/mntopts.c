/* mntopts: criu's --enable-fs and --skip-mnt on a mount namespace of its
 * own (unshare(CLONE_NEWNS), / made private; as an ordinary user inside a
 * new user namespace, so that the selfcheck runs). In the work directory:
 *   ramfs/    a ramfs, which criugo (as CRIU) has no code for, holding r:
 *             the harness dumps with --enable-fs ramfs, so it is recorded
 *             to be mounted anew from its name and options (its contents
 *             are not dumped, as CRIU's "auto" file systems' are not)
 *   skipped/  a tmpfs holding s, no file of it held open: the harness
 *             dumps with --skip-mnt WORKDIR/skipped, so it is not restored
 * Checks: ramfs/ is a ramfs one can write to; then, told by the mount's
 *   unique id whether a restore made it again: if not, r is there and
 *   skipped/ is still the tmpfs; if so, ramfs/ is empty (made anew) and
 *   skipped/ is no mount, only the directory of the work directory's file
 *   system. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "crtest.h"

#ifndef STATX_MNT_ID_UNIQUE
#define STATX_MNT_ID_UNIQUE 0x4000U
#endif
#define RAMFS_MAGIC_ 0x858458f6
#define TMPFS_MAGIC_ 0x01021994

static void must(int ok, const char *what)
{
	if (!ok)
		crt_setup_fail("%s: %s", what, strerror(errno));
}

static void write_file(const char *path, const char *data)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	must(fd >= 0, path);
	must(write(fd, data, strlen(data)) == (ssize_t)strlen(data), path);
	close(fd);
}

/* mnt_id is the unique id (never reused) of the mount path is on, 0 on
 * error. */
static unsigned long long mnt_id(const char *path)
{
	struct statx stx;
	if (statx(AT_FDCWD, path, 0, STATX_MNT_ID_UNIQUE, &stx) != 0 || !(stx.stx_mask & STATX_MNT_ID_UNIQUE))
		return 0;
	return stx.stx_mnt_id;
}

static long fs_type(const char *path)
{
	struct statfs sf;
	return statfs(path, &sf) == 0 ? (long)sf.f_type : -1;
}

#define P crt_path

int main(int argc, char **argv)
{
	crt_init(argc, argv);
	int root = geteuid() == 0;
	must(mkdir(P("ramfs"), 0755) == 0 || errno == EEXIST, "mkdir ramfs");
	must(mkdir(P("skipped"), 0755) == 0 || errno == EEXIST, "mkdir skipped");
	uid_t uid = geteuid();
	gid_t gid = getegid();
	must(unshare(CLONE_NEWNS | (root ? 0 : CLONE_NEWUSER)) == 0, "unshare");
	if (!root) {
		char map[64];
		snprintf(map, sizeof(map), "0 %d 1", (int)uid);
		write_file("/proc/self/uid_map", map);
		write_file("/proc/self/setgroups", "deny");
		snprintf(map, sizeof(map), "0 %d 1", (int)gid);
		write_file("/proc/self/gid_map", map);
	}
	must(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0, "make / private");
	must(mount("crtest-ramfs", P("ramfs"), "ramfs", MS_NODEV, "mode=0750") == 0, "mount ramfs");
	write_file(P("ramfs/r"), "ramfs-content");
	must(mount("crtest-skipped", P("skipped"), "tmpfs", 0, "size=1m") == 0, "mount tmpfs");
	write_file(P("skipped/s"), "skipped-content");
	unsigned long long before = mnt_id(P("ramfs"));
	must(before != 0, "statx STATX_MNT_ID_UNIQUE");
	struct stat work;
	must(stat(crt_path("."), &work) == 0, "stat work dir");

	crt_ready();
	crt_wait();

	unsigned long long after = mnt_id(P("ramfs"));
	int restored = after != before;
	struct stat st;
	CHECK(fs_type(P("ramfs")) == RAMFS_MAGIC_, "ramfs/ is of type %#lx, not a ramfs", fs_type(P("ramfs")));
	CHECK(stat(P("ramfs"), &st) == 0 && (st.st_mode & 07777) == 0750, "ramfs/ mode %o, want 750 (its options)", st.st_mode & 07777);
	write_file(P("ramfs/w"), "written");
	CHECK(access(P("ramfs/w"), F_OK) == 0, "cannot write into ramfs/");
	if (!restored) {
		CHECK(access(P("ramfs/r"), F_OK) == 0, "ramfs/r gone without a restore");
		CHECK(fs_type(P("skipped")) == TMPFS_MAGIC_, "skipped/ is no tmpfs without a restore");
	} else {
		CHECK(access(P("ramfs/r"), F_OK) != 0, "ramfs/r there after a restore: the ramfs was not made anew");
		CHECK(fs_type(P("skipped")) != TMPFS_MAGIC_, "skipped/ is a tmpfs after a restore: --skip-mnt did not leave it out");
		CHECK(stat(P("skipped"), &st) == 0 && st.st_dev == work.st_dev && access(P("skipped/s"), F_OK) != 0,
		      "skipped/ is not the work directory's own directory");
	}
	return crt_finish();
}
