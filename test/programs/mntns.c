/* mntns: a mount namespace of its own.
 *   unshare(CLONE_NEWNS) (as an ordinary user inside a new user
 *   namespace, so that the selfcheck runs), / made private (rec), then in
 *   the work directory:
 *     tm/      a tmpfs (size=1m, mode=0751) holding a (open O_RDWR at
 *              offset 3), a hard link to it, a symlink to it, sub/b,
 *              and g, opened and then unlinked (a ghost)
 *     bind/    a bind of src/ (a directory of the work directory's file
 *              system), s open at offset 2
 *     robind/  a read-only bind of src/, s open
 *     tmbind/  a bind of tm/sub
 *     ov/      src/ bound there, and tm/sub bound over it (an overmount)
 *     proc/    a proc (as root only)
 * Checks: mountinfo (fstypes, roots, the read-only flag, the overmount on
 *   top), contents seen through each mount, a write through bind/ seen in
 *   src/, EROFS through robind/, the open files (same inodes as the
 *   names, offsets, the ghost's contents), proc/self, and that the
 *   namespace is not the one the program started in. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crtest.h"

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

/* read_file returns the contents of path (up to 255 bytes), "" on error. */
static const char *read_file(const char *path)
{
	static char buf[256];
	buf[0] = 0;
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return "";
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n > 0 ? n : 0] = 0;
	return buf;
}

struct mnt {
	int found;
	char root[512], opts[256], fstype[64];
};

/* find_mount fills m with the topmost mount at path (the last line of
 * mountinfo with that mount point). */
static void find_mount(const char *path, struct mnt *m)
{
	memset(m, 0, sizeof(*m));
	FILE *f = fopen("/proc/self/mountinfo", "r");
	if (!f)
		return;
	char line[4096];
	while (fgets(line, sizeof(line), f)) {
		char root[512], mp[512], opts[256], fstype[64];
		if (sscanf(line, "%*d %*d %*s %511s %511s %255s", root, mp, opts) != 3)
			continue;
		char *sep = strstr(line, " - ");
		if (!sep || sscanf(sep + 3, "%63s", fstype) != 1)
			continue;
		if (strcmp(mp, path))
			continue;
		m->found = 1;
		strcpy(m->root, root);
		strcpy(m->opts, opts);
		strcpy(m->fstype, fstype);
	}
	fclose(f);
}

static int has_opt(const char *opts, const char *o)
{
	size_t n = strlen(o);
	for (const char *p = opts; *p;) {
		if (!strncmp(p, o, n) && (p[n] == ',' || p[n] == 0))
			return 1;
		p = strchr(p, ',');
		if (!p)
			break;
		p++;
	}
	return 0;
}

static int ends_with(const char *s, const char *suf)
{
	size_t a = strlen(s), b = strlen(suf);
	return a >= b && !strcmp(s + a - b, suf);
}

#define P(name) crt_path(name)

int main(int argc, char **argv)
{
	crt_init(argc, argv);
	struct stat host_ns;
	must(stat("/proc/self/ns/mnt", &host_ns) == 0, "stat mnt ns");
	int root = geteuid() == 0;
	const char *dirs[] = { "tm", "src", "bind", "robind", "tmbind", "ov", "proc" };
	for (unsigned i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++)
		must(mkdir(P(dirs[i]), 0755) == 0 || errno == EEXIST, dirs[i]);
	write_file(P("src/s"), "source-content");

	int flags = CLONE_NEWNS;
	if (!root)
		flags |= CLONE_NEWUSER;
	uid_t uid = geteuid();
	gid_t gid = getegid();
	must(unshare(flags) == 0, "unshare");
	if (!root) {
		/* Map the user to root of the new user namespace, or nothing
		 * it creates on the tmpfs would have an owner. */
		char map[64];
		snprintf(map, sizeof(map), "0 %d 1", (int)uid);
		write_file("/proc/self/uid_map", map);
		write_file("/proc/self/setgroups", "deny");
		snprintf(map, sizeof(map), "0 %d 1", (int)gid);
		write_file("/proc/self/gid_map", map);
	}
	must(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0, "make / private");

	must(mount("crtest-tm", P("tm"), "tmpfs", MS_NOSUID, "size=1m,mode=0751") == 0, "mount tmpfs");
	write_file(P("tm/a"), "alpha-content");
	must(link(P("tm/a"), P("tm/link")) == 0, "link");
	must(symlink("a", P("tm/sym")) == 0, "symlink");
	must(mkdir(P("tm/sub"), 0700) == 0, "mkdir sub");
	write_file(P("tm/sub/b"), "beta");
	int fd_a = open(P("tm/a"), O_RDWR);
	must(fd_a >= 0 && lseek(fd_a, 3, SEEK_SET) == 3, "open a");
	int fd_g = open(P("tm/g"), O_RDWR | O_CREAT | O_EXCL, 0600);
	must(fd_g >= 0 && write(fd_g, "ghost-data", 10) == 10, "ghost");
	must(unlink(P("tm/g")) == 0, "unlink ghost");

	must(mount(P("src"), P("bind"), NULL, MS_BIND, NULL) == 0, "bind");
	must(mount(P("src"), P("robind"), NULL, MS_BIND, NULL) == 0, "ro bind");
	must(mount(NULL, P("robind"), NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL) == 0, "remount ro");
	must(mount(P("tm/sub"), P("tmbind"), NULL, MS_BIND, NULL) == 0, "bind tmpfs dir");
	must(mount(P("src"), P("ov"), NULL, MS_BIND, NULL) == 0, "bind under");
	must(mount(P("tm/sub"), P("ov"), NULL, MS_BIND, NULL) == 0, "bind over");
	if (root)
		must(mount("proc", P("proc"), "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) == 0, "mount proc");
	int fd_s = open(P("bind/s"), O_RDONLY);
	must(fd_s >= 0 && lseek(fd_s, 2, SEEK_SET) == 2, "open bind/s");
	int fd_ro = open(P("robind/s"), O_RDONLY);
	must(fd_ro >= 0, "open robind/s");

	crt_ready();
	crt_wait();

	struct mnt m;
	find_mount(P("tm"), &m);
	CHECK(m.found && !strcmp(m.fstype, "tmpfs") && !strcmp(m.root, "/"), "tm: %s %s", m.found ? m.fstype : "missing", m.root);
	CHECK(has_opt(m.opts, "nosuid") && has_opt(m.opts, "rw"), "tm options %s", m.opts);
	find_mount(P("bind"), &m);
	CHECK(m.found && ends_with(m.root, "/src") && has_opt(m.opts, "rw"), "bind: root %s, %s", m.found ? m.root : "missing", m.opts);
	find_mount(P("robind"), &m);
	CHECK(m.found && ends_with(m.root, "/src") && has_opt(m.opts, "ro"), "robind: root %s, %s", m.found ? m.root : "missing", m.opts);
	find_mount(P("tmbind"), &m);
	CHECK(m.found && !strcmp(m.fstype, "tmpfs") && !strcmp(m.root, "/sub"), "tmbind: %s %s", m.found ? m.fstype : "missing", m.root);
	find_mount(P("ov"), &m);
	CHECK(m.found && !strcmp(m.fstype, "tmpfs") && !strcmp(m.root, "/sub"), "ov on top: %s %s", m.found ? m.fstype : "missing", m.root);

	CHECK(!strcmp(read_file(P("tm/a")), "alpha-content"), "tm/a: %s", read_file(P("tm/a")));
	CHECK(!strcmp(read_file(P("tm/sub/b")), "beta"), "tm/sub/b: %s", read_file(P("tm/sub/b")));
	CHECK(!strcmp(read_file(P("tmbind/b")), "beta"), "tmbind/b: %s", read_file(P("tmbind/b")));
	CHECK(!strcmp(read_file(P("ov/b")), "beta"), "ov/b: %s", read_file(P("ov/b")));
	CHECK(!strcmp(read_file(P("bind/s")), "source-content"), "bind/s: %s", read_file(P("bind/s")));
	CHECK(!strcmp(read_file(P("robind/s")), "source-content"), "robind/s: %s", read_file(P("robind/s")));
	char lnk[64] = "";
	ssize_t ln = readlink(P("tm/sym"), lnk, sizeof(lnk) - 1);
	CHECK(ln == 1 && lnk[0] == 'a', "tm/sym");
	struct stat st_a, st_l, st;
	CHECK(stat(P("tm/a"), &st_a) == 0 && st_a.st_nlink == 2, "tm/a links %d", (int)st_a.st_nlink);
	CHECK(stat(P("tm/link"), &st_l) == 0 && st_l.st_ino == st_a.st_ino, "tm/link is not tm/a");
	CHECK(stat(P("tm"), &st) == 0 && (st.st_mode & 07777) == 0751, "tm mode %o", st.st_mode & 07777);
	CHECK(stat(P("tm/sub"), &st) == 0 && (st.st_mode & 07777) == 0700, "tm/sub mode %o", st.st_mode & 07777);

	write_file(P("bind/new"), "through-bind");
	CHECK(!strcmp(read_file(P("src/new")), "through-bind"), "write through bind/ not in src/");
	unlink(P("src/new"));
	int w = open(P("robind/s"), O_WRONLY);
	CHECK(w < 0 && errno == EROFS, "robind/s opened for writing (%s)", w < 0 ? strerror(errno) : "ok");
	if (w >= 0)
		close(w);

	char buf[64];
	CHECK(fstat(fd_a, &st) == 0 && st.st_ino == st_a.st_ino && st.st_dev == st_a.st_dev, "fd of tm/a is another file");
	CHECK(lseek(fd_a, 0, SEEK_CUR) == 3, "fd of tm/a at %ld", (long)lseek(fd_a, 0, SEEK_CUR));
	CHECK(write(fd_a, "X", 1) == 1 && !strcmp(read_file(P("tm/a")), "alpXa-content"), "write through fd of tm/a: %s", read_file(P("tm/a")));
	memset(buf, 0, sizeof(buf));
	CHECK(fstat(fd_g, &st) == 0 && st.st_nlink == 0, "ghost has %d links", (int)st.st_nlink);
	CHECK(pread(fd_g, buf, sizeof(buf) - 1, 0) == 10 && !strcmp(buf, "ghost-data"), "ghost: %s", buf);
	struct stat st_s;
	CHECK(stat(P("bind/s"), &st_s) == 0 && fstat(fd_s, &st) == 0 && st.st_ino == st_s.st_ino, "fd of bind/s is another file");
	CHECK(lseek(fd_s, 0, SEEK_CUR) == 2, "fd of bind/s at %ld", (long)lseek(fd_s, 0, SEEK_CUR));
	memset(buf, 0, sizeof(buf));
	CHECK(pread(fd_ro, buf, sizeof(buf) - 1, 0) == 14 && !strcmp(buf, "source-content"), "fd of robind/s: %s", buf);
	if (root) {
		find_mount(P("proc"), &m);
		CHECK(m.found && !strcmp(m.fstype, "proc"), "proc: %s", m.found ? m.fstype : "missing");
		char want[32];
		snprintf(want, sizeof(want), "%d", getpid());
		ln = readlink(P("proc/self"), lnk, sizeof(lnk) - 1);
		lnk[ln > 0 ? ln : 0] = 0;
		CHECK(!strcmp(lnk, want), "proc/self is %s, pid %s", lnk, want);
	}
	struct stat ns;
	CHECK(stat("/proc/self/ns/mnt", &ns) == 0 && ns.st_ino != host_ns.st_ino, "back in the starting mount namespace");
	return crt_finish();
}
