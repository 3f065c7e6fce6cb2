/* treehog: a tree of tasks, each holding MIB MiB of touched anonymous
 * memory with contents of its own, for the dump and restore benchmarks of
 * wide and deep trees; every task checks its pages after restore.
 * Usage: treehog FANOUT DEPTH MIB PIDFILE OUTFILE
 * The root has FANOUT children, each of those FANOUT more, DEPTH levels
 * down: FANOUT 200 DEPTH 1 is a parent and 200 children, FANOUT 10 DEPTH 3
 * is 1 + 10 + 100 + 1000 tasks.
 * Follows memhog's protocol: the root writes its pid (and, on a second
 * line, how many microseconds the whole tree took to fork and fill its
 * memory) to PIDFILE once every task is ready, and waits for SIGTERM.
 * Then every task checks its own pages, passes SIGTERM to its children
 * and waits for them; the root writes PASS, or FAIL and how many tasks
 * failed, to OUTFILE. On SIGUSR1 the root writes every tenth page of its
 * own memory again (same contents) and creates PIDFILE.touched. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t got_term, got_usr1;
static void on_term(int s) { (void)s; got_term = 1; }
static void on_usr1(int s) { (void)s; got_usr1 = 1; }

static size_t size;
static long pg;
static unsigned char *mem;
static long idx; /* the task's number in the tree, 0 for the root */
static int nkids;
static pid_t *kids;

/* Each task's pages differ from each other and from every other task's. */
static unsigned char want(size_t off) { return (unsigned char)(((off / pg) * 31 + idx * 131) % 255) + 1; }
static size_t tag(size_t off) { return off ^ ((size_t)idx << 40); }

static void fill(void)
{
	mem = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		_exit(1);
	for (size_t off = 0; off < size; off += pg) {
		memset(mem + off, want(off), pg);
		*(size_t *)(mem + off) = tag(off);
	}
}

/* check: 0 if this task's pages are intact. */
static int check(void)
{
	for (size_t off = 0; off < size; off += pg)
		if (*(size_t *)(mem + off) != tag(off) || mem[off + pg - 1] != want(off))
			return 1;
	return 0;
}

/* fork_kids forks this task's subtree, depth levels below it; each child
 * becomes a task of the tree and never returns. */
static void fork_kids(int fanout, int depth, int rfd, int wfd)
{
	if (depth == 0)
		return;
	kids = calloc(fanout, sizeof(*kids));
	if (!kids)
		_exit(1);
	/* The tasks are numbered breadth first: child i of task n is
	 * n*fanout + i + 1. */
	long base = idx * fanout + 1;
	for (int i = 0; i < fanout; i++) {
		pid_t p = fork();
		if (p < 0)
			_exit(1);
		if (p == 0) {
			if (rfd >= 0)
				close(rfd);
			free(kids);
			kids = NULL;
			nkids = 0;
			idx = base + i;
			fork_kids(fanout, depth - 1, -1, wfd);
			fill();
			/* One byte to the root: this task is ready. */
			if (write(wfd, "r", 1) != 1)
				_exit(1);
			close(wfd);
			while (!got_term)
				pause();
			int bad = check();
			for (int k = 0; k < nkids; k++)
				kill(kids[k], SIGTERM);
			for (int k = 0; k < nkids; k++) {
				int st;
				if (waitpid(kids[k], &st, 0) != kids[k] || !WIFEXITED(st))
					bad++;
				else
					bad += WEXITSTATUS(st);
			}
			_exit(bad > 250 ? 250 : bad);
		}
		kids[i] = p;
		nkids++;
	}
}

int main(int argc, char **argv)
{
	if (argc < 6)
		return 2;
	int fanout = atoi(argv[1]), depth = atoi(argv[2]);
	size = (size_t)atol(argv[3]) << 20;
	pg = sysconf(_SC_PAGESIZE);
	if (fanout < 1 || depth < 0 || size == 0)
		return 2;
	long total = 0, level = 1;
	for (int d = 0; d < depth; d++) {
		level *= fanout;
		total += level;
	}
	signal(SIGTERM, on_term);
	signal(SIGUSR1, SIG_IGN);
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	int p[2];
	if (pipe(p))
		return 1;
	fork_kids(fanout, depth, p[0], p[1]);
	close(p[1]);
	fill();
	/* Every task writes one byte and closes its end: EOF once all are. */
	long ready = 0;
	char buf[4096];
	ssize_t n;
	while ((n = read(p[0], buf, sizeof(buf))) > 0)
		ready += n;
	close(p[0]);
	if (ready != total) {
		fprintf(stderr, "treehog: %ld of %ld tasks ready\n", ready, total);
		return 1;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	signal(SIGUSR1, on_usr1);
	char tmp[4096];
	snprintf(tmp, sizeof(tmp), "%s.tmp", argv[4]);
	FILE *f = fopen(tmp, "w");
	if (!f)
		return 1;
	fprintf(f, "%d\n%ld\n", getpid(), (long)((t1.tv_sec - t0.tv_sec) * 1000000 + (t1.tv_nsec - t0.tv_nsec) / 1000));
	fclose(f);
	if (rename(tmp, argv[4]))
		return 1;
	while (!got_term) {
		pause();
		if (got_usr1) {
			got_usr1 = 0;
			for (size_t off = 0; off < size; off += 10 * pg)
				mem[off + pg - 1] = want(off);
			char touched[4096];
			snprintf(touched, sizeof(touched), "%s.touched", argv[4]);
			f = fopen(touched, "w");
			if (!f)
				return 1;
			fclose(f);
		}
	}
	long bad = check();
	for (int k = 0; k < nkids; k++)
		kill(kids[k], SIGTERM);
	for (int k = 0; k < nkids; k++) {
		int st;
		if (waitpid(kids[k], &st, 0) != kids[k] || !WIFEXITED(st))
			bad++;
		else
			bad += WEXITSTATUS(st);
	}
	f = fopen(argv[5], "w");
	if (!f)
		return 1;
	if (bad)
		fprintf(f, "FAIL: %ld of %ld tasks found their pages changed or died\n", bad, total + 1);
	else
		fprintf(f, "PASS\n");
	fclose(f);
	return 0;
}
