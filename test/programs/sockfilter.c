/* sockfilter: classic BPF filters attached with SO_ATTACH_FILTER.
 *   dp:  a unix datagram socketpair; dp[1] has a filter that lets only
 *        messages starting with 'A' through (a load, a jump with both
 *        branches, two returns), and holds one such message queued;
 *   us:  a UDP socket bound on loopback with a longer filter (loads,
 *        arithmetic, jumps whose jt and jf are both not zero) that keeps
 *        datagrams whose first payload byte is odd, truncated to 3
 *        payload bytes;
 *   sp:  a unix stream socketpair, sp[0] with a filter that accepts all.
 * Checks: SO_GET_FILTER gives back each program instruction for
 * instruction (code, jt, jf, k), the queued message, and that each filter
 * still acts: dp[1] drops what does not start with 'A', us drops an even
 * first byte and truncates the rest, sp[0] passes data. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/filter.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "crtest.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* Only messages whose first byte is 'A'. */
static struct sock_filter only_a[] = {
	BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 0),
	BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 'A', 0, 1),
	BPF_STMT(BPF_RET | BPF_K, 0xffff),
	BPF_STMT(BPF_RET | BPF_K, 0),
};

/* UDP: the packet starts at the UDP header (8 bytes); byte 8 is the
 * payload's first. Odd first byte: keep 8+3 bytes; even: drop. */
static struct sock_filter odd_first[] = {
	BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 8),
	BPF_STMT(BPF_ALU | BPF_AND | BPF_K, 1),
	BPF_STMT(BPF_MISC | BPF_TAX, 0),
	BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 1, 2, 3),
	BPF_STMT(BPF_RET | BPF_K, 0x7777), /* never reached */
	BPF_STMT(BPF_RET | BPF_K, 0x6666), /* never reached */
	BPF_STMT(BPF_RET | BPF_K, 8 + 3),
	BPF_STMT(BPF_RET | BPF_K, 0),
};

static struct sock_filter accept_all[] = {
	BPF_STMT(BPF_RET | BPF_K, 0xffffffff),
};

static void attach(int fd, struct sock_filter *f, int n)
{
	struct sock_fprog p = {.len = (unsigned short)n, .filter = f};

	if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &p, sizeof(p)))
		crt_setup_fail("SO_ATTACH_FILTER: %s", strerror(errno));
}

/* same_filter says whether fd's filter is want, instruction for
 * instruction. */
static int same_filter(int fd, struct sock_filter *want, int n)
{
	struct sock_filter got[64];
	socklen_t len = 0;

	if (getsockopt(fd, SOL_SOCKET, SO_GET_FILTER, NULL, &len) || (int)len != n)
		return 0;
	if (getsockopt(fd, SOL_SOCKET, SO_GET_FILTER, got, &len) || (int)len != n)
		return 0;
	for (int i = 0; i < n; i++)
		if (got[i].code != want[i].code || got[i].jt != want[i].jt || got[i].jf != want[i].jf ||
		    got[i].k != want[i].k)
			return 0;
	return 1;
}

static int recv_is(int fd, const char *want, int n)
{
	char buf[64];
	int got = (int)recv(fd, buf, sizeof(buf), MSG_DONTWAIT);

	return got == n && !memcmp(buf, want, n);
}

static int empty(int fd)
{
	char c;

	errno = 0;
	return recv(fd, &c, 1, MSG_DONTWAIT) < 0 && errno == EAGAIN;
}

int main(int argc, char **argv)
{
	crt_init(argc, argv);
	int dp[2], sp[2];
	if (socketpair(AF_UNIX, SOCK_DGRAM, 0, dp) || socketpair(AF_UNIX, SOCK_STREAM, 0, sp))
		crt_setup_fail("socketpair: %s", strerror(errno));
	attach(dp[1], only_a, N(only_a));
	if (write(dp[0], "Aqueued", 7) != 7 || write(dp[0], "Bdropped", 8) != 8)
		crt_setup_fail("write dp: %s", strerror(errno));
	attach(sp[0], accept_all, N(accept_all));

	int us = socket(AF_INET, SOCK_DGRAM, 0), uc = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t sl = sizeof(sa);
	if (us < 0 || uc < 0 || bind(us, (struct sockaddr *)&sa, sizeof(sa)) ||
	    getsockname(us, (struct sockaddr *)&sa, &sl) || connect(uc, (struct sockaddr *)&sa, sizeof(sa)))
		crt_setup_fail("udp: %s", strerror(errno));
	attach(us, odd_first, N(odd_first));
	if (!same_filter(dp[1], only_a, N(only_a)) || !same_filter(us, odd_first, N(odd_first)))
		crt_setup_fail("SO_GET_FILTER does not give the filter back");
	crt_ready();
	crt_wait();

	CHECK(same_filter(dp[1], only_a, N(only_a)), "unix datagram socket's filter changed");
	CHECK(same_filter(us, odd_first, N(odd_first)), "UDP socket's filter changed");
	CHECK(same_filter(sp[0], accept_all, N(accept_all)), "unix stream socket's filter changed");
	CHECK(recv_is(dp[1], "Aqueued", 7), "queued message lost");
	CHECK(empty(dp[1]), "the filtered-out message is there");
	CHECK(write(dp[0], "Bno", 3) == 3 && empty(dp[1]), "unix filter lets a 'B' message through");
	CHECK(write(dp[0], "Ayes", 4) == 4 && recv_is(dp[1], "Ayes", 4), "unix filter drops an 'A' message");
	CHECK(write(uc, "\x02even", 5) == 5 && write(uc, "\x03odd", 4) == 4, "send UDP: %s", strerror(errno));
	crt_sleep_ms(50);
	CHECK(recv_is(us, "\x03od", 3), "UDP filter: the odd datagram is not there, truncated to 3 bytes");
	CHECK(empty(us), "UDP filter lets the even datagram through");
	CHECK(write(sp[1], "data", 4) == 4 && recv_is(sp[0], "data", 4), "unix stream with its filter carries no data");
	return crt_finish();
}
