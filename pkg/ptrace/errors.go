package ptrace

import (
	"errors"
	"fmt"
	"syscall"
)

// Sentinel errors. Errors returned by this package wrap one of them, and
// those that come from a failed system call also wrap its errno.
var (
	// ErrRequest: a ptrace request or wait4 failed; the errno says why.
	ErrRequest = errors.New("ptrace request failed")
	// ErrClosed: the Tracer was closed before the request ran.
	ErrClosed = errors.New("tracer closed")
	// ErrFault: a memory transfer stopped at an address the tracee has not
	// mapped (or not with the needed access).
	ErrFault = errors.New("tracee memory fault")
	// ErrTooBig: the kernel reported more data than this package accepts
	// (a siginfo queue or a seccomp filter beyond its bound).
	ErrTooBig = errors.New("tracee data over bound")
	// ErrUnexpectedStop: the tracee stopped (or exited) in a way the
	// request did not expect.
	ErrUnexpectedStop = errors.New("unexpected tracee stop")
)

// Error is a failed system call on behalf of a tracee. It matches
// ErrRequest and its errno with errors.Is.
type Error struct {
	Op    string // request name: "seize", "getregset", "wait4", ...
	Tid   int
	Errno syscall.Errno
}

func (e *Error) Error() string {
	return fmt.Sprintf("ptrace %s tid %d: %v", e.Op, e.Tid, e.Errno)
}

// Unwrap gives ErrRequest and the errno, so that errors.Is matches either.
func (e *Error) Unwrap() []error { return []error{ErrRequest, e.Errno} }

func reqError(op string, tid int, err error) error {
	if err == nil {
		return nil
	}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return &Error{Op: op, Tid: tid, Errno: errno}
	}
	return fmt.Errorf("ptrace %s tid %d: %w", op, tid, err)
}
