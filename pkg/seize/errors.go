package seize

import (
	"errors"
	"fmt"
	"syscall"

	"github.com/criugo/criugo/internal/errdefs"
)

// Sentinel errors. Every error of this package wraps one of them or an I/O
// error; those that come from a failed system call also match the errno
// (errors.Is(err, unix.ESRCH) holds for ErrNoProcess from the kernel).
var (
	// ErrNoProcess: the pid names no live task.
	ErrNoProcess = errors.New("no such process")
	// ErrNotProcess: the pid names a thread, not a thread-group leader.
	ErrNotProcess = errors.New("is a thread, not a process")
	// ErrPermission: the kernel refused to let criu-seize trace or signal
	// a task, or to write a cgroup file.
	ErrPermission = errors.New("operation not permitted")
	// ErrTraced: a task is already traced by another tracer (a debugger,
	// strace, or a stage still attached).
	ErrTraced = errors.New("already traced")
	// ErrSelf: the tree holds criu-seize itself (the root is criu-seize
	// or one of its ancestors).
	ErrSelf = errors.New("tree holds criu-seize itself")
	// ErrTimeout: a task or a cgroup did not stop in time.
	ErrTimeout = errors.New("timed out")
	// ErrUnstable: the tree kept changing (tasks forking and dying) through
	// every walk criu-seize made.
	ErrUnstable = errors.New("tree does not settle")
	// ErrBadTree: the tasks do not form one tree (a cgroup holding several
	// trees, or a task outside the cgroup).
	ErrBadTree = errors.New("tasks do not form one tree")
	// ErrNoFreezer: a cgroup directory has neither freezer.state (v1) nor
	// cgroup.freeze (v2).
	ErrNoFreezer = errors.New("no cgroup freezer")
	// ErrNotSupported: a task state criu-seize cannot describe, such as a
	// thread-group leader that exited while its other threads run.
	ErrNotSupported = errdefs.ErrNotSupported
	// ErrBadRecord: a freeze record that is missing, malformed or says
	// something impossible (no method, a pid of 0, ...).
	ErrBadRecord = errors.New("bad freeze record")
	// ErrBadOptions: contradictory or missing options.
	ErrBadOptions = errors.New("bad options")
)

// sysError is a sentinel together with the errno that caused it: it prints
// as the sentinel and matches both with errors.Is.
type sysError struct {
	sentinel error
	errno    syscall.Errno
}

func (e *sysError) Error() string   { return e.sentinel.Error() }
func (e *sysError) Unwrap() []error { return []error{e.sentinel, e.errno} }

// classify maps the errnos that have a sentinel to a sysError and leaves
// any other error as it is.
func classify(err error) error {
	var errno syscall.Errno
	if !errors.As(err, &errno) {
		return err
	}
	switch errno {
	case syscall.ESRCH, syscall.ENOENT:
		return &sysError{ErrNoProcess, errno}
	case syscall.EPERM, syscall.EACCES:
		return &sysError{ErrPermission, errno}
	}
	return err
}

// undone joins a failure with the outcome of undoing the freeze, so the
// message says whether the tree was left as it was found.
func undone(err, undoErr error) error {
	if undoErr != nil {
		return fmt.Errorf("%w; undo the freeze: %w", err, undoErr)
	}
	return fmt.Errorf("%w (freeze undone, tree left as found)", err)
}
