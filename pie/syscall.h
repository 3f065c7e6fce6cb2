//go:build ignore

/* Raw x86_64 Linux system calls for the freestanding parasite: no libc. */
#ifndef CRIUGO_PIE_SYSCALL_H
#define CRIUGO_PIE_SYSCALL_H

#define NR_brk              12
#define NR_rt_sigaction     13
#define NR_getitimer        36
#define NR_getpid           39
#define NR_umask            95
#define NR_getpgid          121
#define NR_getsid           124
#define NR_sigaltstack      131
#define NR_personality      135
#define NR_prctl            157
#define NR_gettid           186
#define NR_futex            202
#define NR_timer_gettime    224
#define NR_timer_getoverrun 225
#define NR_tgkill           234
#define NR_rseq             334

#define FUTEX_WAIT 0
#define FUTEX_WAKE 1

#define PR_GET_PDEATHSIG       2
#define PR_GET_DUMPABLE        3
#define PR_GET_CHILD_SUBREAPER 37
#define PR_GET_THP_DISABLE     42
#define PR_GET_SECUREBITS      27
#define PR_GET_TID_ADDRESS     40

#define RSEQ_FLAG_UNREGISTER 1

#define SIGSTOP 19

#define EINVAL 22
#define ENOSPC 28
#define ENOSYS 38

/*
 * The kernel takes arguments in rdi, rsi, rdx, r10, r8, r9, returns in rax
 * and clobbers rcx and r11.
 */
static inline long sys6(long nr, long a1, long a2, long a3, long a4, long a5, long a6)
{
	register long r10 __asm__("r10") = a4;
	register long r8 __asm__("r8") = a5;
	register long r9 __asm__("r9") = a6;
	long ret;

	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"(nr), "D"(a1), "S"(a2), "d"(a3), "r"(r10), "r"(r8), "r"(r9)
			 : "rcx", "r11", "memory");
	return ret;
}

#define sys0(nr)                   sys6(nr, 0, 0, 0, 0, 0, 0)
#define sys1(nr, a)                sys6(nr, (long)(a), 0, 0, 0, 0, 0)
#define sys2(nr, a, b)             sys6(nr, (long)(a), (long)(b), 0, 0, 0, 0)
#define sys3(nr, a, b, c)          sys6(nr, (long)(a), (long)(b), (long)(c), 0, 0, 0)
#define sys4(nr, a, b, c, d)       sys6(nr, (long)(a), (long)(b), (long)(c), (long)(d), 0, 0)
#define sys5(nr, a, b, c, d, e)    sys6(nr, (long)(a), (long)(b), (long)(c), (long)(d), (long)(e), 0)

#endif
