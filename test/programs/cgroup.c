/* cgroup: cgroups of its own (as root).
 *   In every hierarchy that has the memory or pids controller (v1, as
 *   here, or v2 when the parent delegates them), and in the v2 hierarchy,
 *   a cgroup "criugo-cg-PID" below the program's own, with memory limit
 *   256 MiB (memory.limit_in_bytes or memory.max), pids.max 50, and in
 *   v2 cgroup.max.descendants 7 and cgroup.max.depth 3; a child is forked
 *   and moved into them, then the program itself. The directories made
 *   are listed in WORKDIR/cgroups (outermost first) for the harness.
 *   With CGNS (the cgroupns program) the program then unshares a cgroup
 *   namespace there, makes "inner" below each and moves itself and the
 *   child into it, so /proc/self/cgroup shows "/inner" for those.
 *   As an ordinary user nothing is made: only membership is checked.
 * Checks: /proc/self/cgroup and the child's read as before, both pids
 *   are in each cgroup's cgroup.procs, the limits, the child alive, and
 *   (CGNS) a cgroup namespace other than the starting one. Then it
 *   removes what it made (moving back up first; CGNS: from init's
 *   cgroup namespace). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "crtest.h"

#ifndef CGNS
#define CGNS 0
#endif

#define MEMLIMIT "268435456"
#define PIDSMAX "50"

struct hier {
	char name[128];   /* controllers of /proc/self/cgroup's line */
	char mnt[PATH_MAX];
	char dir[PATH_MAX]; /* the cgroup made, through mnt */
	char parent[PATH_MAX];
	int v2, mem, pids;
};

static struct hier hs[16];
static int nh;

static int read_file(const char *p, char *buf, size_t n)
{
	int fd = open(p, O_RDONLY);
	if (fd < 0)
		return -1;
	ssize_t r = read(fd, buf, n - 1);
	close(fd);
	if (r < 0)
		return -1;
	buf[r] = 0;
	return (int)r;
}

static int write_file(const char *p, const char *v)
{
	int fd = open(p, O_WRONLY);
	if (fd < 0)
		return -1;
	ssize_t r = write(fd, v, strlen(v));
	close(fd);
	return r == (ssize_t)strlen(v) ? 0 : -1;
}

static int has_word(const char *list, const char *w, const char *sep)
{
	char buf[4096];
	snprintf(buf, sizeof(buf), "%s", list);
	for (char *s = NULL, *t = strtok_r(buf, sep, &s); t; t = strtok_r(NULL, sep, &s))
		if (strcmp(t, w) == 0)
			return 1;
	return 0;
}

/* Finds the mount point of the hierarchy of line name ("" for v2). */
static int find_mount(const char *name, char *out)
{
	FILE *f = fopen("/proc/self/mountinfo", "r");
	char line[4096];
	int found = 0;
	while (f && !found && fgets(line, sizeof(line), f)) {
		char root[PATH_MAX], mp[PATH_MAX], fstype[64], src[PATH_MAX], sopts[1024];
		char *dash = strstr(line, " - ");
		if (!dash || sscanf(line, "%*s %*s %*s %s %s", root, mp) != 2 ||
		    sscanf(dash + 3, "%63s %s %1023s", fstype, src, sopts) != 3 || strcmp(root, "/"))
			continue;
		if (!name[0])
			found = strcmp(fstype, "cgroup2") == 0;
		else if (strcmp(fstype, "cgroup") == 0) {
			char want[128];
			snprintf(want, sizeof(want), "%s", name);
			found = 1;
			for (char *s = NULL, *t = strtok_r(want, ",", &s); t; t = strtok_r(NULL, ",", &s))
				found &= has_word(sopts, t, ",");
		}
		if (found)
			strcpy(out, mp);
	}
	if (f)
		fclose(f);
	return found ? 0 : -1;
}

static char self_cg[8192], child_cg[8192];
static pid_t child;

static void move(const char *dir, pid_t pid)
{
	char p[PATH_MAX + 32], v[32];
	snprintf(p, sizeof(p), "%s/cgroup.procs", dir);
	snprintf(v, sizeof(v), "%d", pid);
	if (write_file(p, v))
		crt_setup_fail("move %d into %s: %s", pid, dir, strerror(errno));
}

static void set(const char *dir, const char *prop, const char *val)
{
	char p[PATH_MAX + 64];
	snprintf(p, sizeof(p), "%s/%s", dir, prop);
	if (write_file(p, val))
		crt_setup_fail("write %s to %s: %s", val, p, strerror(errno));
}

static void check_prop(const char *dir, const char *prop, const char *want)
{
	char p[PATH_MAX + 64], got[256];
	snprintf(p, sizeof(p), "%s/%s", dir, prop);
	if (read_file(p, got, sizeof(got)) < 0) {
		CHECK(0, "read %s: %s", p, strerror(errno));
		return;
	}
	got[strcspn(got, "\n")] = 0;
	CHECK(strcmp(got, want) == 0, "%s is %s, want %s", p, got, want);
}

static int in_procs(const char *dir, pid_t pid)
{
	char p[PATH_MAX + 32], buf[65536], w[32];
	snprintf(p, sizeof(p), "%s/cgroup.procs", dir);
	if (read_file(p, buf, sizeof(buf)) < 0)
		return 0;
	snprintf(w, sizeof(w), "%d", pid);
	return has_word(buf, w, "\n");
}

static void setup(void)
{
	FILE *f = fopen("/proc/self/cgroup", "r");
	char line[4096], list[PATH_MAX * 4] = "";
	if (!f)
		crt_setup_fail("open /proc/self/cgroup: %s", strerror(errno));
	while (nh < 16 && fgets(line, sizeof(line), f)) {
		struct hier *h = &hs[nh];
		char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
		if (!c2)
			continue;
		*c2 = 0;
		c2[1 + strcspn(c2 + 1, "\n")] = 0;
		snprintf(h->name, sizeof(h->name), "%s", c1 + 1);
		h->v2 = h->name[0] == 0;
		h->mem = has_word(h->name, "memory", ",");
		h->pids = has_word(h->name, "pids", ",");
		if (!h->v2 && !h->mem && !h->pids)
			continue;
		if (find_mount(h->name, h->mnt))
			continue;
		char tmp[PATH_MAX - 64];
		snprintf(tmp, sizeof(tmp), "%s%s", h->mnt, strcmp(c2 + 1, "/") ? c2 + 1 : "");
		memcpy(h->parent, tmp, sizeof(tmp));
		if (h->v2) {
			char sc[1024] = "", p[PATH_MAX + 32];
			snprintf(p, sizeof(p), "%s/cgroup.subtree_control", h->parent);
			read_file(p, sc, sizeof(sc));
			h->mem = has_word(sc, "memory", " \n");
			h->pids = has_word(sc, "pids", " \n");
		}
		snprintf(h->dir, sizeof(h->dir), "%s/criugo-cg-%d", tmp, getpid());
		nh++;
	}
	fclose(f);
	int mem = 0, pids = 0;
	for (int i = 0; i < nh; i++) {
		mem |= hs[i].mem;
		pids |= hs[i].pids;
	}
	if (!mem || !pids)
		crt_setup_fail("no hierarchy with the %s controller", mem ? "pids" : "memory");
	for (int i = 0; i < nh; i++) {
		struct hier *h = &hs[i];
		if (mkdir(h->dir, 0755))
			crt_setup_fail("mkdir %s: %s", h->dir, strerror(errno));
		strcat(list, h->dir);
		strcat(list, "\n");
		if (h->mem)
			set(h->dir, h->v2 ? "memory.max" : "memory.limit_in_bytes", MEMLIMIT);
		if (h->pids)
			set(h->dir, "pids.max", PIDSMAX);
		if (h->v2) {
			set(h->dir, "cgroup.max.descendants", "7");
			set(h->dir, "cgroup.max.depth", "3");
		}
	}
	FILE *l = fopen(crt_path("cgroups"), "w");
	if (!l || fputs(list, l) < 0 || fclose(l))
		crt_setup_fail("write the list of cgroups: %s", strerror(errno));
}

static void cleanup(void)
{
	if (child > 0) {
		kill(child, SIGKILL);
		waitpid(child, NULL, 0);
	}
	if (CGNS) {
		int fd = open("/proc/1/ns/cgroup", O_RDONLY);
		if (fd < 0 || setns(fd, CLONE_NEWCGROUP))
			fprintf(stderr, "cgroupns: back to init's cgroup namespace: %s\n", strerror(errno));
		if (fd >= 0)
			close(fd);
	}
	for (int i = 0; i < nh; i++) {
		char p[PATH_MAX + 32], v[32];
		snprintf(p, sizeof(p), "%s/cgroup.procs", hs[i].parent);
		snprintf(v, sizeof(v), "%d", getpid());
		write_file(p, v);
		if (CGNS) {
			snprintf(p, sizeof(p), "%s/inner", hs[i].dir);
			rmdir(p);
		}
		if (rmdir(hs[i].dir))
			fprintf(stderr, "cgroup: rmdir %s: %s\n", hs[i].dir, strerror(errno));
	}
}

static int read_cg(pid_t pid, char *buf, size_t n)
{
	char p[64];
	snprintf(p, sizeof(p), "/proc/%d/cgroup", pid);
	return read_file(p, buf, n);
}

int main(int argc, char **argv)
{
	crt_init(argc, argv);
	struct stat ns0;
	if (stat("/proc/self/ns/cgroup", &ns0))
		crt_setup_fail("stat cgroup ns: %s", strerror(errno));
	int root = geteuid() == 0;
	if (root)
		setup();
	int sync[2];
	if (pipe(sync))
		crt_setup_fail("pipe: %s", strerror(errno));
	if (root && CGNS) {
		for (int i = 0; i < nh; i++)
			move(hs[i].dir, getpid());
		if (unshare(CLONE_NEWCGROUP))
			crt_setup_fail("unshare cgroup ns: %s", strerror(errno));
		for (int i = 0; i < nh; i++) {
			char p[PATH_MAX + 16];
			snprintf(p, sizeof(p), "%s/inner", hs[i].dir);
			if (mkdir(p, 0755))
				crt_setup_fail("mkdir %s: %s", p, strerror(errno));
			FILE *l = fopen(crt_path("cgroups"), "a");
			if (l) {
				fprintf(l, "%s\n", p);
				fclose(l);
			}
		}
	}
	child = fork();
	if (child < 0)
		crt_setup_fail("fork: %s", strerror(errno));
	if (child == 0) {
		char c;
		close(sync[1]);
		while (read(sync[0], &c, 1) < 0 && errno == EINTR)
			;
		_exit(0);
	}
	close(sync[0]);
	for (int i = 0; root && i < nh; i++) {
		char p[PATH_MAX + 16];
		snprintf(p, sizeof(p), CGNS ? "%s/inner" : "%s", hs[i].dir);
		move(p, child);
		move(p, getpid());
	}
	if (read_cg(getpid(), self_cg, sizeof(self_cg)) < 0 || read_cg(child, child_cg, sizeof(child_cg)) < 0)
		crt_setup_fail("read cgroup files: %s", strerror(errno));
	if (CGNS && root && !strstr(self_cg, ":/inner\n"))
		crt_setup_fail("inside the cgroup namespace /proc/self/cgroup does not show /inner: %s", self_cg);
	crt_ready();
	crt_wait();

	char now[8192];
	CHECK(read_cg(getpid(), now, sizeof(now)) >= 0 && strcmp(now, self_cg) == 0, "/proc/self/cgroup is now:\n%s\nwas:\n%s", now, self_cg);
	CHECK(read_cg(child, now, sizeof(now)) >= 0 && strcmp(now, child_cg) == 0, "child %d: /proc/PID/cgroup is now:\n%s\nwas:\n%s", child, now, child_cg);
	CHECK(kill(child, 0) == 0, "child %d: %s", child, strerror(errno));
	for (int i = 0; root && i < nh; i++) {
		struct hier *h = &hs[i];
		char p[PATH_MAX + 16];
		snprintf(p, sizeof(p), CGNS ? "%s/inner" : "%s", h->dir);
		CHECK(in_procs(p, getpid()), "pid %d not in %s", getpid(), p);
		CHECK(in_procs(p, child), "child %d not in %s", child, p);
		if (h->mem)
			check_prop(h->dir, h->v2 ? "memory.max" : "memory.limit_in_bytes", MEMLIMIT);
		if (h->pids)
			check_prop(h->dir, "pids.max", PIDSMAX);
		if (h->v2) {
			check_prop(h->dir, "cgroup.max.descendants", "7");
			check_prop(h->dir, "cgroup.max.depth", "3");
		}
	}
	struct stat ns;
	if (CGNS && root)
		CHECK(stat("/proc/self/ns/cgroup", &ns) == 0 && ns.st_ino != ns0.st_ino, "back in the starting cgroup namespace");
	if (root)
		cleanup();
	return crt_finish();
}
