package compel

import (
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/criugo/criugo/pkg/ptrace"
)

// RunBatch runs code in thread tid until the code stops the thread with
// a SIGSTOP it sends itself: the thread starts from registers base with
// rip = ip, rsp = sp, rdi = arg, orig_rax = -1 and single-stepping off,
// is resumed with PTRACE_CONT, and is left in the signal-delivery stop of
// that SIGSTOP, which the next resume discards (any resume with signal 0,
// such as Inject's). pie's batch runner ends so (pie.BatchEntry): a list
// of system calls then costs one stop instead of two per call. The whole
// run is one trip to the tracer thread.
//
// The code must not raise any other signal, and the thread must have no
// other signal it does not block: either would stop it first, and is
// reported as ptrace.ErrUnexpectedStop with the thread left in that
// stop.
func RunBatch(tr *ptrace.Tracer, tid int, base *ptrace.Regs, ip, sp, arg uint64) error {
	r := *base
	r.Rip, r.Rsp, r.Rdi, r.OrigRax = ip, sp, arg, noSyscall
	r.Eflags &^= flagTF
	err := tr.Batch(func(b *ptrace.Batch) error {
		if err := b.SetRegs(tid, &r); err != nil {
			return err
		}
		for stray := 0; ; stray++ {
			if err := b.Cont(tid, 0); err != nil {
				return err
			}
			st, err := b.Wait(tid)
			if err != nil {
				return err
			}
			switch {
			case st.Kind == ptrace.SignalStop && st.Signal == unix.SIGSTOP:
				return nil
			case st.Kind == ptrace.Exited || st.Kind == ptrace.Killed:
				return fmt.Errorf("%v: %w", st, ErrTaskDied)
			case stray < maxStrayTraps && (st.Kind == ptrace.InterruptStop || st.Kind == ptrace.GroupStop):
				// A PTRACE_INTERRUPT still pending traps before any
				// code runs.
				continue
			}
			return fmt.Errorf("%v: %w", st, ptrace.ErrUnexpectedStop)
		}
	})
	if err != nil {
		return fmt.Errorf("run batch at %#x in tid %d: %w", ip, tid, err)
	}
	return nil
}
