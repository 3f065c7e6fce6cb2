package proc

import (
	"bytes"
	"fmt"
	"io"
	"strings"
)

// ParsePersonality parses /proc/PID/personality: the persona as "%08x".
func ParsePersonality(r io.Reader) (uint32, error) {
	b, err := readAll(r, "personality", 64)
	if err != nil {
		return 0, err
	}
	s := string(bytes.TrimSpace(b))
	v, ok := parseUint(s, 16, 32)
	if !ok {
		return 0, &ParseError{Path: "personality", Msg: fmt.Sprintf("%q", s), Err: ErrSyntax}
	}
	return uint32(v), nil
}

// maxChildrenLen bounds task/TID/children: pid_max is at most 2^22, so
// each pid takes at most 8 bytes with its blank, and there are fewer
// children than pids.
const maxChildrenLen = 8 << 22

// ParseChildren parses task/TID/children: the pids of the children this
// thread forked, separated by blanks, in no promised order.
func ParseChildren(r io.Reader) ([]int, error) {
	b, err := readAll(r, "children", maxChildrenLen)
	if err != nil {
		return nil, err
	}
	f := strings.Fields(string(b))
	out := make([]int, 0, len(f))
	for _, s := range f {
		v, ok := parseInt(s, 10, 32)
		if !ok || v <= 0 {
			return nil, &ParseError{Path: "children", Msg: fmt.Sprintf("pid %q", s), Err: ErrSyntax}
		}
		out = append(out, int(v))
	}
	return out, nil
}

// Cgroup is one line of /proc/PID/cgroup: "ID:controllers:path".
type Cgroup struct {
	ID          int      // hierarchy id, 0 for the cgroup v2 unified hierarchy
	Controllers []string // "cpu", "memory", "name=systemd"; empty for v2
	Path        string   // relative to the hierarchy's root (or the reader's cgroup namespace)
}

// ParseCgroup parses the text of /proc/PID/cgroup.
func ParseCgroup(r io.Reader) ([]Cgroup, error) {
	lr := newLineReader(r, "cgroup")
	var out []Cgroup
	for {
		line, err := lr.next()
		if err != nil {
			return nil, err
		}
		if line == nil {
			return out, nil
		}
		f := strings.SplitN(string(line), ":", 3)
		if len(f) != 3 {
			return nil, lr.errf(ErrSyntax, "want ID:controllers:path, got %q", line)
		}
		id, ok := parseInt(f[0], 10, 32)
		if !ok {
			return nil, lr.errf(ErrSyntax, "hierarchy id %q", f[0])
		}
		c := Cgroup{ID: int(id), Path: f[2]}
		if f[1] != "" {
			c.Controllers = strings.Split(f[1], ",")
		}
		out = append(out, c)
	}
}

// ParseNsLink parses a namespace link target, "net:[4026531840]", into
// its type and inode number.
func ParseNsLink(target string) (typ string, ino uint64, err error) {
	l := ParseLink(target)
	if l.Kind != LinkInode {
		return "", 0, &ParseError{Path: "ns", Msg: fmt.Sprintf("link %q", target), Err: ErrSyntax}
	}
	return l.Type, l.Ino, nil
}
