/* fanotify: fanotify groups and their marks.
 *   g1: FAN_CLASS_NOTIF | FAN_NONBLOCK, events opened O_RDONLY|O_LARGEFILE,
 *       close-on-exec; an inode mark on the work directory for FAN_OPEN
 *       of its children, one on file a for FAN_MODIFY, one on file b
 *       ignoring FAN_OPEN (FAN_MARK_IGNORED_SURV_MODIFY);
 *   g2: FAN_CLASS_NOTIF | FAN_REPORT_FID, blocking, not close-on-exec; a
 *       mount mark on the work directory's mount for FAN_CLOSE_WRITE.
 * Checks: the groups' fdinfo lines (init flags, event flags, every mark
 * with its flags, masks, inode, device, handle or mount id) are those
 * before the dump, the file flags and close-on-exec, and that they still
 * report: opening and writing a gives g1 its FAN_OPEN and FAN_MODIFY (the
 * fds name a, the two may come merged), opening b gives nothing, g1 is empty then (EAGAIN), and
 * closing a after the write gives g2 a FAN_CLOSE_WRITE from this process
 * with a's file handle. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fanotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "crtest.h"

#define MAXLINES 16

/* marks reads the "fanotify" lines of fd's fdinfo, sorted, into buf. */
static void marks(int fd, char *buf, size_t size)
{
	char path[64], line[512], *lines[MAXLINES];
	int n = 0;

	buf[0] = 0;
	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	FILE *f = fopen(path, "r");
	if (!f)
		return;
	while (n < MAXLINES && fgets(line, sizeof(line), f))
		if (!strncmp(line, "fanotify ", 9))
			lines[n++] = strdup(line);
	fclose(f);
	for (int i = 1; i < n; i++)
		for (int j = i; j > 0 && strcmp(lines[j - 1], lines[j]) > 0; j--) {
			char *t = lines[j];
			lines[j] = lines[j - 1];
			lines[j - 1] = t;
		}
	for (int i = 0; i < n; i++) {
		strncat(buf, lines[i], size - strlen(buf) - 1);
		free(lines[i]);
	}
}

static void drain(int fd)
{
	char buf[8192];
	struct pollfd p = {.fd = fd, .events = POLLIN};

	while (poll(&p, 1, 0) == 1 && (p.revents & POLLIN)) {
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n <= 0)
			return;
		for (struct fanotify_event_metadata *m = (void *)buf; FAN_EVENT_OK(m, n); m = FAN_EVENT_NEXT(m, n))
			if (m->fd >= 0)
				close(m->fd);
	}
}

static int is_fanotify(int fd)
{
	char path[64], link[64] = "";

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	return readlink(path, link, sizeof(link) - 1) > 0 && !strcmp(link, "anon_inode:[fanotify]");
}

static const char *fd_path(int fd)
{
	static char link[4096];
	char path[64];

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	ssize_t n = readlink(path, link, sizeof(link) - 1);
	link[n < 0 ? 0 : n] = 0;
	return link;
}

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

int main(int argc, char **argv)
{
	crt_init(argc, argv);
	char *dir = crt_path("fan"), *a = crt_path("fan/a"), *b = crt_path("fan/b");
	if (mkdir(dir, 0755) && errno != EEXIST)
		crt_setup_fail("mkdir: %s", strerror(errno));
	for (char **p = (char *[]){a, b, NULL}; *p; p++) {
		int fd = open(*p, O_CREAT | O_WRONLY | O_TRUNC, 0644);
		if (fd < 0 || write(fd, "x", 1) != 1)
			crt_setup_fail("create %s: %s", *p, strerror(errno));
		close(fd);
	}

	int g1 = fanotify_init(FAN_CLASS_NOTIF | FAN_NONBLOCK, O_RDONLY | O_LARGEFILE | O_CLOEXEC);
	int g2 = fanotify_init(FAN_CLASS_NOTIF | FAN_REPORT_FID, O_RDONLY);
	if (g1 < 0 || g2 < 0)
		crt_setup_fail("fanotify_init: %s", strerror(errno));
	if (fcntl(g1, F_SETFD, FD_CLOEXEC))
		crt_setup_fail("F_SETFD: %s", strerror(errno));
	if (fanotify_mark(g1, FAN_MARK_ADD, FAN_OPEN | FAN_EVENT_ON_CHILD, AT_FDCWD, dir) ||
	    fanotify_mark(g1, FAN_MARK_ADD, FAN_MODIFY, AT_FDCWD, a) ||
	    fanotify_mark(g1, FAN_MARK_ADD | FAN_MARK_IGNORED_MASK | FAN_MARK_IGNORED_SURV_MODIFY, FAN_OPEN, AT_FDCWD, b))
		crt_setup_fail("fanotify_mark g1: %s", strerror(errno));
	if (fanotify_mark(g2, FAN_MARK_ADD | FAN_MARK_MOUNT, FAN_CLOSE_WRITE, AT_FDCWD, dir))
		crt_setup_fail("fanotify_mark g2: %s", strerror(errno));

	struct {
		struct file_handle h;
		unsigned char bytes[MAX_HANDLE_SZ];
	} ha;
	int mnt;
	ha.h.handle_bytes = MAX_HANDLE_SZ;
	if (name_to_handle_at(AT_FDCWD, a, &ha.h, &mnt, 0))
		crt_setup_fail("name_to_handle_at: %s", strerror(errno));

	static char m1[8192], m2[8192], n1[8192], n2[8192];
	marks(g1, m1, sizeof(m1));
	marks(g2, m2, sizeof(m2));
	if (!strstr(m1, "fanotify ino:") || !strstr(m2, "fanotify mnt_id:"))
		crt_setup_fail("fdinfo shows no marks: %s / %s", m1, m2);
	drain(g1);
	drain(g2);
	crt_ready();
	crt_wait();

	CHECK(is_fanotify(g1) && is_fanotify(g2), "not fanotify groups");
	marks(g1, n1, sizeof(n1));
	marks(g2, n2, sizeof(n2));
	CHECK(!strcmp(m1, n1), "g1 fdinfo:\n%swant\n%s", n1, m1);
	CHECK(!strcmp(m2, n2), "g2 fdinfo:\n%swant\n%s", n2, m2);
	CHECK((fcntl(g1, F_GETFL) & O_NONBLOCK) && !(fcntl(g2, F_GETFL) & O_NONBLOCK), "flags %#x %#x", fcntl(g1, F_GETFL), fcntl(g2, F_GETFL));
	CHECK(fcntl(g1, F_GETFD) == FD_CLOEXEC && fcntl(g2, F_GETFD) == 0, "close-on-exec %d %d", fcntl(g1, F_GETFD), fcntl(g2, F_GETFD));

	drain(g1);
	drain(g2);
	int fb = open(b, O_RDONLY);
	int fa = open(a, O_WRONLY);
	CHECK(fa >= 0 && fb >= 0 && write(fa, "y", 1) == 1, "open and write: %s", strerror(errno));
	close(fb);

	int opens = 0, modifies = 0, others = 0;
	char buf[8192];
	ssize_t n;
	while ((n = read(g1, buf, sizeof(buf))) > 0)
		for (struct fanotify_event_metadata *m = (void *)buf; FAN_EVENT_OK(m, n); m = FAN_EVENT_NEXT(m, n)) {
			const char *p = m->fd >= 0 ? fd_path(m->fd) : "";
			/* The kernel merges the two events of a into one. */
			if (m->pid == getpid() && !strcmp(p, a) && !(m->mask & ~(FAN_OPEN | FAN_MODIFY))) {
				opens += !!(m->mask & FAN_OPEN);
				modifies += !!(m->mask & FAN_MODIFY);
			} else {
				others++;
				fprintf(stderr, "g1 event mask %#llx pid %d %s\n", (unsigned long long)m->mask, m->pid, p);
			}
			if (m->fd >= 0)
				close(m->fd);
		}
	CHECK(n < 0 && errno == EAGAIN, "g1 read: %zd, errno %d, want EAGAIN", n, errno);
	CHECK(opens == 1 && modifies == 1 && others == 0, "g1 events: %d FAN_OPEN of a, %d FAN_MODIFY of a, %d others", opens, modifies, others);

	close(fa);
	int closes = 0;
	for (long long end = now_ms() + 5000; !closes && now_ms() < end;) {
		struct pollfd p = {.fd = g2, .events = POLLIN};
		if (poll(&p, 1, 100) != 1)
			continue;
		n = read(g2, buf, sizeof(buf));
		for (struct fanotify_event_metadata *m = (void *)buf; n > 0 && FAN_EVENT_OK(m, n); m = FAN_EVENT_NEXT(m, n)) {
			struct fanotify_event_info_fid *fid = (void *)(m + 1);
			struct file_handle *h = (void *)fid->handle;
			if (m->pid != getpid() || m->mask != FAN_CLOSE_WRITE || m->event_len < sizeof(*m) + sizeof(*fid) ||
			    fid->hdr.info_type != FAN_EVENT_INFO_TYPE_FID)
				continue;
			if (h->handle_type == ha.h.handle_type && h->handle_bytes == ha.h.handle_bytes &&
			    !memcmp(h->f_handle, ha.h.f_handle, h->handle_bytes))
				closes++;
		}
	}
	CHECK(closes == 1, "g2: %d FAN_CLOSE_WRITE events of a from this process, want 1", closes);
	return crt_finish();
}
