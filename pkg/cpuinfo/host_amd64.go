package cpuinfo

import (
	"sync"

	"google.golang.org/protobuf/proto"

	"github.com/criugo/criugo/images"
	"github.com/criugo/criugo/pkg/x86"
)

// ErrCPUFeature is what a failed check wraps: x86's sentinel, so that
// callers testing for a CPU that lacks what an image needs find both this
// check and x86.CheckFeatures.
var ErrCPUFeature = x86.ErrCPUFeature

// xfeatureNames names xsave components as package x86 does.
func xfeatureNames(m uint64) string { return x86.Features(m).String() }

var (
	hostOnce  sync.Once
	hostEntry *images.CpuinfoX86Entry
	hostErr   error
)

// Host describes the CPU this runs on (Read with the CPUID instruction).
// Each call returns a new copy.
func Host() (*images.CpuinfoX86Entry, error) {
	hostOnce.Do(func() { hostEntry, hostErr = Read(x86.CPUID) })
	if hostErr != nil {
		return nil, hostErr
	}
	return proto.Clone(hostEntry).(*images.CpuinfoX86Entry), nil
}
