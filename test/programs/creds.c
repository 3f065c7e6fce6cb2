/* creds: per-process attributes.
 *   umask 027; cwd <workdir>/creds.cwd; rlimits NOFILE (soft 777),
 *   CORE (4096/8192), CPU (soft 100000 s), MSGQUEUE (soft 100000);
 *   personality ADDR_NO_RANDOMIZE|UNAME26; name "creds-test";
 *   no_new_privs; keepcaps; as root also supplementary groups 3,5,7 and
 *   CAP_SYS_BOOT dropped from the bounding set.
 * Checks: each of them, and that the ids are unchanged.
 * With CREDS_NO_PERSONALITY=1 in the environment the personality is
 * neither set nor checked (CRIU's restore does not restore it). */
#define _GNU_SOURCE
#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "crtest.h"

struct lim {
	int res;
	const char *name;
	struct rlimit want;
};

static struct lim lims[] = {
	{ RLIMIT_NOFILE, "NOFILE", { 777, 0 } },
	{ RLIMIT_CORE, "CORE", { 4096, 8192 } },
	{ RLIMIT_CPU, "CPU", { 100000, 0 } },
	{ RLIMIT_MSGQUEUE, "MSGQUEUE", { 100000, 0 } },
};
#define NLIMS (int)(sizeof(lims) / sizeof(lims[0]))

int main(int argc, char **argv)
{
	crt_init(argc, argv);
	uid_t ids[3];
	gid_t gids[3];
	getresuid(&ids[0], &ids[1], &ids[2]);
	getresgid(&gids[0], &gids[1], &gids[2]);
	int root = geteuid() == 0;

	umask(027);
	char *cwd = crt_path("creds.cwd");
	if ((mkdir(cwd, 0750) && errno != EEXIST) || chdir(cwd))
		crt_setup_fail("cwd %s: %s", cwd, strerror(errno));
	struct stat cwd_st;
	stat(".", &cwd_st);

	for (int i = 0; i < NLIMS; i++) {
		struct rlimit cur;
		getrlimit(lims[i].res, &cur);
		/* Keep the hard limit where 0 stands for "unchanged", and never
		 * ask for more than the hard limit allows. */
		if (lims[i].want.rlim_max == 0 || lims[i].want.rlim_max > cur.rlim_max)
			lims[i].want.rlim_max = cur.rlim_max;
		if (lims[i].want.rlim_cur > lims[i].want.rlim_max)
			lims[i].want.rlim_cur = lims[i].want.rlim_max;
		if (setrlimit(lims[i].res, &lims[i].want))
			crt_setup_fail("setrlimit %s: %s", lims[i].name, strerror(errno));
	}

	const char *np = getenv("CREDS_NO_PERSONALITY");
	int check_pers = !(np && !strcmp(np, "1"));
	int pers = PER_LINUX | ADDR_NO_RANDOMIZE | UNAME26;
	if (check_pers && personality(pers) < 0)
		crt_setup_fail("personality: %s", strerror(errno));
	if (prctl(PR_SET_NAME, "creds-test") || prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) || prctl(PR_SET_KEEPCAPS, 1))
		crt_setup_fail("prctl: %s", strerror(errno));
	gid_t groups[] = { 3, 5, 7 };
	if (root && (setgroups(3, groups) || prctl(PR_CAPBSET_DROP, CAP_SYS_BOOT)))
		crt_setup_fail("groups or capabilities: %s", strerror(errno));
	crt_ready();
	crt_wait();

	mode_t um = umask(0);
	umask(um);
	CHECK(um == 027, "umask %03o", um);
	char buf[4096];
	struct stat st;
	CHECK(getcwd(buf, sizeof(buf)) && !strcmp(buf, cwd), "cwd %s, want %s", buf, cwd);
	CHECK(!stat(".", &st) && st.st_ino == cwd_st.st_ino && st.st_dev == cwd_st.st_dev, "cwd is another directory");
	for (int i = 0; i < NLIMS; i++) {
		struct rlimit cur;
		getrlimit(lims[i].res, &cur);
		CHECK(cur.rlim_cur == lims[i].want.rlim_cur && cur.rlim_max == lims[i].want.rlim_max,
		      "RLIMIT_%s %llu/%llu, want %llu/%llu", lims[i].name, (unsigned long long)cur.rlim_cur,
		      (unsigned long long)cur.rlim_max, (unsigned long long)lims[i].want.rlim_cur,
		      (unsigned long long)lims[i].want.rlim_max);
	}
	if (check_pers) {
		int p = personality(0xffffffff);
		CHECK(p == pers, "personality %#x, want %#x", p, pers);
		struct utsname u;
		CHECK(!uname(&u) && !strncmp(u.release, "2.6.", 4), "UNAME26 not in effect: release %s", u.release);
	}
	CHECK(!prctl(PR_GET_NAME, buf) && !strcmp(buf, "creds-test"), "name %s", buf);
	CHECK(prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 1, "no_new_privs lost");
	CHECK(prctl(PR_GET_KEEPCAPS) == 1, "keepcaps lost");

	uid_t now[3];
	gid_t gnow[3];
	getresuid(&now[0], &now[1], &now[2]);
	getresgid(&gnow[0], &gnow[1], &gnow[2]);
	CHECK(!memcmp(now, ids, sizeof(now)) && !memcmp(gnow, gids, sizeof(gnow)), "uids or gids changed");
	if (root) {
		gid_t g[16];
		int n = getgroups(16, g);
		CHECK(n == 3 && g[0] == 3 && g[1] == 5 && g[2] == 7, "supplementary groups changed (%d)", n);
		CHECK(prctl(PR_CAPBSET_READ, CAP_SYS_BOOT) == 0, "CAP_SYS_BOOT back in the bounding set");
		CHECK(prctl(PR_CAPBSET_READ, CAP_KILL) == 1, "CAP_KILL gone from the bounding set");
	}
	return crt_finish();
}
