/* memhog: holds N MiB of touched anonymous memory for the dump and restore
 * benchmarks, and checks every page after restore.
 * Usage: memhog MIB PIDFILE OUTFILE
 * Follows the C/R test protocol: writes its pid when ready, waits for
 * SIGTERM, then writes PASS or FAIL to OUTFILE. On SIGUSR1 it writes
 * every tenth page again (same contents) and then creates PIDFILE.touched,
 * for the incremental dump benchmark. PIDFILE also gets, on a second line,
 * how many microseconds the first write of the memory took (a page fault
 * per page on fresh memory): how noisy this machine's memory is today. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t got_term, got_usr1;
static void on_term(int s) { (void)s; got_term = 1; }
static void on_usr1(int s) { (void)s; got_usr1 = 1; }

int main(int argc, char **argv)
{
	if (argc < 4)
		return 2;
	size_t size = (size_t)atol(argv[1]) << 20;
	long pg = sysconf(_SC_PAGESIZE);
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	unsigned char *m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		return 1;
	/* Every page differs, so a page restored at the wrong place shows. */
	for (size_t off = 0; off < size; off += pg) {
		memset(m + off, (int)((off / pg) * 31 % 255) + 1, pg);
		*(size_t *)(m + off) = off;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	signal(SIGTERM, on_term);
	signal(SIGUSR1, on_usr1);
	char tmp[4096];
	snprintf(tmp, sizeof(tmp), "%s.tmp", argv[2]);
	FILE *f = fopen(tmp, "w");
	if (!f)
		return 1;
	fprintf(f, "%d\n%ld\n", getpid(), (long)((t1.tv_sec - t0.tv_sec) * 1000000 + (t1.tv_nsec - t0.tv_nsec) / 1000));
	fclose(f);
	if (rename(tmp, argv[2]))
		return 1;
	f = NULL;
	while (!got_term) {
		pause();
		if (got_usr1) {
			got_usr1 = 0;
			for (size_t off = 0; off < size; off += 10 * pg)
				m[off + pg - 1] = (unsigned char)((off / pg) * 31 % 255) + 1;
			char touched[4096];
			snprintf(touched, sizeof(touched), "%s.touched", argv[2]);
			f = fopen(touched, "w");
			if (!f)
				return 1;
			fclose(f);
		}
	}
	const char *res = "PASS";
	for (size_t off = 0; off < size; off += pg) {
		unsigned char want = (unsigned char)((off / pg) * 31 % 255) + 1;
		if (*(size_t *)(m + off) != off || m[off + pg - 1] != want) {
			res = "FAIL: page content differs";
			break;
		}
	}
	f = fopen(argv[3], "w");
	if (!f)
		return 1;
	fprintf(f, "%s\n", res);
	fclose(f);
	return 0;
}
