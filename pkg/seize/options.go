package seize

import (
	"io"
	"time"
)

// DefaultTimeout is how long criu-seize waits for a thread to stop or a
// cgroup to freeze when Options.Timeout is 0.
const DefaultTimeout = 10 * time.Second

// Options say what Run does. They map one to one to criu-seize's flags.
type Options struct {
	// Pid is the root of the tree to freeze (-t). With FreezeCgroup it
	// names the root among the cgroup's processes; 0 lets Run find the
	// one process of the cgroup whose parent is outside it.
	Pid int
	// FreezeCgroup freezes through this cgroup's freezer instead of
	// ptrace (--freeze-cgroup): a cgroup directory, v1 (freezer.state)
	// or v2 (cgroup.freeze).
	FreezeCgroup string
	// Dir is the image directory (-D). Empty: images go to Stdout as a
	// stream, and --thaw reads the stream from Stdin.
	Dir string
	// Thaw undoes the freeze a freeze record describes (--thaw) instead
	// of freezing.
	Thaw bool
	// Timeout bounds each wait for a thread to stop or a cgroup to
	// freeze; 0 means DefaultTimeout.
	Timeout time.Duration

	Stdin  io.Reader
	Stdout io.Writer
}

func (o *Options) timeout() time.Duration {
	if o.Timeout <= 0 {
		return DefaultTimeout
	}
	return o.Timeout
}
