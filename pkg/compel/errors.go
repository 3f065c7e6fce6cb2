package compel

import (
	"errors"
	"fmt"
	"syscall"
)

// Sentinel errors.
var (
	// ErrNotEventStop: the thread is not in a PTRACE_EVENT_STOP (an
	// interrupt or group stop), the only stop compel starts from.
	ErrNotEventStop = errors.New("thread not in a PTRACE_EVENT_STOP")
	// ErrNotSupported: the thread runs code compel cannot inject into
	// (not 64-bit x86 user code).
	ErrNotSupported = errors.New("thread not supported")
	// ErrSeccomp: the task has a seccomp filter and was not seized with
	// PTRACE_O_SUSPEND_SECCOMP, so an injected syscall might kill it.
	ErrSeccomp = errors.New("seccomp active without PTRACE_O_SUSPEND_SECCOMP")
	// ErrParasite: the parasite misbehaved: it stopped or died, answered
	// with a wrong magic, or broke the protocol.
	ErrParasite = errors.New("parasite failed")
	// ErrTimeout: the parasite did not answer in time.
	ErrTimeout = errors.New("parasite timed out")
	// ErrCured: the parasite was already cured (or its thread left).
	ErrCured = errors.New("parasite cured")
	// ErrNoSlot: every thread slot of the parasite area is in use.
	ErrNoSlot = errors.New("no free parasite slot")
	// ErrSyscall: a syscall run in the target (injected, or by the
	// parasite) returned -errno; the error is a *SyscallError.
	ErrSyscall = errors.New("syscall in target failed")
	// ErrTaskDied: the thread exited or was killed while a syscall was
	// injected into it.
	ErrTaskDied = errors.New("task died")
)

// SyscallError is a syscall run in the target (injected, or by the
// parasite) that returned -errno. It matches ErrSyscall and its errno
// with errors.Is.
type SyscallError struct {
	Op    string // syscall or parasite command name
	Nr    int    // syscall number, -1 for a parasite command
	Tid   int    // thread it ran in
	Errno syscall.Errno
}

func (e *SyscallError) Error() string {
	return fmt.Sprintf("%s in tid %d: %v", e.Op, e.Tid, e.Errno)
}

// Unwrap gives ErrSyscall and the errno, so that errors.Is matches either.
func (e *SyscallError) Unwrap() []error { return []error{ErrSyscall, e.Errno} }
