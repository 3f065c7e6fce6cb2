package ptrace

import (
	"fmt"
	"syscall"
)

// StopKind tells why wait4 returned for a tracee.
type StopKind int

const (
	// SignalStop: signal-delivery-stop. Resuming with Signal delivers it,
	// resuming with 0 discards it.
	SignalStop StopKind = iota + 1
	// GroupStop: PTRACE_EVENT_STOP caused by a stop signal (SIGSTOP,
	// SIGTSTP, SIGTTIN, SIGTTOU); Signal is that signal.
	GroupStop
	// InterruptStop: PTRACE_EVENT_STOP caused by PTRACE_INTERRUPT (or by
	// PTRACE_LISTEN ending); Signal is SIGTRAP.
	InterruptStop
	// SyscallStop: syscall-enter or syscall-exit stop. Only reported as
	// such when the tracee was seized with OptTraceSysGood; otherwise it
	// looks like a SIGTRAP SignalStop. GetSyscallInfo tells entry from exit.
	SyscallStop
	// EventStop: another PTRACE_EVENT_* stop (clone, fork, exec, exit...);
	// Event says which.
	EventStop
	// Exited: the tracee exited; Status holds its exit code.
	Exited
	// Killed: the tracee was killed by Signal.
	Killed
)

var stopNames = map[StopKind]string{
	SignalStop:    "signal-delivery-stop",
	GroupStop:     "group-stop",
	InterruptStop: "interrupt-stop",
	SyscallStop:   "syscall-stop",
	EventStop:     "event-stop",
	Exited:        "exited",
	Killed:        "killed",
}

func (k StopKind) String() string {
	if s, ok := stopNames[k]; ok {
		return s
	}
	return fmt.Sprintf("StopKind(%d)", int(k))
}

// Stop is one decoded wait4 result.
type Stop struct {
	Tid    int
	Kind   StopKind
	Signal syscall.Signal // the stop or delivered or killing signal
	Event  int            // PTRACE_EVENT_* for EventStop, GroupStop and InterruptStop
	Status int            // exit code for Exited
}

func (s Stop) String() string {
	switch s.Kind {
	case Exited:
		return fmt.Sprintf("tid %d exited with %d", s.Tid, s.Status)
	case Killed, SignalStop, GroupStop:
		return fmt.Sprintf("tid %d %s (%v)", s.Tid, s.Kind, s.Signal)
	case EventStop:
		return fmt.Sprintf("tid %d %s (event %d)", s.Tid, s.Kind, s.Event)
	}
	return fmt.Sprintf("tid %d %s", s.Tid, s.Kind)
}

// Stopped reports whether the tracee is in a ptrace stop (and so accepts
// requests), as opposed to gone.
func (s Stop) Stopped() bool { return s.Kind != Exited && s.Kind != Killed }
