//go:build ignore

/* dirty: memory that changes between a pre-dump and the dump after it.
 * Maps 64 private anonymous pages, page i filled with i+1, and writes
 * "PID ADDR" (ADDR in hex) to PIDFILE. On SIGUSR1 it writes 0xee over
 * pages 3, 10, 11 and 40 (40 by read(2) from a pipe), replaces pages 48-63 by a new mapping at the
 * same place holding the same bytes as before (a remapped region, which
 * no tracking covers), and writes TOUCHED. On SIGTERM it checks all 64
 * pages and writes PASS or FAIL to OUTFILE.
 * Usage: dirty PIDFILE OUTFILE TOUCHED */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define PAGES 64
#define PG 4096

static volatile sig_atomic_t got_term, got_usr1;
static void on_term(int s) { (void)s; got_term = 1; }
static void on_usr1(int s) { (void)s; got_usr1 = 1; }

static int written(int i) { return i == 3 || i == 10 || i == 11 || i == 40; }

static int put(const char *path, const char *s)
{
	char tmp[4096];
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	FILE *f = fopen(tmp, "w");
	if (!f)
		return -1;
	fputs(s, f);
	fclose(f);
	return rename(tmp, path);
}

int main(int argc, char **argv)
{
	if (argc < 4)
		return 2;
	unsigned char *m = mmap(NULL, PAGES * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		return 1;
	for (int i = 0; i < PAGES; i++)
		memset(m + i * PG, i + 1, PG);
	signal(SIGTERM, on_term);
	signal(SIGUSR1, on_usr1);
	char buf[128];
	snprintf(buf, sizeof(buf), "%d %lx\n", getpid(), (unsigned long)m);
	if (put(argv[1], buf))
		return 1;
	int touched = 0;
	while (!got_term) {
		if (got_usr1 && !touched) {
			for (int i = 0; i < PAGES; i++)
				if (written(i) && i != 40)
					memset(m + i * PG, 0xee, PG);
			/* Page 40 is written by the kernel (read from a pipe),
			 * not in user mode: the tracking must see that too. */
			int fds[2];
			static unsigned char ee[PG];
			memset(ee, 0xee, PG);
			if (pipe(fds) || write(fds[1], ee, PG) != PG || read(fds[0], m + 40 * PG, PG) != PG)
				return 1;
			close(fds[0]);
			close(fds[1]);
			if (mmap(m + 48 * PG, 16 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == MAP_FAILED)
				return 1;
			for (int i = 48; i < PAGES; i++)
				memset(m + i * PG, i + 1, PG);
			touched = 1;
			put(argv[3], "1\n");
		}
		usleep(1000);
	}
	for (int i = 0; i < PAGES; i++) {
		int want = written(i) ? 0xee : i + 1;
		for (int j = 0; j < PG; j++)
			if (m[i * PG + j] != want) {
				snprintf(buf, sizeof(buf), "FAIL: page %d byte %d is %#x, want %#x\n", i, j, m[i * PG + j], want);
				put(argv[2], buf);
				return 1;
			}
	}
	put(argv[2], "PASS\n");
	return 0;
}
