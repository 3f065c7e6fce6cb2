/* linkremap: files deleted while open but still linked under another name
 * (what CRIU dumps with --link-remap; run-cr.sh passes it).
 *   fd:     linkremap.a, 6000 bytes, hard-linked as sub/linkremap.b, open
 *           O_RDWR at offset 17, then linkremap.a unlinked;
 *   mapped: linkremap.m, 2 pages, hard-linked as sub/linkremap.n, mapped
 *           MAP_SHARED with no fd left, then linkremap.m unlinked.
 * Checks: each is still the inode of its other name (same device and
 * inode, nlink 1), contents, offset, writes through the fd or mapping seen
 * at the other name, the unlinked names still gone and no link the dump
 * made left behind. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crtest.h"

#define PG 4096L

static unsigned char pat(int seed, long i)
{
	return (unsigned char)(i * 5 + seed + i / 4096);
}

static int make(const char *name, int seed, long len)
{
	static char buf[2 * PG];
	int fd = open(crt_path(name), O_RDWR | O_CREAT | O_TRUNC, 0640);
	for (long i = 0; i < len; i++)
		buf[i] = pat(seed, i);
	if (fd < 0 || pwrite(fd, buf, len, 0) != len)
		crt_setup_fail("make %s: %s", name, strerror(errno));
	return fd;
}

static int same_inode(int fd, const char *name)
{
	struct stat a, b;
	return !fstat(fd, &a) && !stat(crt_path(name), &b) && a.st_dev == b.st_dev && a.st_ino == b.st_ino &&
	       a.st_nlink == 1;
}

/* remaps counts the entries of dir named as the links a dump makes
 * (CRIU's and ours: link_remap.ID). */
static int remaps(const char *dir)
{
	DIR *d = opendir(crt_path(dir));
	int n = 0;
	if (!d)
		return -1;
	for (struct dirent *e; (e = readdir(d));)
		if (!strncmp(e->d_name, "link_remap.", 11))
			n++;
	closedir(d);
	return n;
}

int main(int argc, char **argv)
{
	crt_init(argc, argv);
	if (mkdir(crt_path("sub"), 0755) && errno != EEXIST)
		crt_setup_fail("mkdir: %s", strerror(errno));

	int fd = make("linkremap.a", 1, 6000);
	if (link(crt_path("linkremap.a"), crt_path("sub/linkremap.b")) || lseek(fd, 17, SEEK_SET) != 17 ||
	    unlink(crt_path("linkremap.a")))
		crt_setup_fail("fd: %s", strerror(errno));

	int mfd = make("linkremap.m", 2, 2 * PG);
	char *m = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
	if (m == MAP_FAILED || link(crt_path("linkremap.m"), crt_path("sub/linkremap.n")) || close(mfd) ||
	    unlink(crt_path("linkremap.m")))
		crt_setup_fail("mapped: %s", strerror(errno));

	crt_ready();
	crt_wait();

	CHECK(same_inode(fd, "sub/linkremap.b"), "fd: not the inode of sub/linkremap.b, or more links");
	static char buf[2 * PG];
	int ok = pread(fd, buf, 6000, 0) == 6000;
	for (long i = 0; ok && i < 6000; i++)
		ok = (unsigned char)buf[i] == pat(1, i);
	CHECK(ok, "fd: contents");
	CHECK(lseek(fd, 0, SEEK_CUR) == 17, "fd: offset %lld", (long long)lseek(fd, 0, SEEK_CUR));
	int b = open(crt_path("sub/linkremap.b"), O_RDONLY);
	CHECK(write(fd, "new", 3) == 3 && b >= 0 && pread(b, buf, 3, 17) == 3 && !memcmp(buf, "new", 3),
	      "fd: a write is not seen at sub/linkremap.b");

	int n = open(crt_path("sub/linkremap.n"), O_RDWR);
	CHECK(n >= 0 && same_inode(n, "sub/linkremap.n"), "mapped: sub/linkremap.n");
	ok = 1;
	for (long i = 0; i < 2 * PG; i++)
		ok = ok && (unsigned char)m[i] == pat(2, i);
	CHECK(ok, "mapped: contents");
	memcpy(m + PG, "through", 7);
	CHECK(n >= 0 && pread(n, buf, 7, PG) == 7 && !memcmp(buf, "through", 7), "mapped: a write is not seen at sub/linkremap.n");
	struct stat st;
	CHECK(fstat(n, &st) == 0 && st.st_nlink == 1, "mapped: %ld links", (long)st.st_nlink);

	CHECK(access(crt_path("linkremap.a"), F_OK) && access(crt_path("linkremap.m"), F_OK), "an unlinked name came back");
	CHECK(remaps(".") == 0 && remaps("sub") == 0, "links the dump made left behind");
	return crt_finish();
}
