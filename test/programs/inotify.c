/* inotify: watches.
 *   in: O_NONBLOCK | close-on-exec, watching the directory "watched"
 *       (IN_CREATE | IN_DELETE) and the file "watched.file" (IN_MODIFY);
 *   in2: blocking, watching "watched" for IN_ATTRIB only.
 * Checks: the watch descriptors are the same (adding a watch again returns
 * it), creating a file and writing the watched file give the events with
 * those descriptors, and nothing else is queued. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crtest.h"

/* next reads one event; returns its wd (-1 when none) and mask. */
static int next(int in, uint32_t *mask, char *name, size_t n)
{
	static char buf[4096] __attribute__((aligned(8)));
	static int len, off;

	if (off >= len) {
		len = (int)read(in, buf, sizeof(buf));
		off = 0;
		if (len <= 0)
			return -1;
	}
	struct inotify_event *e = (struct inotify_event *)(buf + off);
	off += sizeof(*e) + e->len;
	*mask = e->mask;
	if (name) {
		strncpy(name, e->len ? e->name : "", n - 1);
		name[n - 1] = 0;
	}
	return e->wd;
}

int main(int argc, char **argv)
{
	crt_init(argc, argv);
	char *dir = crt_path("watched"), *file = crt_path("watched.file"), *made = crt_path("watched/made");
	unlink(made);
	rmdir(dir);
	if (mkdir(dir, 0755))
		crt_setup_fail("mkdir: %s", strerror(errno));
	int fd = open(file, O_CREAT | O_TRUNC | O_WRONLY, 0644);
	if (fd < 0)
		crt_setup_fail("create: %s", strerror(errno));
	close(fd);
	int in = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	int in2 = inotify_init1(0);
	if (in < 0 || in2 < 0)
		crt_setup_fail("inotify_init1: %s", strerror(errno));
	int wd1 = inotify_add_watch(in, dir, IN_CREATE | IN_DELETE);
	int wd2 = inotify_add_watch(in, file, IN_MODIFY);
	int wd3 = inotify_add_watch(in2, dir, IN_ATTRIB);
	if (wd1 < 0 || wd2 < 0 || wd3 < 0)
		crt_setup_fail("inotify_add_watch: %s", strerror(errno));
	crt_ready();
	crt_wait();

	CHECK((fcntl(in, F_GETFL) & O_NONBLOCK) && fcntl(in, F_GETFD) == FD_CLOEXEC, "in flags");
	CHECK(!(fcntl(in2, F_GETFL) & O_NONBLOCK) && fcntl(in2, F_GETFD) == 0, "in2 flags");
	uint32_t mask = 0;
	errno = 0;
	CHECK(next(in, &mask, NULL, 0) < 0 && errno == EAGAIN, "events queued before any change");
	CHECK(inotify_add_watch(in, dir, IN_CREATE | IN_DELETE) == wd1, "directory watch is not wd %d", wd1);
	CHECK(inotify_add_watch(in, file, IN_MODIFY) == wd2, "file watch is not wd %d", wd2);
	CHECK(inotify_add_watch(in2, dir, IN_ATTRIB) == wd3, "in2 watch is not wd %d", wd3);

	fd = open(made, O_CREAT | O_WRONLY, 0644);
	CHECK(fd >= 0, "create in watched: %s", strerror(errno));
	close(fd);
	char name[NAME_MAX + 1] = "";
	int wd = next(in, &mask, name, sizeof(name));
	CHECK(wd == wd1 && mask == IN_CREATE && !strcmp(name, "made"), "create event: wd %d mask %#x name %s", wd, mask,
	      name);
	fd = open(file, O_WRONLY);
	CHECK(fd >= 0 && write(fd, "x", 1) == 1, "write watched file");
	close(fd);
	wd = next(in, &mask, NULL, 0);
	CHECK(wd == wd2 && mask == IN_MODIFY, "modify event: wd %d mask %#x", wd, mask);
	CHECK(!chmod(dir, 0700), "chmod");
	/* in2 blocks: read only what poll says is there. */
	struct pollfd pfd = {.fd = in2, .events = POLLIN};
	wd = poll(&pfd, 1, 2000) == 1 ? next(in2, &mask, name, sizeof(name)) : -1;
	CHECK(wd == wd3 && (mask & IN_ATTRIB), "attrib event on in2: wd %d mask %#x", wd, mask);
	unlink(made);
	return crt_finish();
}
