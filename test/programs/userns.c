/* userns: a user namespace of its own with uid and gid maps.
 *   The starting process forks R, which unshares CLONE_NEWUSER; the
 *   starter writes R's maps from outside (as root: 0 -> 100000, 65536 ids
 *   of each; as an ordinary user: 0 -> its own uid and gid, setgroups
 *   "deny", which the kernel then requires), makes files in the work
 *   directory owned by ids the namespace maps and one it does not, hands
 *   the directory to the namespace's root, writes R's pid to the pidfile
 *   and exits. R becomes root inside (setgroups {0, 7} as root), leads a
 *   session of its own, is made dumpable again, unshares a UTS namespace
 *   named "usernstest" and an IPC namespace with a shm segment (both owned
 *   by the new user namespace), opens one of the files, holds a file
 *   it made and removed (a ghost), a memfd and a unix socket bound in the
 *   work directory, starts a second thread and forks K,
 *   which (as root) takes uid 1000, gid 1005 and groups {7, 8} inside.
 * Checks (in R, after SIGTERM): uid_map, gid_map and setgroups as
 *   written; the ids getresuid/getresgid/getgroups give inside and
 *   /proc/self/status shows; dumpable; a full effective capability set; a user
 *   namespace other than the starting one; the UTS namespace's name and owner (R's user namespace); the
 *   owners of the files as seen inside (the unmapped one shows as the
 *   overflow ids), the open one, the ghost and the memfd through their
 *   fds and the socket's file (owned by 0:0 inside), the thread's id, a new file R makes owned
 *   by 0:0 inside; K in the same user namespace with its own ids, and its
 *   exit status.
 * usernspid (this program built with USERNS_PIDNS) is the same in a pid
 *   namespace owned by the new user namespace: R unshares CLONE_NEWPID
 *   once root inside, forks the namespace's init, which goes on as R
 *   above (K is pid 2), tells its pid outside and exits; the init also
 *   checks its pid 1 and its pid namespace's owner.
 * usernsmnt (built with USERNS_MNTNS) also unshares a mount namespace
 *   (owned by the new user namespace, / made private) with a tmpfs on
 *   mnt holding a file; it checks the tmpfs, the file's contents and
 *   owner, and the mount namespace's owner.
 * usernsnet (built with USERNS_NETNS) also unshares a network namespace
 *   (owned by the new user namespace) with lo up, net.ipv4.ping_group_range
 *   set to "0 7" from inside (gids of the namespace), a TCP listener on 127.0.0.1 and a connection
 *   through it with data queued both ways; it checks the namespace's
 *   owner, lo, the sysctl, the queued data and a new connection to the
 *   listener (which a lock left on would drop).
 * With USERNS_NESTED=1, K unshares a user namespace of its own (nested):
 *   a dump must refuse it; with USERNS_DENY=1 (as root) setgroups is
 *   "deny"; with USERNS_UTS_FIRST=1 the UTS namespace is unshared before
 *   the user namespace (owned by the starting one): a dump must refuse
 *   both (pkg/dump's TestDumpUserNsRefused). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/nsfs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/shm.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/statfs.h>
#include <linux/magic.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "crtest.h"

#define HOST_BASE 100000
#define COUNT 65536
#define HOST_NAME "usernstest"

static int priv;                  /* started as root: the full maps */
static unsigned host_uid, host_gid; /* what 0 maps to */
static ino_t start_userns;
static int nested, deny, uts_first;
#ifndef USERNS_PIDNS
#define USERNS_PIDNS 0
#endif
static const int pidns = USERNS_PIDNS; /* the tree in a pid namespace too (usernspid) */
#ifndef USERNS_MNTNS
#define USERNS_MNTNS 0
#endif
static const int mntns = USERNS_MNTNS; /* and a mount namespace with a tmpfs (usernsmnt) */
#ifndef USERNS_NETNS
#define USERNS_NETNS 0
#endif
static const int netns = USERNS_NETNS; /* and a network namespace (usernsnet) */
#define NET_QUEUED 3000

/* lo_up brings lo up; 0 on success. */
static int lo_up(void)
{
	struct ifreq ifr;
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	int r = -1;

	memset(&ifr, 0, sizeof(ifr));
	strcpy(ifr.ifr_name, "lo");
	if (s >= 0 && ioctl(s, SIOCGIFFLAGS, &ifr) == 0) {
		ifr.ifr_flags |= IFF_UP;
		r = ioctl(s, SIOCSIFFLAGS, &ifr);
	}
	if (s >= 0)
		close(s);
	return r;
}

/* lo_is_up says whether lo is up. */
static int lo_is_up(void)
{
	struct ifreq ifr;
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	int up = 0;

	memset(&ifr, 0, sizeof(ifr));
	strcpy(ifr.ifr_name, "lo");
	if (s >= 0 && ioctl(s, SIOCGIFFLAGS, &ifr) == 0)
		up = !!(ifr.ifr_flags & IFF_UP);
	if (s >= 0)
		close(s);
	return up;
}

/* tcp_connect connects a new socket to 127.0.0.1:port; -1 on failure. */
static int tcp_connect(int port)
{
	struct sockaddr_in a = crt_loopback(port);
	int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (c >= 0 && connect(c, (struct sockaddr *)&a, sizeof(a)) == 0)
		return c;
	if (c >= 0)
		close(c);
	return -1;
}
static char want_uid_map[64], want_gid_map[64];

static ino_t ns_ino(const char *name)
{
	char path[64];
	struct stat st;

	snprintf(path, sizeof(path), "/proc/self/ns/%s", name);
	return stat(path, &st) ? 0 : st.st_ino;
}

/* ioctl_ino returns the inode of the namespace req gives for the
 * namespace file of name. */
static ino_t ioctl_ino(const char *name, unsigned long req)
{
	char path[64];
	struct stat st;
	ino_t ino = 0;

	snprintf(path, sizeof(path), "/proc/self/ns/%s", name);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	int other = ioctl(fd, req);
	if (other >= 0 && fstat(other, &st) == 0)
		ino = st.st_ino;
	if (other >= 0)
		close(other);
	close(fd);
	return ino;
}

static void read_file(const char *path, char *buf, size_t size)
{
	buf[0] = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	ssize_t n = read(fd, buf, size - 1);
	buf[n > 0 ? n : 0] = 0;
	close(fd);
}

static int write_proc(pid_t pid, const char *file, const char *text)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/%s", pid, file);
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = write(fd, text, strlen(text));
	close(fd);
	return n == (ssize_t)strlen(text) ? 0 : -1;
}

/* map_line normalizes one map line ("first lower count") for a compare. */
static void map_line(const char *text, char *out, size_t size)
{
	unsigned a, b, c;

	if (sscanf(text, "%u %u %u", &a, &b, &c) == 3)
		snprintf(out, size, "%u %u %u", a, b, c);
	else
		snprintf(out, size, "?%s", text);
}

/* status_ids reads the Uid: or Gid: line of /proc/self/status. */
static void status_ids(const char *key, unsigned ids[4])
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];

	ids[0] = ids[1] = ids[2] = ids[3] = ~0u;
	if (!f)
		return;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, strlen(key)))
			sscanf(line + strlen(key), "%u %u %u %u", &ids[0], &ids[1], &ids[2], &ids[3]);
	fclose(f);
}

static unsigned long long cap_eff(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	unsigned long long v = 0;

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "CapEff:", 7))
			v = strtoull(line + 7, NULL, 16);
	fclose(f);
	return v;
}

struct report {
	uid_t r, e, s;
	gid_t gr, ge, gs;
	int ngroups;
	gid_t groups[4];
	unsigned st_uid[4];
	ino_t userns;
};

static void fill_report(struct report *rp)
{
	memset(rp, 0, sizeof(*rp));
	getresuid(&rp->r, &rp->e, &rp->s);
	getresgid(&rp->gr, &rp->ge, &rp->gs);
	rp->ngroups = getgroups(4, rp->groups);
	status_ids("Uid:", rp->st_uid);
	rp->userns = ns_ino("user");
}

/* K: takes its ids (as root), answers one request with its report. */
static void kid(int req, int resp)
{
	if (priv) {
		gid_t g[] = { 7, 8 };
		if ((!deny && setgroups(2, g)) || setresgid(1005, 1005, 1005) || setresuid(1000, 1000, 1000))
			_exit(3);
	}
	if (nested && unshare(CLONE_NEWUSER))
		_exit(4);
	char c = 'k';
	if (write(resp, &c, 1) != 1)
		_exit(1);
	if (read(req, &c, 1) != 1)
		_exit(1);
	struct report rp;
	fill_report(&rp);
	if (write(resp, &rp, sizeof(rp)) != sizeof(rp))
		_exit(1);
	_exit(17);
}

static volatile int thread_go;
static volatile pid_t thread_tid, thread_tid_after;

/* A second thread of R: its tid, before and after. */
static void *thread_main(void *arg)
{
	(void)arg;
	thread_tid = syscall(SYS_gettid);
	while (!thread_go)
		crt_sleep_ms(10);
	thread_tid_after = syscall(SYS_gettid);
	return NULL;
}

static void check_owner(const char *name, unsigned uid, unsigned gid)
{
	struct stat st;

	if (stat(crt_path(name), &st)) {
		CHECK(0, "stat %s: %s", name, strerror(errno));
		return;
	}
	CHECK(st.st_uid == uid && st.st_gid == gid, "%s owned by %u:%u inside, not %u:%u", name, st.st_uid, st.st_gid, uid, gid);
}

static int r_main(int to_parent, int from_parent)
{
	char c = 'u';

	if (uts_first && (unshare(CLONE_NEWUTS) || sethostname(HOST_NAME, strlen(HOST_NAME))))
		crt_setup_fail("unshare uts: %s", strerror(errno));
	if (unshare(CLONE_NEWUSER))
		crt_setup_fail("unshare user: %s", strerror(errno));
	if (write(to_parent, &c, 1) != 1 || read(from_parent, &c, 1) != 1 || c != 'm')
		_exit(1);
	if (priv && !deny) {
		gid_t g[] = { 0, 7 };
		if (setgroups(2, g))
			crt_setup_fail("setgroups inside: %s", strerror(errno));
	}
	if (setresgid(0, 0, 0) || setresuid(0, 0, 0))
		crt_setup_fail("become root inside: %s", strerror(errno));
	/* The id change made it non-dumpable; its memory was made outside
	 * the namespace, so only dumpable can the namespace's root (CRIU's
	 * dump, from inside) look at it in /proc. */
	if (prctl(PR_SET_DUMPABLE, 1, 0, 0, 0))
		crt_setup_fail("PR_SET_DUMPABLE: %s", strerror(errno));
	pid_t root = getpid();
	if (pidns) {
		/* The tree is the init of a pid namespace the new user
		 * namespace owns; R tells its pid outside and goes. */
		if (unshare(CLONE_NEWPID))
			crt_setup_fail("unshare pid: %s", strerror(errno));
		root = fork();
		if (root < 0)
			crt_setup_fail("fork init: %s", strerror(errno));
		if (root > 0) {
			if (write(to_parent, &root, sizeof(root)) != sizeof(root))
				_exit(1);
			_exit(0);
		}
		if (prctl(PR_SET_DUMPABLE, 1, 0, 0, 0))
			crt_setup_fail("PR_SET_DUMPABLE: %s", strerror(errno));
	} else if (write(to_parent, &root, sizeof(root)) != sizeof(root)) {
		_exit(1);
	}
	if (setsid() < 0)
		crt_setup_fail("setsid: %s", strerror(errno));
	if (!uts_first && (unshare(CLONE_NEWUTS | CLONE_NEWIPC) || sethostname(HOST_NAME, strlen(HOST_NAME))))
		crt_setup_fail("unshare uts and ipc: %s", strerror(errno));
	if (mntns) {
		if (unshare(CLONE_NEWNS) || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL))
			crt_setup_fail("unshare mnt: %s", strerror(errno));
		mkdir(crt_path("mnt"), 0755);
		int fd = -1;
		if (mount("none", crt_path("mnt"), "tmpfs", 0, "mode=0755") ||
		    (fd = open(crt_path("mnt/f"), O_WRONLY | O_CREAT | O_CLOEXEC, 0644)) < 0 || write(fd, "tmpfs", 5) != 5)
			crt_setup_fail("mount a tmpfs with a file: %s", strerror(errno));
		close(fd);
	}
	int lst = -1, cli = -1, srv = -1, lport = -1;
	if (netns) {
		if (unshare(CLONE_NEWNET) || lo_up())
			crt_setup_fail("unshare net, lo up: %s", strerror(errno));
		int tf = open("/proc/sys/net/ipv4/ping_group_range", O_WRONLY | O_CLOEXEC);
		if (tf < 0 || write(tf, "0 7", 3) != 3)
			crt_setup_fail("set ping_group_range from inside: %s", strerror(errno));
		close(tf);
		struct sockaddr_in a = crt_loopback(0);
		lst = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (lst < 0 || bind(lst, (struct sockaddr *)&a, sizeof(a)) || listen(lst, 4) || (lport = crt_port_of(lst, 0)) < 0)
			crt_setup_fail("TCP listener: %s", strerror(errno));
		if ((cli = tcp_connect(lport)) < 0 || (srv = accept4(lst, NULL, NULL, SOCK_CLOEXEC)) < 0)
			crt_setup_fail("TCP connection: %s", strerror(errno));
		if (!crt_send_pat(srv, 1, NET_QUEUED) || !crt_send_pat(cli, 2, NET_QUEUED))
			crt_setup_fail("queue data: %s", strerror(errno));
	}
	int shmid = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0640);
	if (shmid < 0)
		crt_setup_fail("shmget: %s", strerror(errno));
	int held = open(crt_path("own0"), O_RDONLY | O_CLOEXEC);
	if (held < 0)
		crt_setup_fail("open own0: %s", strerror(errno));
	int ghost = open(crt_path("ghost"), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	if (ghost < 0 || write(ghost, "ghost", 5) != 5 || unlink(crt_path("ghost")))
		crt_setup_fail("make a deleted file: %s", strerror(errno));
	int mfd = memfd_create("userns-memfd", MFD_CLOEXEC);
	if (mfd < 0 || write(mfd, "memfd", 5) != 5)
		crt_setup_fail("make a memfd: %s", strerror(errno));
	int sk = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", crt_path("sock"));
	unlink(sa.sun_path);
	if (sk < 0 || bind(sk, (struct sockaddr *)&sa, sizeof(sa)))
		crt_setup_fail("bind a unix socket: %s", strerror(errno));
	int req[2], resp[2];
	if (pipe(req) || pipe(resp))
		crt_setup_fail("pipe: %s", strerror(errno));
	pid_t k = fork();
	if (k < 0)
		crt_setup_fail("fork: %s", strerror(errno));
	if (k == 0) {
		close(req[1]);
		close(resp[0]);
		kid(req[0], resp[1]);
	}
	close(req[0]);
	close(resp[1]);
	pthread_t th;
	if (pthread_create(&th, NULL, thread_main, NULL))
		crt_setup_fail("pthread_create");
	while (!thread_tid)
		crt_sleep_ms(1);
	/* K has its ids (and, nested, its namespace) before the pidfile. */
	if (read(resp[0], &c, 1) != 1 || c != 'k')
		crt_setup_fail("the child did not take its ids");
	if (write(to_parent, "r", 1) != 1)
		crt_setup_fail("tell readiness: %s", strerror(errno));
	close(to_parent);
	crt_wait();

	char buf[256], line[64];
	read_file("/proc/self/uid_map", buf, sizeof(buf));
	map_line(buf, line, sizeof(line));
	CHECK(!strcmp(line, want_uid_map), "uid_map \"%s\", not \"%s\"", line, want_uid_map);
	CHECK(!strchr(buf, '\n') || !strchr(buf, '\n')[1], "uid_map of more than one line: %s", buf);
	read_file("/proc/self/gid_map", buf, sizeof(buf));
	map_line(buf, line, sizeof(line));
	CHECK(!strcmp(line, want_gid_map), "gid_map \"%s\", not \"%s\"", line, want_gid_map);
	read_file("/proc/self/setgroups", buf, sizeof(buf));
	const char *want_sg = priv && !deny ? "allow\n" : "deny\n";
	CHECK(!strcmp(buf, want_sg), "setgroups \"%s\", not \"%s\"", buf, want_sg);

	thread_go = 1;
	pthread_join(th, NULL);
	CHECK(thread_tid_after == thread_tid, "thread id %d, then %d", thread_tid, thread_tid_after);
	struct report me;
	fill_report(&me);
	CHECK(me.r == 0 && me.e == 0 && me.s == 0, "uids %u %u %u inside, not 0", me.r, me.e, me.s);
	CHECK(me.gr == 0 && me.ge == 0 && me.gs == 0, "gids %u %u %u inside, not 0", me.gr, me.ge, me.gs);
	CHECK(me.st_uid[0] == 0 && me.st_uid[1] == 0 && me.st_uid[3] == 0, "status shows uid %u, fsuid %u", me.st_uid[0], me.st_uid[3]);
	if (priv && !deny)
		CHECK(me.ngroups == 2 && me.groups[0] == 0 && me.groups[1] == 7, "%d groups inside (%u, ...), not {0, 7}", me.ngroups, me.groups[0]);
	CHECK(prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) == 1, "not dumpable");
	if (pidns) {
		CHECK(getpid() == 1, "pid %d, not 1 in its pid namespace", getpid());
		ino_t pid_owner = ioctl_ino("pid", NS_GET_USERNS);
		CHECK(pid_owner == me.userns, "the pid namespace is owned by [%lu], not by the user namespace [%lu]", (unsigned long)pid_owner, (unsigned long)me.userns);
	}
	CHECK(cap_eff() & (1ull << 21), "no CAP_SYS_ADMIN in the user namespace (CapEff %llx)", cap_eff());
	CHECK(me.userns != 0 && me.userns != start_userns, "back in the starting user namespace");
	char host[65] = "";
	gethostname(host, sizeof(host));
	CHECK(!strcmp(host, HOST_NAME), "host name \"%s\", not \"%s\"", host, HOST_NAME);
	ino_t uts_owner = uts_first ? me.userns : ioctl_ino("uts", NS_GET_USERNS);
	CHECK(uts_owner == me.userns, "the UTS namespace is owned by [%lu], not by the user namespace [%lu]", (unsigned long)uts_owner, (unsigned long)me.userns);

	if (!uts_first) {
		ino_t ipc_owner = ioctl_ino("ipc", NS_GET_USERNS);
		CHECK(ipc_owner == me.userns, "the IPC namespace is owned by [%lu], not by the user namespace [%lu]", (unsigned long)ipc_owner, (unsigned long)me.userns);
	}
	/* Its owner, not its creator: criu-restore makes it (cuid 65534 here). */
	struct shmid_ds sd;
	if (shmctl(shmid, IPC_STAT, &sd))
		CHECK(0, "shmctl IPC_STAT: %s", strerror(errno));
	else
		CHECK(sd.shm_perm.uid == 0 && sd.shm_perm.gid == 0 && (sd.shm_perm.mode & 0777) == 0640,
		      "shm owned by %u:%u mode %o inside, not 0:0 640", sd.shm_perm.uid, sd.shm_perm.gid, sd.shm_perm.mode & 0777);
	check_owner("own0", 0, 0);
	check_owner("sock", 0, 0);
	if (mntns) {
		struct statfs sf;
		CHECK(statfs(crt_path("mnt"), &sf) == 0 && sf.f_type == TMPFS_MAGIC, "mnt is not a tmpfs");
		read_file(crt_path("mnt/f"), buf, sizeof(buf));
		CHECK(!strcmp(buf, "tmpfs"), "the tmpfs's file holds \"%s\"", buf);
		check_owner("mnt/f", 0, 0);
		ino_t mnt_owner = ioctl_ino("mnt", NS_GET_USERNS);
		CHECK(mnt_owner == me.userns, "the mount namespace is owned by [%lu], not by the user namespace [%lu]", (unsigned long)mnt_owner, (unsigned long)me.userns);
	}
	if (netns) {
		ino_t net_owner = ioctl_ino("net", NS_GET_USERNS);
		CHECK(net_owner == me.userns, "the network namespace is owned by [%lu], not by the user namespace [%lu]", (unsigned long)net_owner, (unsigned long)me.userns);
		CHECK(lo_is_up(), "lo is down");
		read_file("/proc/sys/net/ipv4/ping_group_range", buf, sizeof(buf));
		int g0 = -1, g1 = -1;
		sscanf(buf, "%d %d", &g0, &g1);
		CHECK(g0 == 0 && g1 == 7, "ping_group_range is \"%s\" inside, not \"0 7\"", buf);
		CHECK(crt_recv_pat(cli, 1, NET_QUEUED, 2000), "data queued from the server to the client");
		CHECK(crt_recv_pat(srv, 2, NET_QUEUED, 2000), "data queued from the client to the server");
		int c2 = tcp_connect(lport);
		struct pollfd p = { .fd = lst, .events = POLLIN };
		int s2 = c2 >= 0 && poll(&p, 1, 2000) == 1 ? accept4(lst, NULL, NULL, SOCK_CLOEXEC) : -1;
		CHECK(c2 >= 0 && s2 >= 0 && crt_send_pat(c2, 3, 100) && crt_recv_pat(s2, 3, 100, 2000), "a new connection to the listener on port %d: %s", lport, strerror(errno));
	}
	if (priv) {
		check_owner("own1000", 1000, 1005);
		check_owner("outside", 65534, 65534);
	}
	struct stat st;
	CHECK(fstat(held, &st) == 0 && st.st_uid == 0 && st.st_gid == 0, "held fd owned by %u:%u", st.st_uid, st.st_gid);
	memset(&st, 0, sizeof(st));
	if (fstat(ghost, &st))
		CHECK(0, "fstat the deleted file: %s", strerror(errno));
	CHECK(st.st_uid == 0 && st.st_gid == 0 && st.st_nlink == 0 && st.st_size == 5,
	      "deleted file owned by %u:%u inside, %lu links, %ld bytes", st.st_uid, st.st_gid, (unsigned long)st.st_nlink, (long)st.st_size);
	memset(&st, 0, sizeof(st));
	if (fstat(mfd, &st))
		CHECK(0, "fstat the memfd: %s", strerror(errno));
	CHECK(st.st_uid == 0 && st.st_gid == 0 && st.st_size == 5,
	      "memfd owned by %u:%u inside, %ld bytes", st.st_uid, st.st_gid, (long)st.st_size);
	int nf = open(crt_path("new"), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	CHECK(nf >= 0, "create a file: %s", strerror(errno));
	if (nf >= 0) {
		close(nf);
		check_owner("new", 0, 0);
	}

	struct report kr;
	c = 'q';
	int ok = write(req[1], &c, 1) == 1 && read(resp[0], &kr, sizeof(kr)) == sizeof(kr);
	CHECK(ok, "the child does not answer");
	if (ok && nested) {
		CHECK(kr.userns != me.userns, "the child is in its parent's user namespace");
	} else if (ok) {
		unsigned u = priv ? 1000 : 0, g = priv ? 1005 : 0;
		CHECK(kr.r == u && kr.e == u && kr.s == u, "child uids %u %u %u, not %u", kr.r, kr.e, kr.s, u);
		CHECK(kr.gr == g && kr.ge == g && kr.gs == g, "child gids %u %u %u, not %u", kr.gr, kr.ge, kr.gs, g);
		CHECK(kr.st_uid[0] == u && kr.st_uid[3] == u, "child's status shows uid %u, fsuid %u", kr.st_uid[0], kr.st_uid[3]);
		if (priv && !deny)
			CHECK(kr.ngroups == 2 && kr.groups[0] == 7 && kr.groups[1] == 8, "child has %d groups (%u, ...), not {7, 8}", kr.ngroups, kr.groups[0]);
		CHECK(!pidns || k == 2, "the child is pid %d, not 2", k);
		CHECK(kr.userns == me.userns, "the child is in user namespace [%lu], not [%lu]", (unsigned long)kr.userns, (unsigned long)me.userns);
	}
	int ws;
	CHECK(waitpid(k, &ws, 0) == k && WIFEXITED(ws) && WEXITSTATUS(ws) == 17, "child ended with status %#x", ws);
	return crt_finish();
}

static void make_file(const char *name, uid_t uid, gid_t gid)
{
	int fd = open(crt_path(name), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || fchown(fd, uid, gid))
		crt_setup_fail("make %s: %s", name, strerror(errno));
	close(fd);
}

int main(int argc, char **argv)
{
	crt_init(argc, argv);
	priv = geteuid() == 0;
	nested = getenv("USERNS_NESTED") != NULL;
	deny = priv && getenv("USERNS_DENY") != NULL;
	uts_first = getenv("USERNS_UTS_FIRST") != NULL;
	start_userns = ns_ino("user");
	host_uid = priv ? HOST_BASE : geteuid();
	host_gid = priv ? HOST_BASE : getegid();
	unsigned count = priv ? COUNT : 1;
	snprintf(want_uid_map, sizeof(want_uid_map), "0 %u %u", host_uid, count);
	snprintf(want_gid_map, sizeof(want_gid_map), "0 %u %u", host_gid, count);
	unlink(crt_path("new"));

	int up[2], down[2];
	if (pipe(up) || pipe(down))
		crt_setup_fail("pipe: %s", strerror(errno));
	pid_t r = fork();
	if (r < 0)
		crt_setup_fail("fork: %s", strerror(errno));
	if (r == 0) {
		close(up[0]);
		close(down[1]);
		return r_main(up[1], down[0]);
	}
	close(up[1]);
	close(down[0]);
	char c;
	if (read(up[0], &c, 1) != 1)
		crt_setup_fail("the child did not unshare its user namespace");
	char map[80];
	snprintf(map, sizeof(map), "%s\n", want_uid_map);
	if (write_proc(r, "uid_map", map))
		crt_setup_fail("write uid_map: %s", strerror(errno));
	if ((!priv || deny) && write_proc(r, "setgroups", "deny"))
		crt_setup_fail("write setgroups: %s", strerror(errno));
	snprintf(map, sizeof(map), "%s\n", want_gid_map);
	if (write_proc(r, "gid_map", map))
		crt_setup_fail("write gid_map: %s", strerror(errno));
	make_file("own0", host_uid, host_gid);
	if (priv) {
		make_file("own1000", HOST_BASE + 1000, HOST_BASE + 1005);
		make_file("outside", 0, 0);
		/* The namespace's root makes files here and writes the outfile
		 * in the outfile's directory. */
		if (chown(crt_workdir, HOST_BASE, HOST_BASE))
			crt_setup_fail("chown %s: %s", crt_workdir, strerror(errno));
		for (int i = 1; i + 1 < argc; i++) {
			if (strcmp(argv[i], "--outfile"))
				continue;
			char *dir = strdup(argv[i + 1]), *slash = strrchr(dir, '/');
			if (slash)
				*slash = 0;
			if (chown(slash ? (*dir ? dir : "/") : ".", HOST_BASE, HOST_BASE))
				crt_setup_fail("chown the outfile's directory: %s", strerror(errno));
		}
	}
	if (write(down[1], "m", 1) != 1)
		crt_setup_fail("tell the child: %s", strerror(errno));
	pid_t root;
	if (read(up[0], &root, sizeof(root)) != sizeof(root))
		crt_setup_fail("the child did not fork the namespace's init");
	if (read(up[0], &c, 1) != 1)
		crt_setup_fail("the child did not get ready");
	crt_ready_pid(root);
	return 0;
}
