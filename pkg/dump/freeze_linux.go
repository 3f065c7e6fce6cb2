package dump

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/proto"

	"github.com/criugo/criugo/images"
	"github.com/criugo/criugo/pkg/proc"
	"github.com/criugo/criugo/pkg/ptrace"
	"github.com/criugo/criugo/pkg/seize"
)

// seizeOpts: syscall-stops are told apart from SIGTRAP (compel injects
// syscalls), and a seccomp filter does not see injected syscalls. No
// EXITKILL: if this process dies, the kernel detaches the tree and it runs
// on.
const seizeOpts = ptrace.OptTraceSysGood | ptrace.OptSuspendSeccomp

// task is one task of the frozen tree as the dump handles it.
type task struct {
	fr *images.CriugoFreezeTaskEntry
	ps *images.PstreeEntry

	pid, nsPid int
	zombie     bool
	// stopped: in job-control stop before criu-seize came, or about to
	// be (a SIGSTOP was queued for it); it stays so.
	stopped bool
	// pendingStop: running, with a SIGSTOP queued, when criu-seize came;
	// criu-seize's own SIGSTOP merged with it, so it is not undone.
	pendingStop bool
	stopSig     int
	tids        []int // leader first, in criu-seize's pid namespace
	seized      []bool
	// continued: its job-control stop was ended with our SIGCONT.
	continued bool
}

// attachment is the frozen tree with every thread of every live task
// seized and in a PTRACE_EVENT_STOP.
type attachment struct {
	tr     *ptrace.Tracer
	fs     proc.FS // where the tasks are read; the dumper's
	rec    *images.CriugoFreezeEntry
	tasks  []*task // pstree order
	cgroup string  // cgroup methods: the freezer directory
	cgV2   bool
	thawed bool // cgroup methods: we thawed the cgroup
}

// attach seizes every thread of the tree the freeze record describes and
// leaves each in a PTRACE_EVENT_STOP without letting any user code run. On
// error, what was seized stays seized: the caller releases it.
func (a *attachment) attach(in *seizeInput) error {
	rec := in.rec
	a.rec = rec
	if rec.GetMethod() != images.CriugoFreezeMethod_CRIUGO_FREEZE_PTRACE_STOP {
		a.cgroup = rec.GetCgroup()
		a.cgV2 = rec.GetMethod() == images.CriugoFreezeMethod_CRIUGO_FREEZE_CGROUP_V2
	}
	for i, fr := range rec.GetTasks() {
		t := &task{fr: fr, ps: in.pstree[i], pid: int(fr.GetPid()), nsPid: int(fr.GetNsPid())}
		t.zombie = fr.GetState() == images.CriugoTaskState_CRIUGO_TASK_ZOMBIE
		t.stopped = fr.GetState() == images.CriugoTaskState_CRIUGO_TASK_STOPPED
		if fr.GetStoppedByUs() && queuedStop(fr) {
			t.stopped, t.pendingStop = true, true
		}
		a.tasks = append(a.tasks, t)
	}
	for _, t := range a.tasks {
		if err := a.checkTask(t); err != nil {
			return err
		}
		if t.zombie {
			continue
		}
		t.seized = make([]bool, len(t.tids))
		for i, tid := range t.tids {
			if err := a.tr.Seize(tid, seizeOpts); err != nil {
				return fmt.Errorf("seize tid %d of pid %d: %w", tid, t.pid, err)
			}
			t.seized[i] = true
			if a.cgroup != "" {
				if err := a.tr.Interrupt(tid); err != nil {
					return fmt.Errorf("interrupt tid %d of pid %d: %w", tid, t.pid, err)
				}
			}
		}
	}
	if a.cgroup != "" {
		// A task frozen in a cgroup takes the interrupt only once it runs
		// again; it stops before any user instruction.
		if err := a.setCgroup(false); err != nil {
			return err
		}
		a.thawed = true
	}
	for _, t := range a.tasks {
		for _, tid := range t.tids {
			st, err := a.wait(tid)
			if err != nil {
				return fmt.Errorf("wait for tid %d of pid %d: %w", tid, t.pid, err)
			}
			switch {
			case st.Kind == ptrace.GroupStop:
				t.stopSig = int(st.Signal)
			case st.Kind == ptrace.InterruptStop && a.cgroup != "":
			default:
				return fmt.Errorf("attach tid %d of pid %d: %v: %w", tid, t.pid, st, ptrace.ErrUnexpectedStop)
			}
		}
	}
	return nil
}

// checkTask makes sure pid still is the task criu-seize froze and lists
// its threads, which must be those of the record.
func (a *attachment) checkTask(t *task) error {
	st, err := a.fs.Stat(t.pid, 0)
	if err != nil {
		return fmt.Errorf("check pid %d: %w: %w", t.pid, ErrTaskChanged, err)
	}
	if st.StartTime != t.fr.GetStartTime() {
		return fmt.Errorf("check pid %d: started at tick %d, frozen task at %d: %w", t.pid, st.StartTime, t.fr.GetStartTime(), ErrTaskChanged)
	}
	if t.zombie {
		if st.State != 'Z' {
			return fmt.Errorf("check pid %d: state %c, frozen as a zombie: %w", t.pid, st.State, ErrTaskChanged)
		}
		return nil
	}
	tids, err := a.fs.Tasks(t.pid)
	if err != nil {
		return fmt.Errorf("list threads of pid %d: %w: %w", t.pid, ErrTaskChanged, err)
	}
	have := map[int]bool{}
	for _, tid := range tids {
		have[tid] = true
	}
	for _, th := range t.fr.GetThreads() {
		tid := int(th.GetTid())
		if !have[tid] {
			return fmt.Errorf("check pid %d: thread %d is gone: %w", t.pid, tid, ErrTaskChanged)
		}
		delete(have, tid)
		t.tids = append(t.tids, tid)
	}
	if len(have) > 0 {
		return fmt.Errorf("check pid %d: %d threads not in the freeze record: %w", t.pid, len(have), ErrTaskChanged)
	}
	if len(t.tids) == 0 || t.tids[0] != t.pid {
		return fmt.Errorf("check pid %d: the freeze record does not list its leader first: %w", t.pid, ErrBadInput)
	}
	return nil
}

func sigBit(sig int) uint64 { return 1 << (sig - 1) }

// stopSignals are the signals a SIGCONT flushes from every queue
// (SIGSTOP, SIGTSTP, SIGTTIN, SIGTTOU): queued for a stopped task they
// can never act, since only a SIGCONT or SIGKILL lets it run again.
const stopSignals = 1<<(sigStop-1) | 1<<(20-1) | 1<<(21-1) | 1<<(22-1)

// queuedStop reports whether criu-seize found a SIGSTOP queued for a
// task, for the process or one of its threads: the task was about to
// stop (CRIU's dump takes it for stopped, as this one does).
func queuedStop(fr *images.CriugoFreezeTaskEntry) bool {
	if fr.GetShdpnd()&sigBit(sigStop) != 0 {
		return true
	}
	for _, th := range fr.GetThreads() {
		if th.GetSigpnd()&sigBit(sigStop) != 0 {
			return true
		}
	}
	return false
}

// stopTimeout bounds every wait for a thread to stop: a stop asked for
// comes within microseconds, so one that does not come in this time is a
// failure, not a reason to hang with the tree seized.
const stopTimeout = 10 * time.Second

// wait waits for the next stop of tid, at most stopTimeout.
func (a *attachment) wait(tid int) (ptrace.Stop, error) {
	st, ok, err := a.tr.WaitTimeout(tid, stopTimeout)
	if err != nil {
		return st, err
	}
	if !ok {
		return st, fmt.Errorf("tid %d did not stop in %v: %w", tid, stopTimeout, ptrace.ErrUnexpectedStop)
	}
	return st, nil
}

// resume ends the job-control stop that criu-seize put the tree in, so the
// tree is dumped, and later released, as it was before the freeze: running.
// No user code runs: every thread ends in a PTRACE_EVENT_STOP again.
//
// The stop ends with a SIGCONT. Sent with tgkill it queues on one thread,
// which takes it before any shared signal; we make that thread take it and
// discard it at its signal-delivery-stop. The other threads only pass the
// trap that tells a seized thread its group was continued. Tasks go
// children first, so that the SIGCHLD (CLD_CONTINUED, or CLD_STOPPED from
// the freeze) a child's stop and continue raise in its parent is there
// when the parent's turn comes; the parent then discards it the same way,
// unless the freeze record says one was pending before the freeze.
func (a *attachment) resume() error {
	if a.cgroup != "" {
		return nil
	}
	for i := len(a.tasks) - 1; i >= 0; i-- {
		t := a.tasks[i]
		if t.zombie {
			continue
		}
		if t.fr.GetStoppedByUs() && !t.pendingStop {
			if err := a.unstop(t); err != nil {
				return err
			}
		}
	}
	for _, t := range a.tasks {
		if t.zombie {
			continue
		}
		if t.stopped {
			if err := a.dropStops(t); err != nil {
				return err
			}
		}
		if err := a.dropSigchld(t); err != nil {
			return err
		}
	}
	return nil
}

// pickThread returns the first thread of t that does not block sig, or -1.
func (a *attachment) pickThread(t *task, sig int) (int, error) {
	for i, tid := range t.tids {
		mask, err := a.tr.GetSigmask(tid)
		if err != nil {
			return -1, fmt.Errorf("read signal mask of tid %d: %w", tid, err)
		}
		if mask&sigBit(sig) == 0 {
			return i, nil
		}
	}
	return -1, nil
}

// unstop sends our SIGCONT to t and swallows it.
func (a *attachment) unstop(t *task) error {
	pick, err := a.pickThread(t, sigCont)
	if err != nil {
		return err
	}
	target := t.pid
	if pick >= 0 {
		target = t.tids[pick]
	}
	if err := unix.Tgkill(t.pid, target, unix.SIGCONT); err != nil {
		return fmt.Errorf("continue pid %d: %w", t.pid, err)
	}
	t.continued = true
	for i, tid := range t.tids {
		if i == pick {
			if err := a.swallow(tid, sigCont); err != nil {
				return fmt.Errorf("continue pid %d: %w", t.pid, err)
			}
			continue
		}
		if err := a.trap(tid); err != nil {
			return fmt.Errorf("continue pid %d: %w", t.pid, err)
		}
	}
	return nil
}

// trap resumes a stopped thread into an interrupt stop: the interrupt is
// taken before any signal or user instruction.
func (a *attachment) trap(tid int) error {
	if err := a.tr.Interrupt(tid); err != nil {
		return err
	}
	if err := a.tr.Cont(tid, 0); err != nil {
		return err
	}
	st, err := a.wait(tid)
	if err != nil {
		return err
	}
	if st.Kind != ptrace.InterruptStop && st.Kind != ptrace.GroupStop {
		return fmt.Errorf("tid %d: %v: %w", tid, st, ptrace.ErrUnexpectedStop)
	}
	return nil
}

// swallow lets thread tid dequeue a pending, unblocked signal sig and
// discards it at its signal-delivery-stop, then stops the thread again.
// A lower signal dequeued first is delivered as it would have been when
// the task went on (the thread stops before its handler runs).
func (a *attachment) swallow(tid, sig int) error {
	for range 2 * sigMax {
		if err := a.tr.Cont(tid, 0); err != nil {
			return err
		}
		st, err := a.wait(tid)
		if err != nil {
			return err
		}
		switch st.Kind {
		case ptrace.InterruptStop, ptrace.GroupStop:
			// A pending trap (the continue notification) came first.
			continue
		case ptrace.SignalStop:
			if err := a.tr.Interrupt(tid); err != nil {
				return err
			}
			deliver := unix.Signal(0)
			if int(st.Signal) != sig {
				deliver = st.Signal
			}
			if err := a.tr.Cont(tid, deliver); err != nil {
				return err
			}
			if err := a.waitTrap(tid); err != nil {
				return err
			}
			if int(st.Signal) == sig {
				return nil
			}
		default:
			return fmt.Errorf("tid %d: %v: %w", tid, st, ptrace.ErrUnexpectedStop)
		}
	}
	return fmt.Errorf("tid %d never took signal %d: %w", tid, sig, ptrace.ErrUnexpectedStop)
}

// waitTrap waits for the interrupt stop asked for before a resume,
// passing signal-delivery-stops on (they are delivered, not lost).
func (a *attachment) waitTrap(tid int) error {
	for range 2 * sigMax {
		st, err := a.wait(tid)
		if err != nil {
			return err
		}
		switch st.Kind {
		case ptrace.InterruptStop, ptrace.GroupStop:
			return nil
		case ptrace.SignalStop:
			if err := a.tr.Cont(tid, st.Signal); err != nil {
				return err
			}
		default:
			return fmt.Errorf("tid %d: %v: %w", tid, st, ptrace.ErrUnexpectedStop)
		}
	}
	return fmt.Errorf("tid %d does not stop: %w", tid, ptrace.ErrUnexpectedStop)
}

// dropStops discards the stop signals queued for a stopped task, as
// CRIU's dump does: they cannot act (a SIGCONT would flush them), but a
// thread resumed to run injected code would take them first. Each thread
// is let dequeue them with every other signal blocked, so nothing else is
// delivered, and is stopped again; its mask is put back. The restore
// stops the task again with the signal that stopped it.
func (a *attachment) dropStops(t *task) error {
	for _, tid := range t.tids {
		for range 8 { // four stop signals, for the thread and for the process
			st, err := a.fs.Status(t.pid, tid)
			if err != nil {
				return fmt.Errorf("read pending signals of tid %d: %w", tid, err)
			}
			if (st.SigPnd|st.ShdPnd)&stopSignals == 0 {
				break
			}
			if err := a.dropStop(tid); err != nil {
				return fmt.Errorf("discard stop signal queued for tid %d of pid %d: %w", tid, t.pid, err)
			}
		}
	}
	return nil
}

// dropStop lets tid dequeue one stop signal and discards it.
func (a *attachment) dropStop(tid int) (err error) {
	mask, err := a.tr.GetSigmask(tid)
	if err != nil {
		return err
	}
	if err := a.tr.SetSigmask(tid, ^uint64(stopSignals)); err != nil {
		return err
	}
	defer func() {
		if serr := a.tr.SetSigmask(tid, mask); serr != nil && err == nil {
			err = serr
		}
	}()
	for range 4 {
		if err := a.tr.Cont(tid, 0); err != nil {
			return err
		}
		st, err := a.wait(tid)
		if err != nil {
			return err
		}
		switch {
		case st.Kind == ptrace.InterruptStop || st.Kind == ptrace.GroupStop:
			continue // a trap that was pending came first
		case st.Kind == ptrace.SignalStop && sigBit(int(st.Signal))&stopSignals != 0:
			if err := a.tr.Interrupt(tid); err != nil {
				return err
			}
			if err := a.tr.Cont(tid, 0); err != nil {
				return err
			}
			return a.waitTrap(tid)
		default:
			return fmt.Errorf("tid %d: %v: %w", tid, st, ptrace.ErrUnexpectedStop)
		}
	}
	return fmt.Errorf("tid %d takes no stop signal: %w", tid, ptrace.ErrUnexpectedStop)
}

// dropSigchld discards a SIGCHLD pending in t that the freeze and our
// SIGCONTs raised: one not pending when criu-seize looked.
func (a *attachment) dropSigchld(t *task) error {
	if t.fr.GetShdpnd()&sigBit(sigChld) != 0 {
		return nil
	}
	st, err := a.fs.Status(t.pid, 0)
	if err != nil {
		return err
	}
	if st.ShdPnd&sigBit(sigChld) == 0 {
		return nil
	}
	pick, err := a.pickThread(t, sigChld)
	if err != nil || pick < 0 {
		// Blocked everywhere: the dump leaves it out of the image; the
		// live task keeps it (see report of the package doc).
		return err
	}
	if err := a.swallow(t.tids[pick], sigChld); err != nil {
		return fmt.Errorf("discard SIGCHLD of pid %d: %w", t.pid, err)
	}
	return nil
}

// setCgroup freezes or thaws the freezer cgroup of a cgroup-method freeze.
func (a *attachment) setCgroup(freeze bool) error {
	name, val := "freezer.state", "THAWED"
	if freeze {
		val = "FROZEN"
	}
	if a.cgV2 {
		name, val = "cgroup.freeze", "0"
		if freeze {
			val = "1"
		}
	}
	p := filepath.Join(a.cgroup, name)
	if err := os.WriteFile(p, []byte(val), 0); err != nil {
		return fmt.Errorf("write %s to %s: %w", val, p, err)
	}
	return nil
}

// detachAll detaches every seized thread; the kernel puts a task whose
// group is still stopped back in its job-control stop.
func (a *attachment) detachAll() error {
	var errs []error
	for _, t := range a.tasks {
		for i, tid := range t.tids {
			if i >= len(t.seized) || !t.seized[i] {
				continue
			}
			if err := a.tr.Detach(tid, 0); err != nil && !errors.Is(err, unix.ESRCH) {
				errs = append(errs, fmt.Errorf("detach tid %d: %w", tid, err))
			}
			t.seized[i] = false
		}
	}
	return errors.Join(errs...)
}

// stopAll sends SIGSTOP to every task, still traced, for --leave-stopped.
func (a *attachment) stopAll() error {
	var errs []error
	for _, t := range a.tasks {
		if err := unix.Kill(t.pid, unix.SIGSTOP); err != nil && !errors.Is(err, unix.ESRCH) {
			errs = append(errs, fmt.Errorf("stop pid %d: %w", t.pid, err))
		}
	}
	return errors.Join(errs...)
}

// release lets the tree go on after a complete dump with --leave-running:
// threads detached, a cgroup that was frozen before criu-seize frozen again.
func (a *attachment) release() error {
	var errs []error
	if a.cgroup != "" && a.rec.GetCgroupWasFrozen() {
		errs = append(errs, a.setCgroup(true))
	}
	errs = append(errs, a.detachAll())
	return errors.Join(errs...)
}

// detach undoes the attachment after a failure: a cgroup that was frozen
// before criu-seize and that attach thawed is frozen again, then every
// seized thread detached. thaw follows.
func (a *attachment) detach() error {
	var errs []error
	if a.cgroup != "" && a.thawed && a.rec.GetCgroupWasFrozen() {
		errs = append(errs, a.setCgroup(true))
	}
	errs = append(errs, a.detachAll())
	return errors.Join(errs...)
}

// thaw undoes criu-seize's freeze after a failure, minus the job-control
// stops resume already ended. Once the tree runs again the freeze record
// in dir (inDir) describes a freeze that is no more, and a later --thaw
// must not act on it: it goes.
func (a *attachment) thaw(dir string, inDir bool) error {
	rec := proto.Clone(a.rec).(*images.CriugoFreezeEntry)
	for i, t := range a.tasks {
		if t.continued || t.pendingStop {
			rec.GetTasks()[i].StoppedByUs = proto.Bool(false)
		}
	}
	if err := seize.Thaw(rec); err != nil {
		return fmt.Errorf("thaw: %w", err)
	}
	if inDir {
		os.Remove(filepath.Join(dir, seize.FreezeFile))
	}
	return nil
}

// kill ends the tree after a complete dump: SIGKILL to every live task,
// then each thread waited for, non-leaders before their leader (a killed
// leader is reported only after its threads), children before their
// parents: the init of a pid namespace, killed, ends only once every
// task of its namespace is reaped, which for a traced one waits for us.
func (a *attachment) kill() error {
	var errs []error
	for _, t := range a.tasks {
		if t.zombie {
			continue
		}
		if err := unix.Kill(t.pid, unix.SIGKILL); err != nil && !errors.Is(err, unix.ESRCH) {
			errs = append(errs, fmt.Errorf("kill pid %d: %w", t.pid, err))
		}
	}
	if a.cgroup != "" && !a.thawed {
		errs = append(errs, a.setCgroup(false))
	}
	for _, t := range slices.Backward(a.tasks) {
		order := slices.Clone(t.tids)
		if len(order) > 1 {
			order = append(order[1:], order[0])
		}
		for _, tid := range order {
			if err := a.waitGone(tid); err != nil {
				errs = append(errs, err)
			}
		}
		for i := range t.seized {
			t.seized[i] = false
		}
	}
	return errors.Join(errs...)
}

// waitGone waits until a killed tracee has exited.
func (a *attachment) waitGone(tid int) error {
	for range 16 {
		st, err := a.wait(tid)
		if err != nil {
			if errors.Is(err, unix.ECHILD) {
				return nil
			}
			return fmt.Errorf("wait for killed tid %d: %w", tid, err)
		}
		if !st.Stopped() {
			return nil
		}
		// A stop reported before the kill took effect: let it go on.
		a.tr.Cont(tid, 0)
	}
	return fmt.Errorf("killed tid %d does not exit: %w", tid, ptrace.ErrUnexpectedStop)
}
