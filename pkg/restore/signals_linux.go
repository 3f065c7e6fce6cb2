package restore

import (
	"encoding/binary"
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/criugo/criugo/images"
)

// numSignals is how many signals x86_64 has (SIGRTMAX).
const numSignals = 64

// restoreSigactions sets the signal actions of the image. Every task
// starts with SIG_DFL for every signal (CLONE_CLEAR_SIGHAND) but those
// criu-restore ignores, so only actions that differ are set. A child that
// exited during the restore (a zombie) left a SIGCHLD pending, blocked
// since the task's creation: setting SIGCHLD to SIG_DFL discards it, as
// the task received it long ago.
//
// The calls go into bt, which the caller runs.
func (r *restorer) restoreSigactions(t *task, bt *callBatch) error {
	sas := t.core.GetTc().GetSigactions()
	if len(sas) > numSignals-2 {
		return fmt.Errorf("restore sigactions of pid %d: %d entries: %w", t.pid, len(sas), ErrBadImage)
	}
	set := func(sig int, handler, flags, restorer, mask uint64) {
		act := bt.u64s(handler, flags, restorer, mask)
		bt.onError(bt.add("rt_sigaction", unix.SYS_RT_SIGACTION, uint64(sig), act, 0, 8), func(err error) error {
			return fmt.Errorf("restore sigaction %d of pid %d: %w", sig, t.pid, err)
		})
	}
	for _, c := range t.children {
		if c.zombie() {
			set(int(unix.SIGCHLD), 0, 0, 0, 0)
			break
		}
	}
	// The image lists every signal but SIGKILL and SIGSTOP, in order.
	i := 0
	for sig := 1; sig <= numSignals; sig++ {
		if sig == int(unix.SIGKILL) || sig == int(unix.SIGSTOP) {
			continue
		}
		var sa *images.SaEntry
		if i < len(sas) {
			sa = sas[i]
		}
		i++
		if sa.GetCompatSigaction() {
			return fmt.Errorf("restore sigaction %d of pid %d: 32-bit sigaction: %w", sig, t.pid, ErrNotSupported)
		}
		ignored := r.own.st.SigIgn&(1<<(sig-1)) != 0
		if !ignored && sa.GetSigaction()|sa.GetFlags()|sa.GetRestorer()|sa.GetMask() == 0 {
			continue
		}
		set(sig, sa.GetSigaction(), sa.GetFlags(), sa.GetRestorer(), sa.GetMask())
	}
	return nil
}

// queueSignals queues saved pending signals with their siginfo: the
// process-wide ones from the leader with rt_sigqueueinfo, a thread's own
// from that thread with rt_tgsigqueueinfo. The kernel lets a task queue a
// siginfo that looks sent by kill() or by the kernel only to itself, hence
// the injection. Every signal is still blocked (the mask is set last), so
// they stay pending.
func (r *restorer) queueSignals(t *task, th *thread, q *images.SignalQueueEntry, perThread bool) error {
	for i, s := range q.GetSignals() {
		info := s.GetSiginfo()
		if len(info) != siginfoSize {
			return fmt.Errorf("restore pending signal %d of tid %d: siginfo of %d bytes: %w", i, th.tid, len(info), ErrBadImage)
		}
		sig := binary.LittleEndian.Uint32(info)
		if sig == 0 || sig > numSignals {
			return fmt.Errorf("restore pending signal %d of tid %d: signal %d: %w", i, th.tid, sig, ErrBadImage)
		}
		b := newScratchBuf(t.scratch)
		infop := b.put(info)
		if err := b.flush(t.real); err != nil {
			return err
		}
		var err error
		if perThread {
			_, err = r.call(t, th, "rt_tgsigqueueinfo", unix.SYS_RT_TGSIGQUEUEINFO, uint64(r.tree.own(t.pid)), uint64(r.tree.own(th.vtid)), uint64(sig), infop)
		} else {
			_, err = r.call(t, th, "rt_sigqueueinfo", unix.SYS_RT_SIGQUEUEINFO, uint64(r.tree.own(t.pid)), uint64(sig), infop)
		}
		if err != nil {
			return fmt.Errorf("restore pending signal %d of tid %d: %w", sig, th.tid, err)
		}
	}
	return nil
}

// siginfoSize is sizeof(siginfo_t).
const siginfoSize = 128
