package ptrace

import (
	"runtime"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Options are PTRACE_O_* flags given to Seize.
type Options uint

// The options criugo uses.
const (
	OptTraceSysGood   Options = unix.PTRACE_O_TRACESYSGOOD
	OptTraceClone     Options = unix.PTRACE_O_TRACECLONE
	OptTraceExit      Options = unix.PTRACE_O_TRACEEXIT
	OptExitKill       Options = unix.PTRACE_O_EXITKILL
	OptSuspendSeccomp Options = unix.PTRACE_O_SUSPEND_SECCOMP
)

// Tracer serves ptrace requests on one OS thread of its own. Its methods
// are safe for concurrent use; they run one at a time, in the order the
// thread receives them.
type Tracer struct {
	reqs      chan func()
	done      chan struct{}
	exited    chan struct{}
	closeOnce sync.Once
	threadID  int

	// Touched only on the tracer thread.
	opts       map[int]Options
	xstateSize int
}

// NewTracer starts a tracer thread. Close it when done: its tracees are
// detached by the kernel when the thread exits.
func NewTracer() *Tracer {
	t := newTracer()
	ready := make(chan int, 1)
	go t.run(ready)
	t.threadID = <-ready
	return t
}

func newTracer() *Tracer {
	return &Tracer{
		reqs:   make(chan func()),
		done:   make(chan struct{}),
		exited: make(chan struct{}),
		opts:   make(map[int]Options),
	}
}

// run locks its goroutine to an OS thread for good and serves requests.
// Returning with the thread still locked makes the runtime end the thread.
func (t *Tracer) run(ready chan<- int) {
	runtime.LockOSThread()
	if unix.Gettid() == unix.Getpid() {
		// This is the main thread: if a locked goroutine ended here Go
		// would park the thread rather than end it, and the tracees would
		// stay stopped. Hand over to a new goroutine, which cannot be
		// scheduled on this thread while it is locked to us, then let go.
		handed := make(chan int)
		go t.run(handed)
		ready <- <-handed
		runtime.UnlockOSThread()
		return
	}
	defer close(t.exited)
	ready <- unix.Gettid()
	for {
		select {
		case f := <-t.reqs:
			f()
		case <-t.done:
			return
		}
	}
}

// ThreadID is the kernel tid of the tracer thread: the tracees' tracer as
// /proc/TID/status TracerPid shows it (as the thread group's pid).
func (t *Tracer) ThreadID() int { return t.threadID }

// Close ends the tracer thread after the request in progress, if any.
// Later requests fail with ErrClosed.
func (t *Tracer) Close() error {
	t.closeOnce.Do(func() { close(t.done) })
	<-t.exited
	return nil
}

// do runs f on the tracer thread and returns its error.
func (t *Tracer) do(f func() error) error {
	errc := make(chan error, 1)
	select {
	case t.reqs <- func() { errc <- f() }:
		return <-errc
	case <-t.done:
		return ErrClosed
	}
}

// Seize attaches to tid with PTRACE_SEIZE and the given options. The
// thread keeps running; Interrupt stops it.
func (t *Tracer) Seize(tid int, opts Options) error {
	return t.do(func() error {
		if _, err := ptrace(unix.PTRACE_SEIZE, tid, 0, uintptr(opts)); err != nil {
			return reqError("seize", tid, err)
		}
		t.opts[tid] = opts
		return nil
	})
}

// SetOptions replaces the PTRACE_O_* options of a stopped tracee.
func (t *Tracer) SetOptions(tid int, opts Options) error {
	return t.do(func() error {
		if _, err := ptrace(unix.PTRACE_SETOPTIONS, tid, 0, uintptr(opts)); err != nil {
			return reqError("setoptions", tid, err)
		}
		t.opts[tid] = opts
		return nil
	})
}

// Options returns the options tid was seized (or last set) with, and
// whether this Tracer has seized it.
func (t *Tracer) Options(tid int) (Options, bool) {
	var o Options
	var ok bool
	if err := t.do(func() error { o, ok = t.opts[tid]; return nil }); err != nil {
		return 0, false
	}
	return o, ok
}

// Interrupt asks a seized tracee to enter PTRACE_EVENT_STOP
// (PTRACE_INTERRUPT). Wait for the stop with Wait.
func (t *Tracer) Interrupt(tid int) error {
	return t.do(func() error {
		_, err := ptrace(unix.PTRACE_INTERRUPT, tid, 0, 0)
		return reqError("interrupt", tid, err)
	})
}

// Cont resumes a stopped tracee, delivering sig unless it is 0.
func (t *Tracer) Cont(tid int, sig unix.Signal) error {
	return t.resume(unix.PTRACE_CONT, "cont", tid, sig)
}

// Syscall resumes a stopped tracee until its next syscall entry or exit.
func (t *Tracer) Syscall(tid int, sig unix.Signal) error {
	return t.resume(unix.PTRACE_SYSCALL, "syscall", tid, sig)
}

// SingleStep resumes a stopped tracee for one instruction
// (PTRACE_SINGLESTEP); it stops again with SIGTRAP.
func (t *Tracer) SingleStep(tid int) error {
	return t.resume(unix.PTRACE_SINGLESTEP, "singlestep", tid, 0)
}

// Detach detaches from a stopped tracee, delivering sig unless it is 0. A
// tracee of a group-stopped process goes back to its group-stop.
func (t *Tracer) Detach(tid int, sig unix.Signal) error {
	return t.do(func() error {
		_, err := ptrace(unix.PTRACE_DETACH, tid, 0, uintptr(sig))
		if err == nil {
			delete(t.opts, tid)
		}
		return reqError("detach", tid, err)
	})
}

func (t *Tracer) resume(req int, op string, tid int, sig unix.Signal) error {
	return t.do(func() error { return resume(req, op, tid, sig) })
}

func resume(req int, op string, tid int, sig unix.Signal) error {
	_, err := ptrace(req, tid, 0, uintptr(sig))
	return reqError(op, tid, err)
}

// Wait blocks until tid stops or ends (wait4 with __WALL) and decodes why.
// It holds the tracer thread while it waits: ask only for stops that come
// soon (after Interrupt, Syscall, or a Cont into a known trap). WaitTimeout
// does not hold the thread.
func (t *Tracer) Wait(tid int) (Stop, error) {
	var st Stop
	err := t.do(func() error {
		var err error
		st, err = t.wait4(tid, 0)
		return err
	})
	return st, err
}

// Poll is Wait without blocking: ok is false when tid has not stopped.
func (t *Tracer) Poll(tid int) (st Stop, ok bool, err error) {
	err = t.do(func() error {
		var err error
		st, err = t.wait4(tid, unix.WNOHANG)
		ok = err == nil && st.Tid != 0
		return err
	})
	return st, ok, err
}

// WaitTimeout polls for a stop of tid until it comes or d passes, letting
// other requests run in between. It returns ok false on timeout.
func (t *Tracer) WaitTimeout(tid int, d time.Duration) (Stop, bool, error) {
	deadline := time.Now().Add(d)
	// Most stops come within microseconds (an interrupt of a running
	// thread): a few polls back to back first, then naps that grow, so
	// that a wide tree does not wait a nap per thread.
	nap := 20 * time.Microsecond
	for i := 0; ; i++ {
		st, ok, err := t.Poll(tid)
		if err != nil || ok {
			return st, ok, err
		}
		if time.Now().After(deadline) {
			return Stop{}, false, nil
		}
		if i < spinPolls {
			continue
		}
		time.Sleep(nap)
		if nap < time.Millisecond {
			nap *= 2
		}
	}
}

// spinPolls is how many polls WaitTimeout makes before it naps.
const spinPolls = 8

func (t *Tracer) wait4(tid, flags int) (Stop, error) {
	var ws unix.WaitStatus
	for {
		got, err := unix.Wait4(tid, &ws, flags|unix.WALL, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return Stop{}, reqError("wait4", tid, err)
		}
		if got == 0 {
			return Stop{}, nil
		}
		st := decodeStatus(got, ws)
		if !st.Stopped() {
			delete(t.opts, tid)
		}
		return st, nil
	}
}

// InterruptWait brings a running tracee (one already stopped and waited for would wait for good) into a
// PTRACE_EVENT_STOP: InterruptStop, or GroupStop when its process is
// stopped by a signal. A signal that was about to be delivered when the
// interrupt came is delivered (its handler runs), not lost, and the wait
// goes on. It fails with ErrUnexpectedStop if the tracee ends.
func (t *Tracer) InterruptWait(tid int) (Stop, error) {
	if err := t.Interrupt(tid); err != nil {
		return Stop{}, err
	}
	for {
		st, err := t.Wait(tid)
		if err != nil {
			return st, err
		}
		switch st.Kind {
		case InterruptStop, GroupStop:
			return st, nil
		case SignalStop:
			// The pending interrupt stops it again right after.
			if err := t.Cont(tid, st.Signal); err != nil {
				return st, err
			}
		case SyscallStop, EventStop:
			if err := t.Cont(tid, 0); err != nil {
				return st, err
			}
		default:
			return st, &stopError{op: "interrupt", st: st}
		}
	}
}

// stopError is ErrUnexpectedStop with the stop that came.
type stopError struct {
	op string
	st Stop
}

func (e *stopError) Error() string { return e.op + ": unexpected stop: " + e.st.String() }
func (e *stopError) Unwrap() error { return ErrUnexpectedStop }
