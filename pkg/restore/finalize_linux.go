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

// detachAll lets every thread of the tree run. A stopped task is sent
// the signal that had stopped it first, while all its threads are still
// traced, as CRIU does: each thread takes the stop on its way back to
// user space and runs none of its code.
func (r *restorer) detachAll() error {
	for _, t := range r.tree.tasks {
		if t.zombie() || (t.state != images.TaskStopped && !r.opts.LeaveStopped) {
			continue
		}
		sig := r.stopSignal(t)
		if err := unix.Kill(t.real, sig); err != nil {
			return fmt.Errorf("stop pid %d with signal %d: %w", t.pid, sig, err)
		}
	}
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
	return nil
}

// Signals that stop a task by default (besides SIGSTOP), when it is not
// in an orphaned process group.
const (
	sigTstp = 20
	sigTtin = 21
	sigTtou = 22
)

// stopSignal is the signal that stops t again: the one that stopped it
// (the core's stop_signo), unless that signal would not stop it now, in
// which case SIGSTOP, which always does. SIGTSTP, SIGTTIN and SIGTTOU
// stop only a task that has them at SIG_DFL, does not block them in
// every thread, and whose process group is not orphaned (the kernel
// discards them then); a group whose only link to its session was the
// root's parent is orphaned once restored.
func (r *restorer) stopSignal(t *task) unix.Signal {
	tc := t.core.GetTc()
	sig := int(tc.GetStopSigno())
	if sig != sigTstp && sig != sigTtin && sig != sigTtou {
		return unix.SIGSTOP
	}
	// The image lists every signal but SIGKILL (9) and SIGSTOP (19).
	if sas := tc.GetSigactions(); len(sas) > sig-3 && sas[sig-3].GetSigaction() != 0 {
		return unix.SIGSTOP
	}
	blocked := true
	for _, tid := range t.tids {
		mask := tc.GetBlkSigset()
		if core := r.plans[t.pid].core(tid); core != nil && core.GetThreadCore() != nil && core.GetThreadCore().BlkSigset != nil {
			mask = core.GetThreadCore().GetBlkSigset()
		}
		if mask&(1<<(sig-1)) == 0 {
			blocked = false
		}
	}
	if blocked || r.tree.orphanedGroup(t.pgid) {
		return unix.SIGSTOP
	}
	return unix.Signal(sig)
}

// orphanedGroup reports whether process group pgid is orphaned in the
// restored tree: no member has a parent in the tree that is in another
// group of the same session (POSIX; the root's parent is outside).
func (tr *tree) orphanedGroup(pgid int) bool {
	for _, t := range tr.tasks {
		if t.pgid != pgid || t.parent == nil || t.zombie() {
			continue
		}
		if t.parent.pgid != pgid && t.parent.sid == t.sid {
			return false
		}
	}
	return true
}
