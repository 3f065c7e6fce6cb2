package restore

import (
	"errors"
	"fmt"

	"github.com/criugo/criugo/internal/errdefs"
	"github.com/criugo/criugo/pkg/compel"
	"github.com/criugo/criugo/pkg/x86"
)

// Sentinel errors. Every error Restore returns wraps one of these (or an
// errno from the system call that failed), so callers can tell them apart
// with errors.Is.
var (
	// ErrPidInUse: a PID or TID named in pstree.img already belongs to a
	// live task, so the tree cannot get its PIDs back. Errors read
	// "pid 4242 (from pstree.img) is already in use".
	ErrPidInUse = errors.New("already in use")
	// ErrBadImage: an image is missing, or holds something inconsistent
	// with the rest of the set (a thread without its core, a VMA outside
	// the user address space, a pagemap that runs past its pages file).
	ErrBadImage = errors.New("bad image")
	// ErrNotSupported: the image set holds state this restorer does not
	// know how to bring back (a socket, a namespace, a seccomp filter, ...).
	ErrNotSupported = errdefs.ErrNotSupported
	// ErrNoTerminal: a shell job (Options.ShellJob) is to get
	// criu-restore's terminal, and its standard input is none.
	ErrNoTerminal = errors.New("no terminal")
	// ErrOptions: the image set needs an option the restore was not
	// given (images dumped with --tcp-close restore with it only).
	ErrOptions = errors.New("bad options")
	// ErrTaskDied: a task being restored exited or was killed before the
	// restore was finished.
	// It is compel's sentinel, which an injected call into a task that
	// dies returns.
	ErrTaskDied = compel.ErrTaskDied
)

// fromX86 makes an error of package x86 match this package's sentinel too.
func fromX86(err error) error {
	switch {
	case errors.Is(err, x86.ErrNotSupported):
		return fmt.Errorf("%w: %w", ErrNotSupported, err)
	case errors.Is(err, x86.ErrBadImage):
		return fmt.Errorf("%w: %w", ErrBadImage, err)
	}
	return err
}

// ErrCPUFeature is returned for an image whose FPU state needs an xsave
// feature this CPU does not enable (AVX-512 on a CPU without it, say).
var ErrCPUFeature = x86.ErrCPUFeature
