//go:build ignore

/*
 * The parasite: freestanding code that pkg/compel copies into a stopped
 * task and runs on one of its threads, with all of the thread's signals
 * blocked. It has no data of its own (the linker script refuses any):
 * everything it keeps lives in the control block whose address the tracer
 * puts in rdi, and on the stack the tracer puts in rsp. Several threads may
 * run it at once, each with its own control block and stack.
 *
 * After PCMD_FINI it parks in a futex wait that nothing wakes; the tracer
 * then stops the thread with PTRACE_INTERRUPT and puts its registers back.
 * (It does not end with int3: a trap raised while SIGTRAP is blocked makes
 * the kernel reset the task's SIGTRAP handler to SIG_DFL, a change the
 * task would keep.)
 */
#include "protocol.h"
#include "syscall.h"

#define barrier() __asm__ volatile("" ::: "memory")
#define READ_ONCE(x) (*(volatile __typeof__(x) *)&(x))
#define WRITE_ONCE(x, v) (*(volatile __typeof__(x) *)&(x) = (v))

/*
 * The entry point, first in the blob (the linker script puts .text.entry
 * first). The tracer sets rip here, rdi to the control block and rsp to the
 * top of the stack.
 */
__asm__(".pushsection .text.entry, \"ax\", @progbits\n"
	".globl parasite_entry\n"
	"parasite_entry:\n"
	"	andq $-16, %rsp\n"
	"	call parasite_main\n"
	"	ud2\n"
	".popsection\n");

void parasite_main(struct parasite_ctl *ctl) __attribute__((noreturn, used));

static int need(struct parasite_ctl *ctl, unsigned long size)
{
	return ctl->data_size >= size ? 0 : -ENOSPC;
}

static int cmd_hello(struct parasite_ctl *ctl)
{
	struct pc_hello *h = (struct pc_hello *)ctl->data;

	if (need(ctl, sizeof(*h)))
		return -ENOSPC;
	h->magic = PARASITE_MAGIC;
	h->version = PARASITE_VERSION;
	h->pid = sys0(NR_getpid);
	h->tid = sys0(NR_gettid);
	h->pad = 0;
	return 0;
}

static int get_sigactions(struct pc_sigaction *sa)
{
	int sig;

	for (sig = 1; sig <= 64; sig++) {
		long ret = sys4(NR_rt_sigaction, sig, 0, &sa[sig - 1], 8);

		if (ret)
			return ret;
	}
	return 0;
}

static int get_itimers(struct pc_itimer *it)
{
	int which;

	for (which = 0; which < 3; which++) {
		long ret = sys2(NR_getitimer, which, &it[which]);

		if (ret)
			return ret;
	}
	return 0;
}

static int cmd_posix_timers(struct parasite_ctl *ctl)
{
	struct pc_posix_timer *t = (struct pc_posix_timer *)ctl->data;
	uint64_t n = ctl->args[0], i;

	if (n > ctl->data_size / sizeof(*t))
		return -EINVAL;
	for (i = 0; i < n; i++) {
		long ret = sys2(NR_timer_gettime, t[i].id, &t[i].interval_sec);

		t[i].overrun = 0;
		if (!ret) {
			ret = sys1(NR_timer_getoverrun, t[i].id);
			if (ret >= 0) {
				t[i].overrun = ret;
				ret = 0;
			}
		}
		t[i].ret = ret;
		t[i].pad = 0;
	}
	return 0;
}

static int get_misc(struct pc_misc *m)
{
	int subreaper = 0;
	long ret, mask;

	m->pid = sys0(NR_getpid);
	m->pgid = sys1(NR_getpgid, 0);
	m->sid = sys1(NR_getsid, 0);
	/* umask can only be read by setting it: put the old value back. */
	mask = sys1(NR_umask, 0);
	sys1(NR_umask, mask);
	m->umask = mask;
	/* 0xffffffff asks without changing anything. */
	m->personality = sys1(NR_personality, 0xffffffffUL);
	m->brk = sys1(NR_brk, 0);
	ret = sys5(NR_prctl, PR_GET_DUMPABLE, 0, 0, 0, 0);
	if (ret < 0)
		return ret;
	m->dumpable = ret;
	ret = sys5(NR_prctl, PR_GET_THP_DISABLE, 0, 0, 0, 0);
	if (ret < 0)
		return ret;
	m->thp_disabled = ret;
	ret = sys5(NR_prctl, PR_GET_CHILD_SUBREAPER, &subreaper, 0, 0, 0);
	if (ret < 0)
		return ret;
	m->child_subreaper = subreaper;
	if (m->pgid < 0)
		return m->pgid;
	if (m->sid < 0)
		return m->sid;
	return 0;
}

static int get_thread(struct pc_thread *th)
{
	int pdeath = 0;
	long ret;

	th->tid = sys0(NR_gettid);
	ret = sys5(NR_prctl, PR_GET_PDEATHSIG, &pdeath, 0, 0, 0);
	if (ret < 0)
		return ret;
	th->pdeath_sig = pdeath;
	th->pad = 0;
	ret = sys2(NR_prctl, PR_GET_TID_ADDRESS, &th->tid_addr);
	if (ret < 0)
		return ret;
	ret = sys1(NR_prctl, PR_GET_SECUREBITS);
	if (ret < 0)
		return ret;
	th->securebits = ret;
	th->pad2 = 0;
	/* stack_t has the same layout as ss_sp, ss_flags, pad, ss_size. */
	return sys2(NR_sigaltstack, 0, &th->ss_sp);
}

static int cmd_sigactions(struct parasite_ctl *ctl)
{
	if (need(ctl, 64 * sizeof(struct pc_sigaction)))
		return -ENOSPC;
	return get_sigactions((struct pc_sigaction *)ctl->data);
}

static int cmd_itimers(struct parasite_ctl *ctl)
{
	if (need(ctl, 3 * sizeof(struct pc_itimer)))
		return -ENOSPC;
	return get_itimers((struct pc_itimer *)ctl->data);
}

static int cmd_misc(struct parasite_ctl *ctl)
{
	if (need(ctl, sizeof(struct pc_misc)))
		return -ENOSPC;
	return get_misc((struct pc_misc *)ctl->data);
}

static int cmd_thread(struct parasite_ctl *ctl)
{
	if (need(ctl, sizeof(struct pc_thread)))
		return -ENOSPC;
	return get_thread((struct pc_thread *)ctl->data);
}

/* PCMD_TASK: what PCMD_SIGACTIONS, PCMD_ITIMERS, PCMD_MISC and PCMD_THREAD
 * report, in one round trip. */
static int cmd_task(struct parasite_ctl *ctl)
{
	struct pc_task *t = (struct pc_task *)ctl->data;
	int ret;

	if (need(ctl, sizeof(*t)))
		return -ENOSPC;
	ret = get_sigactions(t->sigactions);
	if (!ret)
		ret = get_itimers(t->itimers);
	if (!ret)
		ret = get_misc(&t->misc);
	if (!ret)
		ret = get_thread(&t->thread);
	return ret;
}

static int cmd_rseq_unregister(struct parasite_ctl *ctl)
{
	return sys4(NR_rseq, ctl->args[0], ctl->args[1], RSEQ_FLAG_UNREGISTER, ctl->args[2]);
}

static int dispatch(struct parasite_ctl *ctl)
{
	switch (ctl->cmd) {
	case PCMD_HELLO:
		return cmd_hello(ctl);
	case PCMD_FINI:
		return 0;
	case PCMD_SIGACTIONS:
		return cmd_sigactions(ctl);
	case PCMD_ITIMERS:
		return cmd_itimers(ctl);
	case PCMD_POSIX_TIMERS:
		return cmd_posix_timers(ctl);
	case PCMD_MISC:
		return cmd_misc(ctl);
	case PCMD_THREAD:
		return cmd_thread(ctl);
	case PCMD_RSEQ_UNREGISTER:
		return cmd_rseq_unregister(ctl);
	case PCMD_TASK:
		return cmd_task(ctl);
	}
	return -ENOSYS;
}

void parasite_main(struct parasite_ctl *ctl)
{
	uint32_t seen = READ_ONCE(ctl->ack);

	for (;;) {
		uint32_t req;
		int fini;

		while ((req = READ_ONCE(ctl->req)) == seen)
			sys4(NR_futex, &ctl->req, FUTEX_WAIT, seen, 0);
		seen = req;
		barrier();
		fini = READ_ONCE(ctl->cmd) == PCMD_FINI;
		WRITE_ONCE(ctl->ret, dispatch(ctl));
		barrier();
		WRITE_ONCE(ctl->ack, seen);
		sys3(NR_futex, &ctl->ack, FUTEX_WAKE, 1);
		if (fini)
			break;
	}
	/* Park: ack no longer changes, so this waits until the tracer stops us. */
	for (;;)
		sys4(NR_futex, &ctl->ack, FUTEX_WAIT, seen, 0);
}
