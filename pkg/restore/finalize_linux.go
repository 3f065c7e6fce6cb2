package restore

import (
	"bytes"
	"fmt"
	"github.com/criugo/criugo/pkg/x86"

	"golang.org/x/sys/unix"

	"github.com/criugo/criugo/images"
	"github.com/criugo/criugo/pkg/ptrace"
)

// finalize puts the last state into every thread of t while it stays
// stopped: FPU state, registers and blocked signals. The leader first
// removes the scratch area with an injected munmap and stays in that
// call's syscall-exit stop; its final registers are set there, and the
// kernel's return to user space takes them. No injected call may follow
// in any thread of t.
//
// A thread that goes back into a system call (its ip on the `syscall`
// instruction, ax the call's number: the restart of an interrupted call)
// is stepped into that call's syscall-entry stop before it is detached.
// Detached there, it is inside the call at once, and a signal sent right
// after the restore interrupts the call as it would have interrupted the
// original one; left at user level, the thread might take the signal's
// handler first and then block in the call, a wakeup lost.
func (r *restorer) finalize(t *task) error {
	p := r.plans[t.pid]
	leader := t.threads[0]
	if _, err := r.call(t, leader, "munmap scratch", unix.SYS_MUNMAP, t.scratch, scratchSize); err != nil {
		return fmt.Errorf("restore pid %d: %w", t.pid, err)
	}
	for _, th := range t.threads {
		if err := r.finalThread(t, th, p.core(th.vtid), t.core.GetTc()); err != nil {
			return err
		}
	}
	return nil
}

// finalThread sets the FPU state, registers and signal mask of a thread.
func (r *restorer) finalThread(t *task, th *thread, core *images.CoreEntry, tc *images.TaskCoreEntry) error {
	name := coreName(uint32(th.vtid))
	ti := core.GetThreadInfo()
	regs, err := x86.RegsFromGpregs(ti.GetGpregs())
	if err != nil {
		return fmt.Errorf("restore registers of tid %d (%s): %w", th.tid, name, fromX86(err))
	}
	if fp := ti.GetFpregs(); fp != nil {
		buf, err := r.tr.GetFPRegs(th.tid)
		if err != nil {
			return fmt.Errorf("restore fpu state of tid %d: %w", th.tid, err)
		}
		if err := x86.FillXsave(buf, fp, r.layout); err != nil {
			return fmt.Errorf("restore fpu state of tid %d (%s): %w", th.tid, name, fromX86(err))
		}
		if err := r.tr.SetFPRegs(th.tid, buf); err != nil {
			return fmt.Errorf("restore fpu state of tid %d (%s): %w", th.tid, name, err)
		}
	}
	if err := r.tr.SetRegs(th.tid, regs); err != nil {
		return fmt.Errorf("restore registers of tid %d (%s): %w", th.tid, name, err)
	}
	mask := tc.GetBlkSigset()
	if tcore := core.GetThreadCore(); tcore != nil && tcore.BlkSigset != nil {
		mask = tcore.GetBlkSigset()
	}
	if err := r.tr.SetSigmask(th.tid, mask); err != nil {
		return fmt.Errorf("restore signal mask of tid %d: %w", th.tid, err)
	}
	if !reentersSyscall(t.real, regs) {
		return nil
	}
	if err := r.tr.Syscall(th.tid, 0); err != nil {
		return fmt.Errorf("resume tid %d into its system call: %w", th.tid, err)
	}
	st, err := r.tr.Wait(th.tid)
	if err != nil {
		return fmt.Errorf("resume tid %d into its system call: %w", th.tid, err)
	}
	switch st.Kind {
	case ptrace.SyscallStop:
	case ptrace.SignalStop:
		// A pending signal it does not block came first: it is delivered
		// on detach, as it would have been.
		th.detachSig = st.Signal
	default:
		return fmt.Errorf("resume tid %d into its system call: %v: %w", th.tid, st, ptrace.ErrUnexpectedStop)
	}
	return nil
}

// reentersSyscall reports whether final registers put a thread back on a
// `syscall` instruction with the call's number in ax: a restart.
func reentersSyscall(pid int, regs *ptrace.Regs) bool {
	code := make([]byte, 2)
	if _, err := ptrace.ReadMem(pid, regs.Rip, code); err != nil {
		return false
	}
	return bytes.Equal(code, syscallInsn) && regs.Rax < 1024
}

// detachAll lets every thread of the tree run; stopped tasks are sent the
// signal that had stopped them.
func (r *restorer) detachAll() error {
	for _, t := range r.tree.tasks {
		if t.zombie() {
			continue
		}
		for _, th := range t.threads {
			if err := r.tr.Detach(th.tid, th.detachSig); err != nil {
				return fmt.Errorf("resume tid %d: %w", th.tid, err)
			}
		}
	}
	for _, t := range r.tree.tasks {
		if t.state != images.TaskStopped {
			continue
		}
		sig := unix.SIGSTOP
		if s := t.core.GetTc().GetStopSigno(); s != 0 {
			sig = unix.Signal(s)
		}
		if err := unix.Kill(t.real, sig); err != nil {
			return fmt.Errorf("stop pid %d: %w", t.pid, err)
		}
	}
	return nil
}
