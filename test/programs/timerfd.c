/* timerfd: timer descriptors.
 *   t1: CLOCK_MONOTONIC, periodic 20 ms, O_NONBLOCK | close-on-exec;
 *   t2: CLOCK_REALTIME, one-shot 1000 s away;
 *   t3: CLOCK_BOOTTIME, never armed;
 *   t4: CLOCK_MONOTONIC, one-shot that expired once, not read, O_NONBLOCK.
 * Checks: the clocks (fdinfo), flags, settings (timerfd_gettime), that t1
 * still ticks, that t4 still holds its tick and nothing more. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "crtest.h"

static int fdinfo_clock(int fd)
{
	char path[64], line[256];
	int c = -1;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "clockid: %d", &c) == 1)
			break;
	fclose(f);
	return c;
}

static int arm(int fd, long value_ms, long interval_ms)
{
	struct itimerspec it = {
		.it_value = {value_ms / 1000, value_ms % 1000 * 1000000},
		.it_interval = {interval_ms / 1000, interval_ms % 1000 * 1000000},
	};
	return timerfd_settime(fd, 0, &it, NULL);
}

int main(int argc, char **argv)
{
	crt_init(argc, argv);
	int t1 = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	int t2 = timerfd_create(CLOCK_REALTIME, 0);
	int t3 = timerfd_create(CLOCK_BOOTTIME, 0);
	int t4 = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
	if (t1 < 0 || t2 < 0 || t3 < 0 || t4 < 0)
		crt_setup_fail("timerfd_create: %s", strerror(errno));
	if (arm(t1, 20, 20) || arm(t2, 1000 * 1000, 0) || arm(t4, 1, 0))
		crt_setup_fail("timerfd_settime: %s", strerror(errno));
	crt_sleep_ms(30);
	crt_ready();
	crt_wait();

	CHECK(fdinfo_clock(t1) == CLOCK_MONOTONIC && fdinfo_clock(t2) == CLOCK_REALTIME &&
		      fdinfo_clock(t3) == CLOCK_BOOTTIME && fdinfo_clock(t4) == CLOCK_MONOTONIC,
	      "clocks %d %d %d %d", fdinfo_clock(t1), fdinfo_clock(t2), fdinfo_clock(t3), fdinfo_clock(t4));
	CHECK((fcntl(t1, F_GETFL) & O_NONBLOCK) && fcntl(t1, F_GETFD) == FD_CLOEXEC, "t1 flags");
	CHECK(!(fcntl(t2, F_GETFL) & O_NONBLOCK) && fcntl(t2, F_GETFD) == 0, "t2 flags");

	struct itimerspec it;
	CHECK(!timerfd_gettime(t1, &it) && it.it_interval.tv_sec == 0 && it.it_interval.tv_nsec == 20000000,
	      "t1 interval %ld.%09ld", (long)it.it_interval.tv_sec, it.it_interval.tv_nsec);
	uint64_t ticks = 0;
	crt_sleep_ms(50);
	CHECK(read(t1, &ticks, sizeof(ticks)) == sizeof(ticks) && ticks >= 1, "t1 does not tick");

	CHECK(!timerfd_gettime(t2, &it) && it.it_value.tv_sec > 900 && it.it_value.tv_sec < 1000 &&
		      it.it_interval.tv_sec == 0 && it.it_interval.tv_nsec == 0,
	      "t2 left %ld s, interval %ld s", (long)it.it_value.tv_sec, (long)it.it_interval.tv_sec);
	CHECK(!timerfd_gettime(t3, &it) && !it.it_value.tv_sec && !it.it_value.tv_nsec && !it.it_interval.tv_sec,
	      "t3 armed");
	ticks = 0;
	CHECK(read(t4, &ticks, sizeof(ticks)) == sizeof(ticks) && ticks == 1, "t4 held %llu ticks, want 1",
	      (unsigned long long)ticks);
	errno = 0;
	CHECK(read(t4, &ticks, sizeof(ticks)) < 0 && errno == EAGAIN, "t4 ticked again (errno %d)", errno);
	return crt_finish();
}
