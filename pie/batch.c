//go:build ignore

/*
 * The batch runner: freestanding code that criu-restore copies into the
 * scratch area of a task under restore and runs on one of its threads to
 * make a list of system calls in one go, where injecting each would cost
 * two ptrace stops. The tracer puts the list (struct batch, protocol.h)
 * in the scratch area, sets rip to batch_entry, rdi to the list and rsp
 * to a stack, and resumes the thread with PTRACE_CONT. The runner makes
 * the calls in order, an argument taken from the result of an earlier
 * call where the list says so, and stops at the first call that fails
 * (-errno) unless that call may fail. It records each result and how many
 * calls ran, then sends its own thread SIGSTOP: the tracer sees the
 * signal-delivery stop and discards the signal.
 *
 * Why SIGSTOP: it cannot be blocked (every signal of a task under restore
 * is) and it has no handler, so delivering it to a tracee changes nothing
 * but its pending SIGCONT, which a task under restore does not have yet
 * (pending signals are queued after the last batch). A trap (int3)
 * raised with SIGTRAP blocked would reset the task's SIGTRAP handler.
 */
#include "protocol.h"
#include "syscall.h"

__asm__(".pushsection .text.batch, \"ax\", @progbits\n"
	".globl batch_entry\n"
	"batch_entry:\n"
	"	andq $-16, %rsp\n"
	"	call batch_main\n"
	"	ud2\n"
	".popsection\n");

void batch_main(struct batch *b) __attribute__((noreturn, used));

void batch_main(struct batch *b)
{
	uint32_t i, n = b->n;

	for (i = 0; i < n; i++) {
		struct batch_call *c = &b->calls[i];
		long a[6];
		long ret;
		int k;

		for (k = 0; k < 6; k++) {
			uint8_t ref = c->ref[k];

			a[k] = (long)c->args[k];
			if (ref && ref <= i)
				a[k] = b->calls[ref - 1].ret;
		}
		ret = sys6((long)c->nr, a[0], a[1], a[2], a[3], a[4], a[5]);
		c->ret = ret;
		if (ret < 0 && ret >= -4095 && !(c->flags & BATCH_MAY_FAIL)) {
			i++;
			break;
		}
	}
	b->done = i;
	sys3(NR_tgkill, sys0(NR_getpid), sys0(NR_gettid), SIGSTOP);
	for (;;)
		__asm__ volatile("ud2");
}
