/* timers: interval timers and POSIX timers.
 *   ITIMER_REAL: 3600 s, interval 3600 s (SIGALRM handler, never fires);
 *   t1: CLOCK_MONOTONIC, SIGRTMIN+5 with value 77, one shot in 1800 s;
 *   t2: CLOCK_REALTIME, SIGRTMIN+6 with value 88, every 20 ms, counted;
 *   t3: CLOCK_BOOTTIME, SIGEV_NONE, created and never armed.
 * Checks: the time left and the interval of each timer; t2 still fires
 * with its value and its id; the timer ids are those the kernel lists in
 * /proc/self/timers. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "crtest.h"

static volatile int alarms, ticks, tick_value, tick_timer;

static void on_alarm(int sig)
{
	(void)sig;
	alarms++;
}

static void on_tick(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)uc;
	ticks++;
	tick_value = si->si_value.sival_int;
	tick_timer = si->si_timerid;
}

static timer_t make_timer(clockid_t clock, int notify, int sig, int value)
{
	struct sigevent ev;
	timer_t t;

	memset(&ev, 0, sizeof(ev));
	ev.sigev_notify = notify;
	ev.sigev_signo = sig;
	ev.sigev_value.sival_int = value;
	if (timer_create(clock, &ev, &t))
		crt_setup_fail("timer_create: %s", strerror(errno));
	return t;
}

static int kernel_id(timer_t t)
{
	return (int)(intptr_t)t;
}

/* Returns how many of the ids are listed in /proc/self/timers and how
 * many timers it lists in all. */
static int listed(const int *ids, int n, int *total)
{
	char line[256];
	int found = 0, id;
	FILE *f = fopen("/proc/self/timers", "r");

	*total = 0;
	while (f && fgets(line, sizeof(line), f)) {
		if (sscanf(line, "ID: %d", &id) != 1)
			continue;
		(*total)++;
		for (int i = 0; i < n; i++)
			found += ids[i] == id;
	}
	if (f)
		fclose(f);
	return found;
}

int main(int argc, char **argv)
{
	crt_init(argc, argv);
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;
	sigaction(SIGALRM, &sa, NULL);
	sa.sa_sigaction = on_tick;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	sigaction(SIGRTMIN + 6, &sa, NULL);

	struct itimerval it = { { 3600, 0 }, { 3600, 0 } };
	if (setitimer(ITIMER_REAL, &it, NULL))
		crt_setup_fail("setitimer: %s", strerror(errno));
	timer_t t1 = make_timer(CLOCK_MONOTONIC, SIGEV_SIGNAL, SIGRTMIN + 5, 77);
	timer_t t2 = make_timer(CLOCK_REALTIME, SIGEV_SIGNAL, SIGRTMIN + 6, 88);
	timer_t t3 = make_timer(CLOCK_BOOTTIME, SIGEV_NONE, 0, 0);
	struct itimerspec one = { { 0, 0 }, { 1800, 0 } }, every = { { 0, 20000000 }, { 0, 20000000 } };
	if (timer_settime(t1, 0, &one, NULL) || timer_settime(t2, 0, &every, NULL))
		crt_setup_fail("timer_settime: %s", strerror(errno));
	while (ticks < 2)
		crt_sleep_ms(5);
	crt_ready();
	crt_wait();

	struct itimerval cur;
	CHECK(!getitimer(ITIMER_REAL, &cur) && cur.it_interval.tv_sec == 3600 && cur.it_interval.tv_usec == 0,
	      "itimer interval %ld.%06ld", (long)cur.it_interval.tv_sec, (long)cur.it_interval.tv_usec);
	CHECK(cur.it_value.tv_sec > 0 && cur.it_value.tv_sec < 3600, "itimer left %ld s", (long)cur.it_value.tv_sec);
	CHECK(alarms == 0, "SIGALRM fired %d times", alarms);

	struct itimerspec s;
	CHECK(!timer_gettime(t1, &s) && s.it_value.tv_sec > 0 && s.it_value.tv_sec < 1800 && s.it_interval.tv_sec == 0 &&
		      s.it_interval.tv_nsec == 0,
	      "t1 left %ld s, interval %ld s", (long)s.it_value.tv_sec, (long)s.it_interval.tv_sec);
	CHECK(!timer_gettime(t2, &s) && s.it_interval.tv_sec == 0 && s.it_interval.tv_nsec == 20000000 &&
		      (s.it_value.tv_sec > 0 || s.it_value.tv_nsec > 0),
	      "t2 interval %ld ns", s.it_interval.tv_nsec);
	CHECK(!timer_gettime(t3, &s) && s.it_value.tv_sec == 0 && s.it_value.tv_nsec == 0, "t3 armed or gone");

	int before = ticks;
	for (int ms = 0; ticks < before + 3 && ms < 10000; ms += 10)
		crt_sleep_ms(10);
	CHECK(ticks >= before + 3, "t2 stopped firing (%d ticks)", ticks - before);
	CHECK(tick_value == 88 && tick_timer == kernel_id(t2), "t2 signal value %d timer %d", tick_value, tick_timer);

	int ids[] = { kernel_id(t1), kernel_id(t2), kernel_id(t3) }, total;
	int found = listed(ids, 3, &total);
	CHECK(found == 3 && total == 3, "/proc/self/timers lists %d timers, %d of ours", total, found);
	return crt_finish();
}
