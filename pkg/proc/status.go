package proc

import (
	"io"
	"strconv"
	"strings"
)

// Status is what dump takes from /proc/PID/status (or task/TID/status).
// Signal and capability sets are bit masks with bit n-1 for signal n and
// bit n for capability n, as the kernel prints them.
type Status struct {
	Name      string // comm, unescaped (the kernel prints '\n' as `\n`)
	State     byte   // 'R', 'S', 'D', 'T', 't', 'Z', 'X', 'I', ...
	Tgid      int
	Pid       int
	PPid      int
	TracerPid int

	// Uid and Gid are real, effective, saved and filesystem ids.
	Uid [4]uint32
	Gid [4]uint32
	// Groups are the supplementary groups, in the kernel's order.
	Groups []uint32

	// NSpid, NStgid, NSpgid and NSsid list the ids in each pid namespace
	// from the one of the reading /proc down to the task's own. An id the
	// namespace cannot see is 0. Empty when the kernel does not print them.
	NSpid, NStgid, NSpgid, NSsid []int

	// SigQ: signals queued for the task's real uid, and the RLIMIT_SIGPENDING
	// limit. Absent (zero) for a task whose signal handlers are already gone.
	SigQueued, SigQueueLimit uint64

	SigPnd uint64 // pending for this thread
	ShdPnd uint64 // pending for the thread group
	SigBlk uint64 // blocked
	SigIgn uint64 // ignored
	SigCgt uint64 // caught (a handler is installed)

	CapInh, CapPrm, CapEff, CapBnd, CapAmb uint64

	NoNewPrivs bool
	Seccomp    int // SECCOMP_MODE_*: 0 disabled, 1 strict, 2 filter

	// Umask is the file mode creation mask; HasUmask is false when the
	// kernel did not print it (a zombie has no fs_struct).
	Umask    uint32
	HasUmask bool

	Threads int // threads in the thread group
}

// statusRequired are the fields every kernel prints for every task.
var statusRequired = []string{"Name", "State", "Tgid", "Pid", "PPid", "TracerPid", "Uid", "Gid",
	"SigPnd", "ShdPnd", "SigBlk", "SigIgn", "SigCgt", "CapInh", "CapPrm", "CapEff", "CapBnd"}

// ParseStatus parses the text of /proc/PID/status. Unknown fields are
// skipped, so newer kernels parse too.
func ParseStatus(r io.Reader) (*Status, error) {
	lr := newLineReader(r, "status")
	st := &Status{}
	seen := make(map[string]bool, len(statusRequired))
	for {
		line, err := lr.next()
		if err != nil {
			return nil, err
		}
		if line == nil {
			break
		}
		key, val, ok := cutField(line)
		if !ok {
			return nil, lr.errf(ErrSyntax, "no colon in %q", line)
		}
		if err := st.setField(key, val); err != nil {
			return nil, lr.errf(ErrSyntax, "field %s: %s", key, err.Error())
		}
		seen[key] = true
	}
	for _, k := range statusRequired {
		if !seen[k] {
			return nil, &ParseError{Path: "status", Msg: "field " + k, Err: ErrMissing}
		}
	}
	return st, nil
}

// fieldErr is a short description of a bad value; ParseStatus adds the
// line and the sentinel.
type fieldErr string

func (e fieldErr) Error() string { return string(e) }

func badValue(v string) error { return fieldErr("bad value " + strconv.Quote(v)) }

func (st *Status) setField(key, val string) error {
	var err error
	switch key {
	case "Name":
		st.Name = unescapeC(val)
	case "State":
		if val == "" {
			return badValue(val)
		}
		st.State = val[0]
	case "Tgid":
		st.Tgid, err = atoiField(val)
	case "Pid":
		st.Pid, err = atoiField(val)
	case "PPid":
		st.PPid, err = atoiField(val)
	case "TracerPid":
		st.TracerPid, err = atoiField(val)
	case "Uid":
		err = parseIDs(val, &st.Uid)
	case "Gid":
		err = parseIDs(val, &st.Gid)
	case "Groups":
		st.Groups, err = parseU32List(val)
	case "NSpid":
		st.NSpid, err = parseIntList(val)
	case "NStgid":
		st.NStgid, err = parseIntList(val)
	case "NSpgid":
		st.NSpgid, err = parseIntList(val)
	case "NSsid":
		st.NSsid, err = parseIntList(val)
	case "SigQ":
		q, l, ok := strings.Cut(val, "/")
		var ok1, ok2 bool
		st.SigQueued, ok1 = parseUint(q, 10, 64)
		st.SigQueueLimit, ok2 = parseUint(l, 10, 64)
		if !ok || !ok1 || !ok2 {
			return badValue(val)
		}
	case "SigPnd":
		st.SigPnd, err = hexField(val)
	case "ShdPnd":
		st.ShdPnd, err = hexField(val)
	case "SigBlk":
		st.SigBlk, err = hexField(val)
	case "SigIgn":
		st.SigIgn, err = hexField(val)
	case "SigCgt":
		st.SigCgt, err = hexField(val)
	case "CapInh":
		st.CapInh, err = hexField(val)
	case "CapPrm":
		st.CapPrm, err = hexField(val)
	case "CapEff":
		st.CapEff, err = hexField(val)
	case "CapBnd":
		st.CapBnd, err = hexField(val)
	case "CapAmb":
		st.CapAmb, err = hexField(val)
	case "NoNewPrivs":
		var n int
		n, err = atoiField(val)
		st.NoNewPrivs = n != 0
	case "Seccomp":
		st.Seccomp, err = atoiField(val)
	case "Umask":
		v, ok := parseUint(val, 8, 32)
		if !ok {
			return badValue(val)
		}
		st.Umask, st.HasUmask = uint32(v), true
	case "Threads":
		st.Threads, err = atoiField(val)
	}
	return err
}

func atoiField(s string) (int, error) {
	v, ok := parseInt(s, 10, 32)
	if !ok {
		return 0, badValue(s)
	}
	return int(v), nil
}

func hexField(s string) (uint64, error) {
	v, ok := parseUint(s, 16, 64)
	if !ok {
		return 0, badValue(s)
	}
	return v, nil
}

func parseIDs(s string, out *[4]uint32) error {
	f := strings.Fields(s)
	if len(f) != 4 {
		return badValue(s)
	}
	for i, x := range f {
		v, ok := parseUint(x, 10, 32)
		if !ok {
			return badValue(s)
		}
		out[i] = uint32(v)
	}
	return nil
}

func parseU32List(s string) ([]uint32, error) {
	f := strings.Fields(s)
	if len(f) == 0 {
		return nil, nil
	}
	out := make([]uint32, len(f))
	for i, x := range f {
		v, ok := parseUint(x, 10, 32)
		if !ok {
			return nil, badValue(x)
		}
		out[i] = uint32(v)
	}
	return out, nil
}

func parseIntList(s string) ([]int, error) {
	f := strings.Fields(s)
	if len(f) == 0 {
		return nil, nil
	}
	out := make([]int, len(f))
	for i, x := range f {
		v, ok := parseInt(x, 10, 32)
		if !ok {
			return nil, badValue(x)
		}
		out[i] = int(v)
	}
	return out, nil
}

// unescapeC undoes the escaping of a task name in status: the kernel writes
// '\n' as `\n` and '\\' as `\\`. Other C escapes and `\ooo` octal are
// decoded too; a backslash that starts no escape stays as it is.
func unescapeC(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' || i+1 == len(s) {
			b.WriteByte(c)
			continue
		}
		if v, ok := octal3(s[i+1:]); ok {
			b.WriteByte(v)
			i += 3
			continue
		}
		r, ok := cEscapes[s[i+1]]
		if !ok {
			b.WriteByte(c)
			continue
		}
		b.WriteByte(r)
		i++
	}
	return b.String()
}

var cEscapes = map[byte]byte{'n': '\n', 't': '\t', 'r': '\r', 'v': '\v', 'f': '\f',
	'a': '\a', 'e': 0x1b, '\\': '\\', '"': '"'}

// octal3 decodes three octal digits at the start of s.
func octal3(s string) (byte, bool) {
	if len(s) < 3 {
		return 0, false
	}
	v := 0
	for i := 0; i < 3; i++ {
		c := s[i]
		if c < '0' || c > '7' {
			return 0, false
		}
		v = v*8 + int(c-'0')
	}
	if v > 0xff {
		return 0, false
	}
	return byte(v), true
}

// unescapeOctal undoes the `\ooo` escaping of paths in mountinfo (space,
// tab, newline and backslash are escaped this way).
func unescapeOctal(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' {
			if v, ok := octal3(s[i+1:]); ok {
				b.WriteByte(v)
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
