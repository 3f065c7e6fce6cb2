package compel

import (
	"fmt"

	"github.com/criugo/criugo/pkg/ptrace"
	"golang.org/x/sys/unix"
)

// x86 facts used by the injector.
const (
	userCS      = 0x33 // 64-bit user code segment
	flagTF      = 1 << 8
	flagDF      = 1 << 10
	noSyscall   = ^uint64(0) // orig_rax = -1: "not in a syscall", no restart
	maxErrno    = 4095
	syscallInsn = "\x0f\x05"
)

// SyscallInsn is the x86_64 syscall instruction, for callers that write
// one into a task to inject from.
var SyscallInsn = []byte(syscallInsn)

// Site says where and how Inject runs syscalls in a thread.
//
// Inject checks nothing about the thread's seccomp state: a thread with a
// seccomp filter must have been seized with ptrace.OptSuspendSeccomp, or
// its filter judges the injected syscalls too. (compel's own sessions
// check this when they start; a restore installs filters after its last
// injected call.)
type Site struct {
	// IP is the address of a syscall instruction (0f 05) in the thread's
	// task.
	IP uint64
	// Verify checks each syscall-stop with PTRACE_GET_SYSCALL_INFO: an
	// entry into the syscall asked for, then an exit. It also accepts a
	// SIGTRAP signal stop as a syscall-stop, which is how a tracee seized
	// without ptrace.OptTraceSysGood reports one. It costs two ptrace
	// requests per call, no trip to the tracer thread.
	Verify bool
	// PassEvents resumes the thread past PTRACE_EVENT_* stops (fork,
	// clone: an injected clone3 of a tracee traced with OptTraceClone)
	// instead of failing on them.
	PassEvents bool
	// AtEntry, when set, runs on the tracer thread once the thread is
	// in the syscall-entry stop, right before the call goes on: for what
	// must happen as close to the call as can be (ns_last_pid before a
	// clone). Its error fails the call, which then still runs.
	AtEntry func() error
}

// maxStrayTraps bounds how many stops a thread may fall into on its way to
// one syscall-stop (pending PTRACE_EVENT_STOPs, passed events) before the
// injector gives up on it.
const maxStrayTraps = 3

// Inject runs syscall nr (name is for errors) with at most six args in
// thread tid, which must be in a ptrace stop, from the syscall instruction
// at site.IP. The thread starts from registers base with rip, rax,
// orig_rax = -1 and the argument registers replaced, and single-stepping
// off; it is left in the syscall-exit stop, from which the caller sets the
// registers it wants next. The whole call is one trip to the tracer
// thread. A result of -errno is returned as a *SyscallError.
func Inject(tr *ptrace.Tracer, tid int, base *ptrace.Regs, site Site, name string, nr uint64, args ...uint64) (uint64, error) {
	ret, _, err := inject(tr, tid, base, site, name, nr, args...)
	if err != nil {
		return 0, err
	}
	return Result(tid, name, nr, ret)
}

// InjectRaw is Inject without the -errno decoding, for syscalls whose
// result is never an error (setfsuid returns the previous id).
func InjectRaw(tr *ptrace.Tracer, tid int, base *ptrace.Regs, site Site, name string, nr uint64, args ...uint64) (uint64, error) {
	ret, _, err := inject(tr, tid, base, site, name, nr, args...)
	return ret, err
}

// Result turns a raw result ret of syscall nr in tid that is -errno into a
// *SyscallError; other results are returned as they are.
func Result(tid int, name string, nr, ret uint64) (uint64, error) {
	if r := int64(ret); r < 0 && r >= -maxErrno {
		return 0, &SyscallError{Op: name, Nr: int(nr), Tid: tid, Errno: unix.Errno(-r)}
	}
	return ret, nil
}

// inject is Inject without the errno decoding. entered tells whether the
// thread reached the syscall-entry stop: it is in a syscall-stop then,
// whatever the error.
func inject(tr *ptrace.Tracer, tid int, base *ptrace.Regs, site Site, name string, nr uint64, args ...uint64) (ret uint64, entered bool, err error) {
	if len(args) > 6 {
		return 0, false, fmt.Errorf("inject %s: %d arguments: %w", name, len(args), unix.EINVAL)
	}
	var a [6]uint64
	copy(a[:], args)
	r := *base
	r.Rip, r.Rax, r.OrigRax = site.IP, nr, noSyscall
	r.Eflags &^= flagTF
	r.Rdi, r.Rsi, r.Rdx, r.R10, r.R8, r.R9 = a[0], a[1], a[2], a[3], a[4], a[5]
	err = tr.Batch(func(b *ptrace.Batch) error {
		if err := b.SetRegs(tid, &r); err != nil {
			return err
		}
		if err := stepSyscall(b, tid, site, ptrace.SyscallInfoEntry, nr); err != nil {
			return fmt.Errorf("enter: %w", err)
		}
		entered = true
		var hookErr error
		if site.AtEntry != nil {
			hookErr = site.AtEntry()
		}
		if err := stepSyscall(b, tid, site, ptrace.SyscallInfoExit, nr); err != nil {
			return fmt.Errorf("exit: %w", err)
		}
		out, err := b.GetRegs(tid)
		if err != nil {
			return err
		}
		ret = out.Rax
		return hookErr
	})
	if err != nil {
		return 0, entered, fmt.Errorf("inject %s into tid %d: %w", name, tid, err)
	}
	return ret, entered, nil
}

// stepSyscall resumes tid with PTRACE_SYSCALL to its next syscall-stop,
// op (entry or exit) of nr. On the way it passes PTRACE_EVENT_STOPs (a
// PTRACE_INTERRUPT still pending, sent to a thread already in a seize
// trap, traps before any code runs) and, with site.PassEvents, other
// event stops.
func stepSyscall(b *ptrace.Batch, tid int, site Site, op uint8, nr uint64) error {
	for stray := 0; ; stray++ {
		if err := b.Syscall(tid, 0); err != nil {
			return err
		}
		st, err := b.Wait(tid)
		if err != nil {
			return err
		}
		switch {
		case st.Kind == ptrace.SyscallStop,
			site.Verify && st.Kind == ptrace.SignalStop && st.Signal == unix.SIGTRAP:
			if site.Verify {
				return checkSyscallStop(b, tid, op, nr)
			}
			return nil
		case st.Kind == ptrace.Exited || st.Kind == ptrace.Killed:
			return fmt.Errorf("%v: %w", st, ErrTaskDied)
		case stray < maxStrayTraps && (st.Kind == ptrace.InterruptStop || st.Kind == ptrace.GroupStop ||
			site.PassEvents && st.Kind == ptrace.EventStop):
			continue
		}
		return fmt.Errorf("%v: %w", st, ptrace.ErrUnexpectedStop)
	}
}

// checkSyscallStop checks that tid's syscall-stop is op of nr (the number
// is known only at entry).
func checkSyscallStop(b *ptrace.Batch, tid int, op uint8, nr uint64) error {
	info, err := b.GetSyscallInfo(tid)
	if err != nil {
		return err
	}
	if info.Op != op || (op == ptrace.SyscallInfoEntry && info.Nr != nr) {
		return fmt.Errorf("syscall stop %+v, want op %d of syscall %d: %w", info, op, nr, ptrace.ErrUnexpectedStop)
	}
	return nil
}
