package cpuinfo

import (
	"errors"
	"fmt"
	"strings"
)

// Caps is a set of CRIU's --cpu-cap checks (see the package doc).
type Caps uint

// The checks, with CRIU's bit values (CPU_CAP_*).
const (
	CapFPU Caps = 1 << 0
	CapCPU Caps = 1 << 1
	CapINS Caps = 1 << 2

	CapNone Caps = 0
	CapAll       = CapFPU | CapCPU | CapINS
	// CapDefault is CRIU's default set, which --cpu-cap adds to.
	CapDefault = CapFPU | CapINS
	// CapRestore is what a restore checks an image set's cpuinfo.img
	// with: CRIU's documented default for restore, fpu.
	CapRestore = CapFPU
)

// ErrBadCaps is returned by ParseCaps for a word it does not know.
var ErrBadCaps = errors.New("unknown cpu-cap")

// ParseCaps reads a --cpu-cap argument as CRIU does: names (fpu, ins,
// cpu, all, none) one after the other, optionally separated by commas,
// each adding its checks to CapDefault, or taking them away when preceded
// by ^ (a ^ lasts until the next comma; "^none" is all). "none" empties
// the set. An empty argument, a bare --cpu-cap, is all.
func ParseCaps(s string) (Caps, error) {
	if s == "" {
		return CapAll, nil
	}
	c, inverse := CapDefault, false
	apply := func(x Caps) {
		if inverse {
			c &^= x
		} else {
			c |= x
		}
	}
	for rest := s; rest != ""; {
		switch {
		case rest[0] == '^':
			inverse = !inverse
			rest = rest[1:]
		case rest[0] == ',':
			inverse = false
			rest = rest[1:]
		case strings.HasPrefix(rest, "fpu"):
			apply(CapFPU)
			rest = rest[3:]
		case strings.HasPrefix(rest, "all"):
			apply(CapAll)
			rest = rest[3:]
		case strings.HasPrefix(rest, "none"):
			if inverse {
				c = CapAll
			} else {
				c = CapNone
			}
			rest = rest[4:]
		case strings.HasPrefix(rest, "cpu"):
			apply(CapCPU)
			rest = rest[3:]
		case strings.HasPrefix(rest, "ins"):
			apply(CapINS)
			rest = rest[3:]
		default:
			return 0, fmt.Errorf("--cpu-cap %q: %q: %w (want fpu, ins, cpu, all or none)", s, rest, ErrBadCaps)
		}
	}
	return c, nil
}

// String lists the checks, "fpu,ins", or "none".
func (c Caps) String() string {
	var parts []string
	for _, x := range []struct {
		c    Caps
		name string
	}{{CapFPU, "fpu"}, {CapINS, "ins"}, {CapCPU, "cpu"}} {
		if c&x.c != 0 {
			parts = append(parts, x.name)
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ",")
}
