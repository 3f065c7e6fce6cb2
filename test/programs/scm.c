/* scm: file descriptors in flight (SCM_RIGHTS) in unix socket queues.
 *   sp:  a stream socketpair; "pipe" queued at sp[1] with the read end of
 *        a pipe holding "through the pipe" (the program closed its own
 *        copy: the file is only in flight), then "plain" without fds;
 *   dp:  a datagram socketpair; "file" queued at dp[1] with an fd of
 *        scm.data opened at offset 5, the program keeping the same open
 *        file as fd ff;
 *   qp:  a seqpacket socketpair; "two" queued at qp[1] with an eventfd at
 *        42 and one end of another socketpair (closed here, its peer kept
 *        as pk) in one message, then "one" with a dup of the eventfd.
 * Checks: data and fd counts of every message in order; the pipe gives
 * its data; the file fd is the open file ff is (a seek on one moves the
 * other) and reads what follows offset 5; the eventfd counts 42 and both
 * eventfd fds are one file; the passed socket talks with pk. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crtest.h"

static void send_fds(int sk, const char *data, int *fds, int n)
{
	char cbuf[CMSG_SPACE(sizeof(int) * 4)];
	struct iovec iov = {.iov_base = (void *)data, .iov_len = strlen(data)};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};

	if (n > 0) {
		memset(cbuf, 0, sizeof(cbuf));
		mh.msg_control = cbuf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * n);
		struct cmsghdr *ch = CMSG_FIRSTHDR(&mh);
		ch->cmsg_level = SOL_SOCKET;
		ch->cmsg_type = SCM_RIGHTS;
		ch->cmsg_len = CMSG_LEN(sizeof(int) * n);
		memcpy(CMSG_DATA(ch), fds, sizeof(int) * n);
	}
	if (sendmsg(sk, &mh, 0) != (ssize_t)strlen(data))
		crt_setup_fail("sendmsg %s: %s", data, strerror(errno));
}

/* recv_fds receives one message without blocking: it must be want, with
 * n fds, which go to fds. */
static int recv_fds(int sk, const char *want, int *fds, int n)
{
	char buf[64], cbuf[CMSG_SPACE(sizeof(int) * 8)];
	struct iovec iov = {.iov_base = buf, .iov_len = strlen(want)};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf)};
	int got = (int)recvmsg(sk, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);

	if (got != (int)strlen(want) || memcmp(buf, want, got) || (mh.msg_flags & MSG_CTRUNC))
		return 0;
	int k = 0;
	for (struct cmsghdr *ch = CMSG_FIRSTHDR(&mh); ch; ch = CMSG_NXTHDR(&mh, ch)) {
		if (ch->cmsg_level != SOL_SOCKET || ch->cmsg_type != SCM_RIGHTS)
			return 0;
		int m = (int)((ch->cmsg_len - CMSG_LEN(0)) / sizeof(int));
		if (k + m > n)
			return 0;
		memcpy(fds + k, CMSG_DATA(ch), sizeof(int) * m);
		k += m;
	}
	return k == n;
}

static int same_file(int a, int b)
{
	struct stat sa, sb;

	return !fstat(a, &sa) && !fstat(b, &sb) && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

int main(int argc, char **argv)
{
	crt_init(argc, argv);
	int sp[2], dp[2], qp[2], xp[2], pp[2];
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sp) || socketpair(AF_UNIX, SOCK_DGRAM, 0, dp) ||
	    socketpair(AF_UNIX, SOCK_SEQPACKET, 0, qp) || socketpair(AF_UNIX, SOCK_STREAM, 0, xp) || pipe(pp))
		crt_setup_fail("socketpair/pipe: %s", strerror(errno));

	if (write(pp[1], "through the pipe", 16) != 16)
		crt_setup_fail("write pipe: %s", strerror(errno));
	send_fds(sp[0], "pipe", &pp[0], 1);
	close(pp[0]);
	send_fds(sp[0], "plain", NULL, 0);

	int ff = open(crt_path("scm.data"), O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (ff < 0 || write(ff, "0123456789abcdef", 16) != 16 || lseek(ff, 5, SEEK_SET) != 5)
		crt_setup_fail("scm.data: %s", strerror(errno));
	send_fds(dp[0], "file", &ff, 1);

	int ev = eventfd(42, EFD_NONBLOCK);
	if (ev < 0)
		crt_setup_fail("eventfd: %s", strerror(errno));
	int two[2] = {ev, xp[0]};
	send_fds(qp[0], "two", two, 2);
	int evd = dup(ev);
	send_fds(qp[0], "one", &evd, 1);
	close(xp[0]);
	close(evd);
	int pk = xp[1];
	crt_ready();
	crt_wait();

	int fds[2] = {-1, -1};
	char buf[32] = "";
	CHECK(recv_fds(sp[1], "pipe", fds, 1), "stream message with the pipe");
	CHECK(fds[0] >= 0 && read(fds[0], buf, sizeof(buf)) == 16 && !memcmp(buf, "through the pipe", 16),
	      "the pipe in flight lost its data");
	CHECK(fds[0] >= 0 && same_file(fds[0], pp[1]), "the pipe in flight is not the kept write end's");
	CHECK(recv_fds(sp[1], "plain", NULL, 0), "stream message without fds");

	fds[0] = -1;
	CHECK(recv_fds(dp[1], "file", fds, 1), "datagram with the file");
	if (fds[0] >= 0) {
		CHECK(lseek(fds[0], 0, SEEK_CUR) == 5, "file in flight at offset %ld", (long)lseek(fds[0], 0, SEEK_CUR));
		memset(buf, 0, sizeof(buf));
		CHECK(read(fds[0], buf, 3) == 3 && !memcmp(buf, "567", 3), "file in flight reads %.3s", buf);
		CHECK(lseek(ff, 0, SEEK_CUR) == 8, "file in flight does not share its offset with ff");
	}

	fds[0] = fds[1] = -1;
	CHECK(recv_fds(qp[1], "two", fds, 2), "seqpacket message with two fds");
	uint64_t v = 0;
	if (fds[0] >= 0) {
		CHECK(read(fds[0], &v, 8) == 8 && v == 42, "eventfd in flight counts %llu", (unsigned long long)v);
		CHECK(fcntl(fds[0], F_GETFL) & O_NONBLOCK, "eventfd in flight lost O_NONBLOCK");
	}
	if (fds[1] >= 0) {
		CHECK(write(fds[1], "hi", 2) == 2 && recv(pk, buf, 2, MSG_DONTWAIT) == 2 && !memcmp(buf, "hi", 2),
		      "socket in flight does not reach its peer");
		CHECK(write(pk, "yo", 2) == 2 && recv(fds[1], buf, 2, MSG_DONTWAIT) == 2 && !memcmp(buf, "yo", 2),
		      "peer does not reach the socket in flight");
	}
	int one = -1;
	CHECK(recv_fds(qp[1], "one", &one, 1), "seqpacket message with one fd");
	if (one >= 0 && fds[0] >= 0) {
		v = 7;
		CHECK(write(fds[0], &v, 8) == 8 && read(one, &v, 8) == 8 && v == 7, "the two eventfds in flight are not one file");
	}
	unlink(crt_path("scm.data"));
	return crt_finish();
}
