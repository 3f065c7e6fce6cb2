package seize

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"time"

	"golang.org/x/sys/unix"

	"github.com/criugo/criugo/images"
	"github.com/criugo/criugo/pkg/ptrace"
)

// seizeOpts makes every child forked and every thread cloned by a seized
// task traced and stopped from birth, so nothing created while the tree
// freezes runs free.
//
// vfork is left out on purpose: a child born stopped would keep its
// vfork()ing parent blocked (killable but not interruptible) in the kernel,
// so the parent could never take its interrupt. Without the option the
// parent takes it once the child has called exec or _exit, and the child is
// found and seized through the parent's children like any other.
const seizeOpts = ptrace.Options(unix.PTRACE_O_TRACECLONE | unix.PTRACE_O_TRACEFORK)

// maxPasses bounds the walks over the tree. Every pass that changes
// something has stopped at least one more task, and a stopped task forks no
// more, so a tree settles within a few passes.
const maxPasses = 64

var (
	errThreadGone = errors.New("thread gone")
	errZombie     = errors.New("zombie")
)

// seizer holds the threads seized so far on one tracer thread.
type seizer struct {
	tr      *ptrace.Tracer
	timeout time.Duration
	self    int                   // criu-seize's pid: never part of the tree
	threads map[int]*seizedThread // by tid
}

type seizedThread struct {
	pid, tid int
	group    bool // found in a job-control (group) stop
	attached bool // still attached: a stop is held
}

// freezePtrace seizes and stops the tree under root, describes it, and
// leaves it in job-control stop with criu-seize detached. On failure
// nothing stays stopped: the seized threads are detached without a signal.
func freezePtrace(ctx context.Context, root int, timeout time.Duration) (tree *Tree, err error) {
	if err := checkRoot(root); err != nil {
		return nil, err
	}
	s := &seizer{
		tr:      ptrace.NewTracer(),
		timeout: timeout,
		self:    os.Getpid(),
		threads: make(map[int]*seizedThread),
	}
	// Closing the tracer ends its thread; the kernel then detaches any
	// tracee a failed request left attached, and those resume.
	defer s.tr.Close()
	defer func() {
		if err != nil {
			err = undone(err, s.detachAll())
		}
	}()
	if tree, err = s.walk(ctx, root); err != nil {
		return nil, err
	}
	if err := describe(tree); err != nil {
		return nil, err
	}
	if err := s.hold(tree); err != nil {
		return nil, err
	}
	return tree, nil
}

// checkRoot checks that pid is a live process that criu-seize may freeze.
func checkRoot(pid int) error {
	if pid <= 0 {
		return fmt.Errorf("seize pid %d: %w", pid, ErrBadOptions)
	}
	st, err := readStatus(pid, 0)
	if err != nil {
		if gone(err) {
			return fmt.Errorf("seize pid %d: %w", pid, &sysError{ErrNoProcess, unix.ESRCH})
		}
		return fmt.Errorf("seize pid %d: %w", pid, classify(err))
	}
	if st.Tgid != pid {
		return fmt.Errorf("seize pid %d: %w (a thread of pid %d)", pid, ErrNotProcess, st.Tgid)
	}
	if st.State == 'Z' || st.State == 'X' {
		return fmt.Errorf("seize pid %d: is a zombie: %w", pid, ErrNotSupported)
	}
	// criu-seize cannot stop itself, nor an ancestor of its own: it would
	// find itself in the tree.
	for p := os.Getpid(); p > 0; {
		if p == pid {
			return fmt.Errorf("seize pid %d: %w", pid, ErrSelf)
		}
		st, err := readStatus(p, 0)
		if err != nil {
			break
		}
		p = st.PPid
	}
	return nil
}

// walk seizes every thread of every task under root, again and again,
// until a whole pass finds no new thread, no new child and no task gone.
func (s *seizer) walk(ctx context.Context, root int) (*Tree, error) {
	tree := &Tree{Root: root, Tasks: map[int]*Task{}}
	for pass := 0; pass < maxPasses; pass++ {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("seize pid %d: %w", root, err)
		}
		changed := false
		reached := make(map[int]bool)
		queue := []int{root}
		for len(queue) > 0 {
			pid := queue[0]
			queue = queue[1:]
			if reached[pid] {
				continue
			}
			if pid == s.self {
				return nil, fmt.Errorf("seize pid %d: %w", root, ErrSelf)
			}
			task := tree.Tasks[pid]
			if task == nil {
				task = &Task{Pid: pid, State: images.CriugoTaskState_CRIUGO_TASK_RUNNING}
				tree.Tasks[pid] = task
				changed = true
			}
			more, err := s.seizeProcess(task)
			if errors.Is(err, ErrNoProcess) && pid != root {
				// It died before it could be stopped; the pass that
				// drops it is not a settled one.
				if err := s.detachProcess(pid); err != nil {
					return nil, err
				}
				delete(tree.Tasks, pid)
				changed = true
				continue
			}
			if err != nil {
				return nil, err
			}
			reached[pid] = true
			changed = changed || more
			if task.State == images.CriugoTaskState_CRIUGO_TASK_ZOMBIE {
				continue // a zombie's children went to a reaper when it died
			}
			kids, err := readChildren(pid, threadIDs(task))
			if err != nil {
				return nil, fmt.Errorf("seize pid %d: list children: %w", pid, err)
			}
			if !slices.Equal(kids, task.Children) {
				task.Children = kids
				changed = true
			}
			queue = append(queue, kids...)
		}
		// A task no longer under the root (reparented when its parent
		// died, or reaped) has left the tree: let it go.
		for pid := range tree.Tasks {
			if !reached[pid] {
				if err := s.detachProcess(pid); err != nil {
					return nil, err
				}
				delete(tree.Tasks, pid)
				changed = true
			}
		}
		if !changed {
			for _, task := range tree.Tasks {
				for _, c := range task.Children {
					if kid := tree.Tasks[c]; kid != nil {
						kid.PPid = task.Pid
					}
				}
			}
			return tree, nil
		}
	}
	return nil, fmt.Errorf("seize pid %d: %w after %d walks", root, ErrUnstable, maxPasses)
}

// seizeProcess seizes and stops every thread of task, listing its threads
// again until a listing shows none unseized: a stopped thread clones no
// more, so the list is then final. It reports whether it seized any.
func (s *seizer) seizeProcess(task *Task) (more bool, err error) {
	pid := task.Pid
	for round := 0; ; round++ {
		if round >= maxPasses {
			return more, fmt.Errorf("seize pid %d: threads: %w", pid, ErrUnstable)
		}
		tids, err := listThreads(pid)
		if err != nil {
			if gone(err) {
				return more, fmt.Errorf("seize pid %d: %w", pid, &sysError{ErrNoProcess, unix.ESRCH})
			}
			return more, fmt.Errorf("seize pid %d: list threads: %w", pid, err)
		}
		if len(tids) == 0 {
			return more, fmt.Errorf("seize pid %d: %w", pid, &sysError{ErrNoProcess, unix.ESRCH})
		}
		if task.State == images.CriugoTaskState_CRIUGO_TASK_ZOMBIE {
			return more, nil
		}
		fresh := false
		for _, tid := range tids {
			if s.threads[tid] != nil {
				continue
			}
			err := s.seizeThread(pid, tid)
			switch {
			case err == nil:
				fresh = true
			case errors.Is(err, errThreadGone):
				fresh = true // the list changed: list again
			case errors.Is(err, errZombie):
				if tid != pid || len(tids) > 1 {
					return more, fmt.Errorf("seize pid %d: thread %d is a zombie while other threads run: %w", pid, tid, ErrNotSupported)
				}
				task.State = images.CriugoTaskState_CRIUGO_TASK_ZOMBIE
				task.Threads = nil
				return true, nil
			default:
				return more, err
			}
		}
		if !fresh {
			break
		}
		more = true
	}
	// The thread list, leader first, then by tid; whether the process was
	// found stopped by job control.
	task.Threads = task.Threads[:0]
	group := false
	for _, th := range s.sortedThreads(pid) {
		task.Threads = append(task.Threads, Thread{Tid: th.tid})
		group = group || th.group
	}
	if group {
		task.State = images.CriugoTaskState_CRIUGO_TASK_STOPPED
	} else {
		task.State = images.CriugoTaskState_CRIUGO_TASK_RUNNING
	}
	return more, nil
}

// seizeThread seizes tid of pid and waits until it stops. It returns
// errThreadGone when the thread exits first and errZombie for a zombie.
func (s *seizer) seizeThread(pid, tid int) error {
	if st, err := readStat(pid, tid); err == nil && (st.State == 'Z' || st.State == 'X') {
		return s.zombie(pid, tid)
	} else if err != nil && gone(err) {
		return errThreadGone
	}
	err := s.tr.Seize(tid, seizeOpts)
	switch {
	case err == nil:
	case errors.Is(err, unix.ESRCH):
		return errThreadGone
	case errors.Is(err, unix.EPERM):
		st, serr := readStatus(pid, tid)
		switch {
		case serr != nil && gone(serr):
			return errThreadGone
		case serr != nil:
			return fmt.Errorf("seize %s: %w", taskName(pid, tid), serr)
		case st.State == 'Z' || st.State == 'X':
			return s.zombie(pid, tid)
		case st.TracerPid == s.tr.ThreadID():
			// Born traced: a child or thread created by a task seized
			// with seizeOpts, attached to the tracer thread (TracerPid is
			// that thread's tid). It stops by itself; the interrupt is
			// harmless.
		case st.TracerPid != 0:
			return fmt.Errorf("seize %s: %w by pid %d", taskName(pid, tid), ErrTraced, st.TracerPid)
		default:
			return fmt.Errorf("seize %s: %w", taskName(pid, tid), classify(err))
		}
	default:
		return fmt.Errorf("seize %s: %w", taskName(pid, tid), err)
	}
	th := &seizedThread{pid: pid, tid: tid, attached: true}
	s.threads[tid] = th
	group, err := s.stop(tid)
	if err != nil {
		if errors.Is(err, errThreadGone) {
			delete(s.threads, tid)
		}
		return err
	}
	th.group = group
	return nil
}

// zombie handles a dead thread found in a listing. A dead thread other
// than the leader lingers only while its tracer has not reaped it: reap it
// if it is ours (it was born traced) and report it gone. A dead leader is
// errZombie.
func (s *seizer) zombie(pid, tid int) error {
	if tid == pid {
		return errZombie
	}
	_, _, _ = s.tr.Poll(tid) // ECHILD when it is not ours: the kernel reaps it
	return errThreadGone
}

// stop interrupts a seized thread and waits for it to settle in a
// PTRACE_EVENT_STOP. A signal being delivered meanwhile is delivered, not
// lost: its handler frame is set up and the pending interrupt stops the
// thread before any of it runs. group reports a job-control stop.
func (s *seizer) stop(tid int) (group bool, err error) {
	if err := s.tr.Interrupt(tid); err != nil && !errors.Is(err, unix.ESRCH) {
		return false, fmt.Errorf("interrupt tid %d: %w", tid, err)
	}
	deadline := time.Now().Add(s.timeout)
	for {
		st, ok, err := s.tr.WaitTimeout(tid, time.Until(deadline))
		if err != nil {
			if errors.Is(err, unix.ECHILD) {
				return false, errThreadGone
			}
			return false, fmt.Errorf("wait for tid %d: %w", tid, err)
		}
		if !ok {
			return false, fmt.Errorf("stop tid %d: %w after %v (uninterruptible sleep, or a v1 cgroup freezer?)", tid, ErrTimeout, s.timeout)
		}
		switch st.Kind {
		case ptrace.InterruptStop:
			return false, nil
		case ptrace.GroupStop:
			return true, nil
		case ptrace.SignalStop:
			err = s.tr.Cont(tid, unix.Signal(st.Signal))
		case ptrace.EventStop, ptrace.SyscallStop:
			err = s.tr.Cont(tid, 0)
		case ptrace.Exited, ptrace.Killed:
			return false, errThreadGone
		default:
			return false, fmt.Errorf("stop tid %d: %w: %v", tid, ptrace.ErrUnexpectedStop, st)
		}
		if err != nil {
			if errors.Is(err, unix.ESRCH) {
				continue // killed meanwhile: the wait reports it
			}
			return false, fmt.Errorf("resume tid %d: %w", tid, err)
		}
	}
}

// sortedThreads returns the seized threads of pid, leader first.
func (s *seizer) sortedThreads(pid int) []*seizedThread {
	var out []*seizedThread
	for _, th := range s.threads {
		if th.pid == pid {
			out = append(out, th)
		}
	}
	slices.SortFunc(out, func(a, b *seizedThread) int {
		switch {
		case a.tid == pid:
			return -1
		case b.tid == pid:
			return 1
		}
		return a.tid - b.tid
	})
	return out
}

// detachProcess lets go of every seized thread of pid, with no signal.
func (s *seizer) detachProcess(pid int) error {
	var errs []error
	for _, th := range s.sortedThreads(pid) {
		if err := s.detach(th, 0); err != nil {
			errs = append(errs, err)
		}
		delete(s.threads, th.tid)
	}
	return errors.Join(errs...)
}

// detachAll lets go of every thread still attached, with no signal: the
// rollback of a freeze that failed before the tree was held.
func (s *seizer) detachAll() error {
	var errs []error
	for _, th := range s.threads {
		if err := s.detach(th, 0); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// detach detaches one thread. A thread that is gone needs nothing; one not
// in a ptrace stop (ESRCH while it lives) is left to the kernel, which
// detaches it when the tracer thread exits.
func (s *seizer) detach(th *seizedThread, sig unix.Signal) error {
	if !th.attached {
		return nil
	}
	err := s.tr.Detach(th.tid, sig)
	if err != nil && !errors.Is(err, unix.ESRCH) {
		return fmt.Errorf("detach tid %d: %w", th.tid, err)
	}
	th.attached = false
	return nil
}

// hold turns the ptrace stops into job-control stops that outlive
// criu-seize: a SIGSTOP is queued to every running task while all its
// threads are still stopped, then every thread is detached. Each thread
// takes the stop before it returns to user space, so no code of the tree
// runs. A task already stopped by job control needs no signal: detaching
// puts it back into its group stop. On failure the tasks are continued.
func (s *seizer) hold(tree *Tree) (err error) {
	order := tree.Order()
	defer func() {
		if err == nil {
			return
		}
		// Before the caller detaches what is still attached: SIGCONT
		// flushes a SIGSTOP still queued, or ends a stop already taken.
		var errs []error
		for _, task := range order {
			if task.StoppedByUs {
				if kerr := unix.Kill(task.Pid, unix.SIGCONT); kerr != nil && kerr != unix.ESRCH {
					errs = append(errs, fmt.Errorf("continue pid %d: %w", task.Pid, kerr))
				}
				task.StoppedByUs = false
			}
		}
		if uerr := errors.Join(errs...); uerr != nil {
			err = fmt.Errorf("%w; undo: %w", err, uerr)
		}
	}()
	for _, task := range order {
		if task.State != images.CriugoTaskState_CRIUGO_TASK_RUNNING {
			continue
		}
		if err := unix.Kill(task.Pid, unix.SIGSTOP); err != nil {
			return fmt.Errorf("stop pid %d: %w", task.Pid, classify(err))
		}
		task.StoppedByUs = true
	}
	for _, task := range order {
		for _, th := range s.sortedThreads(task.Pid) {
			if err := s.detach(th, 0); err != nil {
				return err
			}
		}
	}
	return waitStopped(order, s.timeout)
}

// waitStopped waits until every thread of every live task shows the
// job-control stop ('T') in /proc.
func waitStopped(order []*Task, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	nap := 50 * time.Microsecond
	for _, task := range order {
		for _, th := range task.Threads {
			for {
				st, err := readStat(task.Pid, th.Tid)
				if err != nil {
					return fmt.Errorf("check stop of %s: %w", taskName(task.Pid, th.Tid), classify(err))
				}
				if st.State == 'T' {
					break
				}
				if time.Now().After(deadline) {
					return fmt.Errorf("check stop of %s: state %q: %w", taskName(task.Pid, th.Tid), st.State, ErrTimeout)
				}
				time.Sleep(nap)
				if nap < 5*time.Millisecond {
					nap *= 2
				}
			}
		}
	}
	return nil
}

// threadIDs lists the tids of task.
func threadIDs(task *Task) []int {
	tids := make([]int, len(task.Threads))
	for i, th := range task.Threads {
		tids[i] = th.Tid
	}
	return tids
}

// taskName names a thread for messages: "pid 42", or "tid 43 of pid 42".
func taskName(pid, tid int) string {
	if tid == pid || tid == 0 {
		return fmt.Sprintf("pid %d", pid)
	}
	return fmt.Sprintf("tid %d of pid %d", tid, pid)
}
