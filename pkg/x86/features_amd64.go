package x86

import (
	"errors"
	"fmt"
	"math/bits"
	"strings"
	"sync"

	"github.com/criugo/criugo/images"
)

// xgetbv executes XGETBV (cpuid_amd64.s); index 0 reads XCR0.
func xgetbv(index uint32) (eax, edx uint32)

// ErrCPUFeature is returned when state of an image needs an xsave feature
// that this CPU, or this kernel, does not enable.
var ErrCPUFeature = errors.New("cpu feature missing")

// Features is a set of xsave features: bit i is state component i, as in
// XCR0 and XSTATE_BV.
type Features uint64

// legacyFeatures are x87 and SSE, which every x86_64 CPU has and which an
// image without an xsave area holds.
const legacyFeatures Features = 0x3

// featureNames names the state components (Intel SDM vol. 1, 13.1).
var featureNames = map[int]string{
	0:  "x87",
	1:  "SSE",
	2:  "AVX",
	3:  "MPX bound registers",
	4:  "MPX bound config",
	5:  "AVX-512 opmask",
	6:  "AVX-512 ZMM_Hi256",
	7:  "AVX-512 Hi16_ZMM",
	8:  "processor trace",
	9:  "PKRU",
	10: "PASID",
	11: "CET user",
	12: "CET supervisor",
	13: "HDC",
	14: "UINTR",
	15: "LBR",
	16: "HWP",
	17: "AMX TILECFG",
	18: "AMX TILEDATA",
	19: "APX",
}

// String lists the features by name, "x87, SSE, AVX".
func (f Features) String() string {
	var names []string
	for m := uint64(f); m != 0; m &= m - 1 {
		i := bits.TrailingZeros64(m)
		if n, ok := featureNames[i]; ok {
			names = append(names, n)
		} else {
			names = append(names, fmt.Sprintf("xsave feature %d", i))
		}
	}
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

var (
	hostOnce     sync.Once
	hostFeatures Features
)

// HostFeatures returns the xsave features this CPU and kernel enable for
// user space: XCR0 when the kernel turned XSAVE on (CPUID.1:ECX.OSXSAVE),
// else x87 and SSE.
func HostFeatures() Features {
	hostOnce.Do(func() {
		hostFeatures = legacyFeatures
		if _, _, ecx, _ := cpuid(1, 0); ecx&(1<<27) != 0 {
			lo, hi := xgetbv(0)
			hostFeatures = Features(uint64(hi)<<32 | uint64(lo))
		}
	})
	return hostFeatures
}

// FpregsFeatures returns the features whose state an image's FPU entry
// holds: its XSTATE_BV, or x87 and SSE for an image without xsave.
func FpregsFeatures(fp *images.UserX86FpregsEntry) Features {
	if fp.GetXsave() == nil {
		return legacyFeatures
	}
	return Features(fp.GetXsave().GetXstateBv())
}

// CheckFeatures fails with ErrCPUFeature, naming what is missing, when
// need holds a feature that have lacks.
func CheckFeatures(need, have Features) error {
	missing := need &^ have
	if missing == 0 {
		return nil
	}
	return fmt.Errorf("needs %s (xsave features %#x), which this CPU does not enable (it has %s, xcr0 %#x): %w",
		missing, uint64(missing), have, uint64(have), ErrCPUFeature)
}

// XsaveFieldFeature returns the feature whose state a field of CRIU's
// user_x86_xsave_entry holds, by the field's name ("hi16_zmm"); ok is
// false for a field that holds no component's state (xstate_bv, cet).
func XsaveFieldFeature(field string) (f Features, ok bool) {
	for _, c := range components {
		if c.name == field {
			return 1 << c.feat, true
		}
	}
	return 0, false
}
