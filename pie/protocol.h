//go:build ignore

/*
 * The protocol between the tracer (pkg/compel) and the parasite, shared
 * with pie/protocol.go, which declares the same structs. Sizes and offsets
 * are checked on both sides against the numbers written here.
 *
 * One control block per thread the parasite runs on, in memory shared by
 * tracer and target (a memfd mapped in both):
 *
 *   0        4        8        12       16                         56       64
 *   +--------+--------+--------+--------+--------------------------+--------+------------------+
 *   |  req   |  ack   |  cmd   |  ret   |  args[5] (u64 each)      |dsize|0 |  data[dsize] ... |
 *   +--------+--------+--------+--------+--------------------------+--------+------------------+
 *
 * req and ack are futex words (not private: the two sides are different
 * processes). To run a command the tracer fills cmd, args and the input part
 * of data, then increments req and wakes it. The parasite runs the command,
 * writes ret (0 or -errno) and its output into data, stores req into ack
 * and wakes ack. The tracer waits until ack equals its req.
 */
#ifndef CRIUGO_PIE_PROTOCOL_H
#define CRIUGO_PIE_PROTOCOL_H

#include <stdint.h>

#define PARASITE_MAGIC   0x6372697567707331ULL /* "criugps1" read big-endian */
#define PARASITE_VERSION 2

enum parasite_cmd {
	PCMD_HELLO = 1,           /* out: struct pc_hello */
	PCMD_FINI = 2,            /* acknowledge, then take no more commands */
	PCMD_SIGACTIONS = 3,      /* out: struct pc_sigaction[64], signal n at n-1 */
	PCMD_ITIMERS = 4,         /* out: struct pc_itimer[3]: REAL, VIRTUAL, PROF */
	PCMD_POSIX_TIMERS = 5,    /* args[0] timers; in/out: struct pc_posix_timer[] */
	PCMD_MISC = 6,            /* out: struct pc_misc (process-wide state) */
	PCMD_THREAD = 7,          /* out: struct pc_thread (this thread's state) */
	PCMD_RSEQ_UNREGISTER = 8, /* args: rseq pointer, length, signature */
	PCMD_TASK = 9,            /* out: struct pc_task, the four above at once */
};

struct parasite_ctl {
	uint32_t req;
	uint32_t ack;
	uint32_t cmd;
	int32_t ret;
	uint64_t args[5];
	uint32_t data_size;
	uint32_t pad;
	uint8_t data[];
};

struct pc_hello {
	uint64_t magic;
	uint32_t version;
	int32_t pid; /* getpid() and gettid() as the target sees them */
	int32_t tid;
	uint32_t pad;
};

/* The kernel's struct sigaction of rt_sigaction on x86_64. */
struct pc_sigaction {
	uint64_t handler;
	uint64_t flags;
	uint64_t restorer;
	uint64_t mask;
};

/* struct itimerval */
struct pc_itimer {
	int64_t interval_sec, interval_usec;
	int64_t value_sec, value_usec;
};

struct pc_posix_timer {
	int32_t id;      /* in: kernel timer id */
	int32_t overrun; /* out: timer_getoverrun() */
	int32_t ret;     /* out: 0 or -errno of timer_gettime/getoverrun */
	int32_t pad;
	int64_t interval_sec, interval_nsec; /* out: struct itimerspec */
	int64_t value_sec, value_nsec;
};

struct pc_misc {
	int32_t pid, pgid, sid;
	uint32_t umask;
	uint32_t personality;
	int32_t dumpable;        /* PR_GET_DUMPABLE */
	int32_t thp_disabled;    /* PR_GET_THP_DISABLE */
	int32_t child_subreaper; /* PR_GET_CHILD_SUBREAPER */
	uint64_t brk;            /* brk(0) */
};

struct pc_thread {
	int32_t tid;
	int32_t pdeath_sig; /* PR_GET_PDEATHSIG */
	uint64_t ss_sp;     /* sigaltstack: stack_t */
	int32_t ss_flags;
	int32_t pad;
	uint64_t ss_size;
	uint64_t tid_addr;  /* PR_GET_TID_ADDRESS: clear_child_tid */
	int32_t securebits; /* PR_GET_SECUREBITS */
	int32_t pad2;
};

/*
 * The batch runner's list (batch.c), in the scratch area of a task under
 * restore: a header, then n calls of 72 bytes each.
 *
 *   0     4      8      16                                          88
 *   +-----+------+------+--------------------------------------------+--
 *   |  n  | done | pad  | call 0: nr | args[6] | ref[6] flags pad | ret | call 1 ...
 *   +-----+------+------+--------------------------------------------+--
 *
 * ref[k] = j (1..n) takes argument k from the result of call j-1, which
 * must come before; 0 takes args[k]. done is how many calls ran: all n,
 * or up to and including the first that failed without BATCH_MAY_FAIL.
 */
#define BATCH_MAY_FAIL 1

struct batch_call {
	uint64_t nr;
	uint64_t args[6];
	uint8_t ref[6];
	uint8_t flags;
	uint8_t pad;
	int64_t ret;
};

struct batch {
	uint32_t n;
	uint32_t done;
	uint64_t pad;
	struct batch_call calls[];
};

/* PCMD_TASK's output: PCMD_SIGACTIONS', PCMD_ITIMERS', PCMD_MISC's and
 * PCMD_THREAD's. */
struct pc_task {
	struct pc_sigaction sigactions[64];
	struct pc_itimer itimers[3];
	struct pc_misc misc;
	struct pc_thread thread;
};

#define PC_CHECK(cond) _Static_assert(cond, #cond)
PC_CHECK(sizeof(struct parasite_ctl) == 64);
PC_CHECK(__builtin_offsetof(struct parasite_ctl, ack) == 4);
PC_CHECK(__builtin_offsetof(struct parasite_ctl, cmd) == 8);
PC_CHECK(__builtin_offsetof(struct parasite_ctl, ret) == 12);
PC_CHECK(__builtin_offsetof(struct parasite_ctl, args) == 16);
PC_CHECK(__builtin_offsetof(struct parasite_ctl, data_size) == 56);
PC_CHECK(__builtin_offsetof(struct parasite_ctl, data) == 64);
PC_CHECK(sizeof(struct pc_hello) == 24);
PC_CHECK(__builtin_offsetof(struct pc_hello, pid) == 12);
PC_CHECK(sizeof(struct pc_sigaction) == 32);
PC_CHECK(sizeof(struct pc_itimer) == 32);
PC_CHECK(sizeof(struct pc_posix_timer) == 48);
PC_CHECK(__builtin_offsetof(struct pc_posix_timer, interval_sec) == 16);
PC_CHECK(sizeof(struct pc_misc) == 40);
PC_CHECK(__builtin_offsetof(struct pc_misc, brk) == 32);
PC_CHECK(sizeof(struct pc_thread) == 48);
PC_CHECK(__builtin_offsetof(struct pc_thread, tid_addr) == 32);
PC_CHECK(__builtin_offsetof(struct pc_thread, securebits) == 40);
PC_CHECK(__builtin_offsetof(struct pc_thread, ss_sp) == 8);
PC_CHECK(__builtin_offsetof(struct pc_thread, ss_size) == 24);
PC_CHECK(sizeof(struct pc_task) == 2232);
PC_CHECK(__builtin_offsetof(struct pc_task, itimers) == 2048);
PC_CHECK(__builtin_offsetof(struct pc_task, misc) == 2144);
PC_CHECK(__builtin_offsetof(struct pc_task, thread) == 2184);
PC_CHECK(sizeof(struct batch_call) == 72);
PC_CHECK(__builtin_offsetof(struct batch_call, ref) == 56);
PC_CHECK(__builtin_offsetof(struct batch_call, flags) == 62);
PC_CHECK(__builtin_offsetof(struct batch_call, ret) == 64);
PC_CHECK(sizeof(struct batch) == 16);
PC_CHECK(__builtin_offsetof(struct batch, done) == 4);

#endif
