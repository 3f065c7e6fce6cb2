package proc

import (
	"bytes"
	"io"
	"strings"
)

// VmFlags are the two-letter flags of the "VmFlags:" line of smaps, one bit
// each. The bit numbers are this package's own, not the kernel's VM_* bits.
type VmFlags uint64

const (
	VmRead        VmFlags = 1 << iota // rd
	VmWrite                           // wr
	VmExec                            // ex
	VmShared                          // sh
	VmMayRead                         // mr
	VmMayWrite                        // mw
	VmMayExec                         // me
	VmMayShare                        // ms
	VmGrowsDown                       // gd
	VmPfnMap                          // pf
	VmDenyWrite                       // dw (kernels before 5.15)
	VmLocked                          // lo
	VmIO                              // io
	VmSeqRead                         // sr
	VmRandRead                        // rr
	VmDontCopy                        // dc: MADV_DONTFORK
	VmDontExpand                      // de
	VmLockOnFault                     // lf
	VmAccount                         // ac
	VmNoReserve                       // nr
	VmHugeTLB                         // ht
	VmSync                            // sf
	VmArch1                           // ar
	VmWipeOnFork                      // wf: MADV_WIPEONFORK
	VmDontDump                        // dd: MADV_DONTDUMP
	VmArm64BTI                        // bt
	VmMPX                             // mp (kernels before 5.6)
	VmSoftDirty                       // sd
	VmMixedMap                        // mm
	VmHugePage                        // hg: MADV_HUGEPAGE
	VmNoHugePage                      // nh: MADV_NOHUGEPAGE
	VmMergeable                       // mg: MADV_MERGEABLE (KSM)
	VmUffdMissing                     // um
	VmUffdWP                          // uw
	VmUffdMinor                       // ui
	VmMTE                             // mt
	VmShadowStack                     // ss
	VmDroppable                       // dp
	VmSealed                          // sl: mseal()
)

var vmFlagNames = [...]string{
	"rd", "wr", "ex", "sh", "mr", "mw", "me", "ms", "gd", "pf", "dw", "lo", "io", "sr", "rr",
	"dc", "de", "lf", "ac", "nr", "ht", "sf", "ar", "wf", "dd", "bt", "mp", "sd", "mm", "hg",
	"nh", "mg", "um", "uw", "ui", "mt", "ss", "dp", "sl",
}

var vmFlagByName = func() map[string]VmFlags {
	m := make(map[string]VmFlags, len(vmFlagNames))
	for i, n := range vmFlagNames {
		m[n] = 1 << i
	}
	return m
}()

// String gives the flags as smaps prints them, in this package's order.
func (f VmFlags) String() string {
	var s []string
	for i, n := range vmFlagNames {
		if f&(1<<i) != 0 {
			s = append(s, n)
		}
	}
	return strings.Join(s, " ")
}

// ParseSmaps parses the text of /proc/PID/smaps: the maps line of each
// mapping followed by "Key: value" lines, of which VmFlags, Rss, Swap and
// Anonymous are kept.
func ParseSmaps(r io.Reader) ([]VMA, error) {
	lr := newLineReader(r, "smaps")
	var vmas []VMA
	for {
		line, err := lr.next()
		if err != nil {
			return nil, err
		}
		if line == nil {
			return vmas, nil
		}
		// A mapping line starts with a hex digit and its first word holds a
		// '-'; a counter line starts with a capitalised key and a colon.
		if isVMALine(line) {
			v, err := parseVMALine(line)
			if err != nil {
				return nil, lr.errf(ErrSyntax, "%s", err)
			}
			vmas = append(vmas, v)
			continue
		}
		colon := bytes.IndexByte(line, ':')
		if colon < 0 {
			return nil, lr.errf(ErrSyntax, "no colon in %q", line)
		}
		if len(vmas) == 0 {
			return nil, lr.errf(ErrSyntax, "field %s before the first mapping", line[:colon])
		}
		// Most of the ~25 counter lines of a mapping are not kept: look at
		// the key before making strings of it.
		if !smapsKept(line[:colon]) {
			continue
		}
		key, val, _ := cutField(line)
		v := &vmas[len(vmas)-1]
		switch key {
		case "VmFlags":
			for _, n := range strings.Fields(val) {
				if bit, ok := vmFlagByName[n]; ok {
					v.VmFlags |= bit
				} else {
					v.UnknownVmFlags = append(v.UnknownVmFlags, n)
				}
			}
		case "Rss":
			v.Rss, err = kbField(val)
		case "Swap":
			v.Swap, err = kbField(val)
		case "Anonymous":
			v.Anonymous, err = kbField(val)
		}
		if err != nil {
			return nil, lr.errf(ErrSyntax, "field %s: %s", key, err)
		}
	}
}

func smapsKept(key []byte) bool {
	switch string(key) { // no allocation: the compiler compares in place
	case "VmFlags", "Rss", "Swap", "Anonymous":
		return true
	}
	return false
}

func isVMALine(line []byte) bool {
	sp := bytes.IndexByte(line, ' ')
	if sp < 0 {
		return false
	}
	c := line[0]
	return (c >= '0' && c <= '9' || c >= 'a' && c <= 'f') && bytes.IndexByte(line[:sp], '-') > 0
}

// kbField parses "123 kB" into bytes.
func kbField(s string) (uint64, error) {
	n, ok := strings.CutSuffix(s, " kB")
	if !ok {
		return 0, badValue(s)
	}
	v, ok := parseUint(strings.TrimSpace(n), 10, 54)
	if !ok {
		return 0, badValue(s)
	}
	return v << 10, nil
}
