/* memrate: this machine's memory copy rate, the limit a dump or restore
 * that copies each page once can approach.
 * Usage: memrate MIB RUNS
 * Touches two buffers of MIB MiB, then memcpy()s one into the other RUNS
 * times on one core, and prints the median and best rate in GB/s
 * (10^9 bytes a second) as "median best". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	if (argc < 3)
		return 2;
	size_t size = (size_t)atol(argv[1]) << 20;
	int runs = atoi(argv[2]);
	if (size == 0 || runs < 1)
		return 2;
	unsigned char *a = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	unsigned char *b = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	double *rate = calloc(runs, sizeof(*rate));
	if (a == MAP_FAILED || b == MAP_FAILED || !rate)
		return 1;
	memset(a, 0x5a, size);
	memset(b, 0xa5, size);
	for (int i = 0; i < runs; i++) {
		struct timespec t0, t1;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		memcpy(b, a, size);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
		rate[i] = (double)size / s / 1e9;
		a[i] ^= 1; /* so that no copy can be skipped as the same again */
	}
	if (b[size / 2] != 0x5a)
		return 1;
	qsort(rate, runs, sizeof(*rate), cmp);
	double med = runs % 2 ? rate[runs / 2] : (rate[runs / 2 - 1] + rate[runs / 2]) / 2;
	printf("%.2f %.2f\n", med, rate[runs - 1]);
	return 0;
}
