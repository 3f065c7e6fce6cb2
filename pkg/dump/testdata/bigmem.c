//go:build ignore

/* bigmem: touches SIZE_MB of private anonymous memory with a pattern,
 * writes its pid to PIDFILE and waits for SIGTERM; then checks the
 * pattern and writes PASS or FAIL to OUTFILE.
 * Usage: bigmem PIDFILE OUTFILE SIZE_MB */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static volatile sig_atomic_t got_term;
static void on_term(int s) { (void)s; got_term = 1; }

int main(int argc, char **argv)
{
	if (argc < 4)
		return 2;
	size_t size = (size_t)atol(argv[3]) << 20;
	unsigned char *m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		return 1;
	for (size_t i = 0; i < size; i += 4096)
		memset(m + i, (int)((i >> 12) * 13 + 1), 4096);
	signal(SIGTERM, on_term);
	char tmp[4096];
	snprintf(tmp, sizeof(tmp), "%s.tmp", argv[1]);
	FILE *f = fopen(tmp, "w");
	fprintf(f, "%d\n", getpid());
	fclose(f);
	rename(tmp, argv[1]);
	while (!got_term)
		pause();
	int ok = 1;
	for (size_t i = 0; i < size; i += 4096)
		if (m[i] != (unsigned char)((i >> 12) * 13 + 1) || m[i + 4095] != m[i])
			ok = 0;
	f = fopen(argv[2], "w");
	fprintf(f, "%s\n", ok ? "PASS" : "FAIL: pattern");
	fclose(f);
	return !ok;
}
