//go:build !amd64

package cpuinfo

import (
	"errors"
	"fmt"
	"runtime"

	"github.com/criugo/criugo/images"
)

// ErrCPUFeature is what a failed check wraps.
var ErrCPUFeature = errors.New("cpu feature missing")

func xfeatureNames(m uint64) string { return fmt.Sprintf("xsave components %#x", m) }

// Host fails off x86_64: there is no CPUID to describe the CPU with.
func Host() (*images.CpuinfoX86Entry, error) {
	return nil, fmt.Errorf("describe this CPU: %s is not x86_64: %w", runtime.GOARCH, ErrNotSupported)
}
