package proc

import (
	"fmt"
	"io"
	"strings"
)

// RlimInfinity is RLIM_INFINITY, printed as "unlimited".
const RlimInfinity = ^uint64(0)

// NumRlimits is RLIM_NLIMITS on Linux.
const NumRlimits = 16

// rlimitNames are the names /proc/PID/limits gives the resources, indexed
// by RLIMIT_* number.
var rlimitNames = [NumRlimits]string{
	0:  "Max cpu time",
	1:  "Max file size",
	2:  "Max data size",
	3:  "Max stack size",
	4:  "Max core file size",
	5:  "Max resident set",
	6:  "Max processes",
	7:  "Max open files",
	8:  "Max locked memory",
	9:  "Max address space",
	10: "Max file locks",
	11: "Max pending signals",
	12: "Max msgqueue size",
	13: "Max nice priority",
	14: "Max realtime priority",
	15: "Max realtime timeout",
}

// Rlimit is a soft and hard limit; RlimInfinity for "unlimited".
type Rlimit struct {
	Cur, Max uint64
}

// Limits are a task's resource limits, indexed by RLIMIT_* number.
type Limits [NumRlimits]Rlimit

// ParseLimits parses /proc/PID/limits:
//
//	Limit                     Soft Limit           Hard Limit           Units
//	Max open files            1024                 4096                 files
//
// The name column is 25 characters wide and holds spaces, so lines are
// matched by name. Every resource must be present; lines of resources a
// newer kernel may add are skipped.
func ParseLimits(r io.Reader) (*Limits, error) {
	lr := newLineReader(r, "limits")
	var l Limits
	var seen [NumRlimits]bool
	first := true
	for {
		line, err := lr.next()
		if err != nil {
			return nil, err
		}
		if line == nil {
			break
		}
		s := string(line)
		if first {
			first = false
			if strings.HasPrefix(s, "Limit ") {
				continue
			}
		}
		res := -1
		for i, n := range rlimitNames {
			if strings.HasPrefix(s, n+" ") {
				res = i
				break
			}
		}
		if res < 0 {
			continue
		}
		f := strings.Fields(s[len(rlimitNames[res]):])
		if len(f) < 2 {
			return nil, lr.errf(ErrSyntax, "%s: want soft and hard limit", rlimitNames[res])
		}
		cur, ok1 := parseLimit(f[0])
		max, ok2 := parseLimit(f[1])
		if !ok1 || !ok2 {
			return nil, lr.errf(ErrSyntax, "%s: bad limits %q %q", rlimitNames[res], f[0], f[1])
		}
		l[res] = Rlimit{Cur: cur, Max: max}
		seen[res] = true
	}
	for i, ok := range seen {
		if !ok {
			return nil, &ParseError{Path: "limits", Msg: fmt.Sprintf("resource %d (%s)", i, rlimitNames[i]), Err: ErrMissing}
		}
	}
	return &l, nil
}

func parseLimit(s string) (uint64, bool) {
	if s == "unlimited" {
		return RlimInfinity, true
	}
	return parseUint(s, 10, 64)
}
