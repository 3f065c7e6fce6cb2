/* unixdel: unix sockets whose file is gone.
 *   lst: a stream listener bound to "gone/lst.sock" (relative, from the
 *        work directory, made current); c1 connected and accepted as a1,
 *        "hello" queued at a1; then the socket file and the directory
 *        "gone" were removed;
 *   srv: a datagram socket bound to <workdir>/del.sock (absolute), "ping"
 *        queued from cli, connected to it; then the file was unlinked.
 * Checks: the names the sockets report, that neither the directory nor
 * the file is there again, the queued data, the connections carrying new
 * data, the listener still listening. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "crtest.h"

static int recv_str(int fd, const char *want)
{
	char buf[64];
	int n = (int)recv(fd, buf, sizeof(buf), MSG_DONTWAIT);

	return n == (int)strlen(want) && !memcmp(buf, want, n);
}

static int gone(const char *path)
{
	struct stat st;

	return lstat(path, &st) < 0 && errno == ENOENT;
}

int main(int argc, char **argv)
{
	crt_init(argc, argv);
	if (chdir(crt_workdir))
		crt_setup_fail("chdir: %s", strerror(errno));
	unlink("gone/lst.sock");
	rmdir("gone");
	if (mkdir("gone", 0700))
		crt_setup_fail("mkdir: %s", strerror(errno));
	struct sockaddr_un la = {.sun_family = AF_UNIX, .sun_path = "gone/lst.sock"};
	int lst = socket(AF_UNIX, SOCK_STREAM, 0), c1 = socket(AF_UNIX, SOCK_STREAM, 0);
	if (lst < 0 || c1 < 0 || bind(lst, (struct sockaddr *)&la, sizeof(la)) || listen(lst, 4) ||
	    connect(c1, (struct sockaddr *)&la, sizeof(la)))
		crt_setup_fail("listener: %s", strerror(errno));
	int a1 = accept(lst, NULL, NULL);
	if (a1 < 0 || write(c1, "hello", 5) != 5)
		crt_setup_fail("accept: %s", strerror(errno));
	if (unlink("gone/lst.sock") || rmdir("gone"))
		crt_setup_fail("remove gone: %s", strerror(errno));

	struct sockaddr_un da = {.sun_family = AF_UNIX};
	snprintf(da.sun_path, sizeof(da.sun_path), "%s/del.sock", crt_workdir);
	unlink(da.sun_path);
	int srv = socket(AF_UNIX, SOCK_DGRAM, 0), cli = socket(AF_UNIX, SOCK_DGRAM, 0);
	if (srv < 0 || cli < 0 || bind(srv, (struct sockaddr *)&da, sizeof(da)) ||
	    connect(cli, (struct sockaddr *)&da, sizeof(da)) || write(cli, "ping", 4) != 4)
		crt_setup_fail("datagram: %s", strerror(errno));
	if (unlink(da.sun_path))
		crt_setup_fail("unlink: %s", strerror(errno));
	crt_ready();
	crt_wait();

	struct sockaddr_un got;
	socklen_t gl = sizeof(got);
	CHECK(!getsockname(lst, (struct sockaddr *)&got, &gl) && !strcmp(got.sun_path, "gone/lst.sock"),
	      "listener name %s", got.sun_path);
	gl = sizeof(got);
	CHECK(!getsockname(srv, (struct sockaddr *)&got, &gl) && !strcmp(got.sun_path, da.sun_path),
	      "datagram socket name %s", got.sun_path);
	CHECK(gone("gone"), "the removed directory is back");
	CHECK(gone(da.sun_path), "the unlinked socket file is back");
	int acc = 0;
	socklen_t al = sizeof(acc);
	CHECK(!getsockopt(lst, SOL_SOCKET, SO_ACCEPTCONN, &acc, &al) && acc, "listener does not listen");
	CHECK(recv_str(a1, "hello"), "queued data of the accepted connection");
	CHECK(write(a1, "back", 4) == 4 && recv_str(c1, "back"), "accepted connection does not answer");
	CHECK(recv_str(srv, "ping"), "queued datagram");
	CHECK(write(cli, "pong", 4) == 4 && recv_str(srv, "pong"), "datagram socket lost its peer");
	return crt_finish();
}
