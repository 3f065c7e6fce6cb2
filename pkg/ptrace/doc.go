// Package ptrace is the only package of criugo that issues ptrace requests.
//
// A [Tracer] owns one goroutine locked for good to an OS thread that is not
// the process's main thread. The kernel ties a tracee to the thread that
// seized it: a request from any other thread fails with ESRCH. So every
// request of a Tracer (seize, interrupt, wait, registers, signal masks,
// siginfo queues, seccomp filters, rseq, resume, detach) is a closure sent
// over a channel and run on that thread, one at a time:
//
//	caller goroutines              tracer goroutine (LockOSThread, never unlocked)
//	  t.GetRegs(tid) ---- func() ---->  ptrace(PTRACE_GETREGSET, tid, ...)
//	                <--- result -----
//
// Each request is a trip between threads. [Tracer.Batch] runs a sequence
// of requests in one trip: an injected syscall (set registers, resume to
// the entry and the exit stop, read registers) then costs one trip, not
// six.
//
// When the Tracer is closed its thread exits, and the kernel detaches any
// tracee still attached to it.
//
// Stops are read with wait4(tid, __WALL) and decoded into a [Stop]:
//
//	wait status          with PTRACE_SEIZE               Kind
//	exited / signaled    -                               Exited / Killed
//	stopped, sig|0x80    PTRACE_O_TRACESYSGOOD           SyscallStop
//	stopped, event 128   PTRACE_EVENT_STOP, SIGTRAP      InterruptStop (PTRACE_INTERRUPT)
//	stopped, event 128   PTRACE_EVENT_STOP, stop signal  GroupStop
//	stopped, event N     other PTRACE_EVENT_*            EventStop
//	stopped, sig         -                               SignalStop (signal-delivery-stop)
//
// Tracee memory is read and written in bulk with process_vm_readv and
// process_vm_writev ([ReadMem], [WriteMem]); these need no tracer thread.
// [PokeText] writes through /proc/PID/mem, which may write read-only
// mappings as a debugger's breakpoint does.
//
// Every failed request returns an [*Error] that matches both [ErrRequest]
// and the errno behind it: errors.Is(err, unix.ESRCH) works.
package ptrace
