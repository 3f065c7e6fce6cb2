// Package compel drives the parasite blob of package pie inside a stopped
// task, and injects single syscalls into stopped threads.
//
// Everything goes through a ptrace.Tracer; the thread compel works on
// must be seized (PTRACE_SEIZE, with PTRACE_O_SUSPEND_SECCOMP if the task
// has a seccomp filter) and in a PTRACE_EVENT_STOP, as
// ptrace.Tracer.InterruptWait leaves it. compel leaves it in one again.
//
// # Injecting a syscall
//
// The injector saves the thread's registers and signal mask, blocks all
// its signals, points rip at a syscall instruction with the syscall's
// number and arguments in rax, rdi, rsi, rdx, r10, r8, r9 and orig_rax =
// -1 (so the kernel does not take the new registers for an interrupted
// syscall to restart), and steps it with PTRACE_SYSCALL to the syscall's
// entry and exit stops. The syscall instruction is, in order of choice:
//
//  1. the one the thread stopped right after (rip-2 holds 0f 05: a thread
//     interrupted in a syscall, the common case): nothing is written;
//  2. any 0f 05 in the vDSO (the CPU decodes from rip): nothing is written;
//  3. two bytes written over the code at rip through /proc/PID/mem and put
//     back afterwards (other threads of the task must be stopped then).
//
// Under the session is one primitive, [Inject]: registers in, the two
// syscall-stops, the result out, in one trip to the tracer thread (a
// ptrace.Batch). A caller that owns a syscall instruction in the task and
// leaves the thread in its syscall-exit stop (a restore, which injects
// hundreds of calls per task from its scratch area) uses it directly,
// with a [Site] saying where the instruction is and which stops to pass.
// A syscall that returns -errno is a [*SyscallError], which matches
// [ErrSyscall] and the errno; a thread that dies on the way, [ErrTaskDied].
//
// Putting the thread back writes the saved registers and mask, then, since
// the thread sits in a syscall-exit-stop from which the kernel returns to
// user mode without its syscall-restart logic, sends PTRACE_INTERRUPT and
// PTRACE_CONT: the thread traps into a PTRACE_EVENT_STOP inside
// get_signal before running any instruction. A syscall the thread was
// interrupted in (rax -ERESTARTSYS, -ERESTART_RESTARTBLOCK, ...) is then
// restarted by the kernel when the thread is resumed, as if never stopped.
//
// # The parasite
//
// Infect builds the parasite area in the target with injected syscalls
// (a scratch page holding the memfd's name, memfd_create, munmap of the
// scratch page), maps the memfd in the tracer through /proc/PID/fd, maps it
// in the target (read, write, exec; MAP_SHARED), closes the target's fd
// and copies the blob in. The area, one mapping shared by both sides:
//
//	area+0            area+code          +slotSize          +2*slotSize
//	+-----------------+------------------+------------------+--
//	| parasite code   | slot 0           | slot 1           | ... NumSlots slots
//	| (pie.Parasite,  | ctl 16K | stack  | ctl 16K | stack  |
//	|  page-rounded)  |         |  16K   |         |  16K   |
//	+-----------------+------------------+------------------+--
//
// Each thread that runs the parasite gets a slot: rip = area + entry,
// rdi = its control block, rsp = the top of its stack, all its signals
// blocked, and PTRACE_CONT. The tracer then speaks the protocol of
// package pie through the control block, reading results from its own
// mapping, never with ptrace peeks:
//
//	0      4      8      12     16                    56        64
//	+------+------+------+------+---------------------+---------+--------------+
//	| req  | ack  | cmd  | ret  | args[5]             | dsize|0 | data[dsize]  |
//	+------+------+------+------+---------------------+---------+--------------+
//
//	tracer: cmd, args, data in; req++; futex_wake(req); futex_wait(ack)
//	parasite: wakes on req; runs cmd; ret, data out; ack = req; futex_wake(ack)
//
// While it waits the tracer polls the thread every 20 ms with wait4
// WNOHANG: a parasite that crashes or is killed is reported with
// ErrParasite instead of awaited for good, and its thread is still put
// back (a crash leaves the fatal signal's handler reset to SIG_DFL, as
// the kernel does for any forced signal that is blocked).
//
// To end a session the tracer sends CmdFini; the parasite acknowledges and
// parks in a futex wait; the tracer interrupts the thread into a
// PTRACE_EVENT_STOP and restores it. Cure does this for every thread,
// unmaps the area from the target with an injected munmap and from the
// tracer, and restores the infected thread. /proc/PID/maps and the fd
// table are then as before.
package compel
