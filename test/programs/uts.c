/* uts: a UTS namespace of its own.
 *   unshare(CLONE_NEWUTS) before the pidfile is written (as an ordinary
 *   user, inside a new user namespace so that the selfcheck runs);
 *   hostname "criugo-uts.example", domainname "criugo.domain".
 * Checks: both names, from uname(2) and gethostname/getdomainname, and
 *   that the namespace is still not the one the program started in. */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "crtest.h"

#define HOST "criugo-uts.example"
#define DOMAIN "criugo.domain"

int main(int argc, char **argv)
{
	crt_init(argc, argv);
	struct stat host_ns;
	if (stat("/proc/self/ns/uts", &host_ns))
		crt_setup_fail("stat uts ns: %s", strerror(errno));
	int flags = CLONE_NEWUTS;
	if (geteuid() != 0)
		flags |= CLONE_NEWUSER;
	if (unshare(flags))
		crt_setup_fail("unshare: %s", strerror(errno));
	if (sethostname(HOST, strlen(HOST)) || setdomainname(DOMAIN, strlen(DOMAIN)))
		crt_setup_fail("set names: %s", strerror(errno));
	crt_ready();
	crt_wait();

	struct utsname u;
	CHECK(uname(&u) == 0, "uname: %s", strerror(errno));
	CHECK(strcmp(u.nodename, HOST) == 0, "nodename %s", u.nodename);
	CHECK(strcmp(u.domainname, DOMAIN) == 0, "domainname %s", u.domainname);
	char buf[128];
	CHECK(gethostname(buf, sizeof(buf)) == 0 && strcmp(buf, HOST) == 0, "gethostname %s", buf);
	CHECK(getdomainname(buf, sizeof(buf)) == 0 && strcmp(buf, DOMAIN) == 0, "getdomainname %s", buf);
	struct stat ns;
	CHECK(stat("/proc/self/ns/uts", &ns) == 0 && ns.st_ino != host_ns.st_ino, "back in the starting uts namespace");
	return crt_finish();
}
