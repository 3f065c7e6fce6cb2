package dump

import (
	"errors"
	"fmt"

	"github.com/criugo/criugo/internal/errdefs"
	"github.com/criugo/criugo/pkg/x86"
)

// Sentinels of this package; errors wrap them (and the errno or the error
// of the layer below), so callers test them with errors.Is.
var (
	// ErrBadInput: the seize stream or directory is not what criu-seize
	// writes (a missing inventory, pstree or freeze record, a pstree that
	// does not match the freeze record, a truncated stream).
	ErrBadInput = errors.New("bad seize input")
	// ErrNotSupported: the tree holds a resource this dump cannot record
	// (a socket, a device, a SysV shared memory mapping, ...).
	ErrNotSupported = errdefs.ErrNotSupported
	// ErrKernel: the kernel answered something this package does not
	// understand (an xsave layout it cannot decode, a /proc file out of
	// shape).
	ErrKernel = errors.New("unexpected kernel data")
	// ErrTaskChanged: a task of the frozen tree is gone or is not the one
	// the freeze record describes.
	ErrTaskChanged = errors.New("task changed while frozen")
	// ErrOptions: options that do not go together (a pre-dump without an
	// image directory, a parent directory that cannot be read).
	ErrOptions = errors.New("bad options")
)

// fromX86 makes an error of package x86 about the kernel's xsave area
// match ErrKernel too.
func fromX86(err error) error {
	if errors.Is(err, x86.ErrBadArea) {
		return fmt.Errorf("%w: %w", ErrKernel, err)
	}
	return err
}
