package restore

import (
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/criugo/criugo/images"
)

// finalize puts the last state into every thread of t while it stays
// stopped: FPU state, registers and blocked signals. The leader first
// removes the scratch area with an injected munmap and stays in that
// call's syscall-exit stop; its final registers are set there, and the
// kernel's return to user space takes them. No injected call may follow
// in any thread of t.
func (r *restorer) finalize(t *task) error {
	p := r.plans[t.pid]
	leader := t.threads[0]
	if _, err := r.call(t, leader, "munmap scratch", unix.SYS_MUNMAP, t.scratch, scratchSize); err != nil {
		return fmt.Errorf("restore pid %d: %w", t.pid, err)
	}
	for _, th := range t.threads {
		if err := r.finalThread(th, p.core(th.tid), t.core.GetTc()); err != nil {
			return err
		}
	}
	return nil
}

// finalThread sets the FPU state, registers and signal mask of a thread.
func (r *restorer) finalThread(th *thread, core *images.CoreEntry, tc *images.TaskCoreEntry) error {
	name := coreName(uint32(th.tid))
	ti := core.GetThreadInfo()
	regs, err := finalRegs(ti.GetGpregs())
	if err != nil {
		return fmt.Errorf("restore registers of tid %d (%s): %w", th.tid, name, err)
	}
	if fp := ti.GetFpregs(); fp != nil {
		buf, err := r.tr.GetFPRegs(th.tid)
		if err != nil {
			return fmt.Errorf("restore fpu state of tid %d: %w", th.tid, err)
		}
		if err := fillXsave(buf, fp, &r.layout); err != nil {
			return fmt.Errorf("restore fpu state of tid %d (%s): %w", th.tid, name, err)
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
	return nil
}

// detachAll lets every thread of the tree run; stopped tasks are sent the
// signal that had stopped them.
func (r *restorer) detachAll() error {
	for _, t := range r.tree.tasks {
		if t.zombie() {
			continue
		}
		for _, th := range t.threads {
			if err := r.tr.Detach(th.tid, 0); err != nil {
				return fmt.Errorf("resume tid %d: %w", th.tid, err)
			}
		}
	}
	for _, t := range r.tree.tasks {
		if t.state != taskStopped {
			continue
		}
		sig := unix.SIGSTOP
		if s := t.core.GetTc().GetStopSigno(); s != 0 {
			sig = unix.Signal(s)
		}
		if err := unix.Kill(t.pid, sig); err != nil {
			return fmt.Errorf("stop pid %d: %w", t.pid, err)
		}
	}
	return nil
}
