/* loop: the simplest C/R test. A counter goes up every 100 ms and is
 * written to <workdir>/loop.cnt (pwrite at offset 0).
 * Checks: the file holds the in-memory counter, and the counter still goes
 * up (the process runs and its timer sleep works). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crtest.h"

static int fd;
static unsigned long counter;

static void step(void)
{
	char buf[32];
	int n;

	counter++;
	n = snprintf(buf, sizeof(buf), "%lu\n", counter);
	if (pwrite(fd, buf, n, 0) != n)
		crt_setup_fail("write counter: %s", strerror(errno));
}

static unsigned long file_value(void)
{
	char buf[32] = "";

	if (pread(fd, buf, sizeof(buf) - 1, 0) <= 0)
		return 0;
	return strtoul(buf, NULL, 10);
}

int main(int argc, char **argv)
{
	crt_init(argc, argv);
	fd = open(crt_path("loop.cnt"), O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		crt_setup_fail("open loop.cnt: %s", strerror(errno));
	step();
	crt_ready();

	while (!crt_term) {
		usleep(100 * 1000);
		step();
	}

	unsigned long before = counter;
	CHECK(before > 0 && file_value() == before, "file holds %lu, counter is %lu", file_value(), before);
	for (int i = 0; i < 3; i++) {
		crt_sleep_ms(100);
		step();
	}
	CHECK(counter == before + 3 && file_value() == counter, "counter %lu after 3 steps from %lu, file %lu",
	      counter, before, file_value());
	return crt_finish();
}
