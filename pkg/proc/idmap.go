package proc

import (
	"io"
	"strings"
)

// IDExtent is one line of /proc/PID/uid_map or gid_map: Count ids from
// First in the process's user namespace are Lower.. in the namespace of
// whoever reads the file (the parent's, for a reader there).
type IDExtent struct {
	First, Lower, Count uint32
}

// ParseIDMap parses a uid_map or gid_map.
func ParseIDMap(r io.Reader) ([]IDExtent, error) {
	var out []IDExtent
	err := fieldLines(r, "id_map", 3, "first lower count", "extent", func(f []string) bool {
		first, ok1 := parseUint(f[0], 10, 32)
		lower, ok2 := parseUint(f[1], 10, 32)
		count, ok3 := parseUint(f[2], 10, 32)
		out = append(out, IDExtent{First: uint32(first), Lower: uint32(lower), Count: uint32(count)})
		return ok1 && ok2 && ok3
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ParseSetgroups parses /proc/PID/setgroups: whether setgroups(2) is
// allowed in the process's user namespace ("allow") or not ("deny").
func ParseSetgroups(r io.Reader) (bool, error) {
	lr := newLineReader(r, "setgroups")
	line, err := lr.next()
	if err != nil {
		return false, err
	}
	switch strings.TrimSpace(string(line)) {
	case "allow":
		return true, nil
	case "deny":
		return false, nil
	}
	return false, lr.errf(ErrSyntax, "want allow or deny, got %q", line)
}
