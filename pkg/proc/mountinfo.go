package proc

import (
	"io"
	"strings"
)

// Mount is one line of /proc/PID/mountinfo:
//
//	36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue
//	(1)(2) (3)  (4)   (5)      (6)      (7)    (8) (9)   (10)        (11)
//
// Root, MountPoint and Source are unescaped (the kernel writes space, tab,
// newline and backslash as \040, \011, \012, \134).
type Mount struct {
	ID, ParentID int
	Major, Minor uint32
	Root         string
	MountPoint   string
	Options      string // per-mount options
	// Optional fields: peer group ids, 0 when absent.
	Shared        int // shared:N
	Master        int // master:N
	PropagateFrom int // propagate_from:N
	Unbindable    bool
	FsType        string // "ext4", "fuse.sshfs"
	Source        string
	SuperOptions  string // per-super-block options
}

// ParseMountinfo parses the text of /proc/PID/mountinfo.
func ParseMountinfo(r io.Reader) ([]Mount, error) {
	lr := newLineReader(r, "mountinfo")
	var out []Mount
	for {
		line, err := lr.next()
		if err != nil {
			return nil, err
		}
		if line == nil {
			return out, nil
		}
		m, err := parseMountLine(string(line))
		if err != nil {
			return nil, lr.errf(ErrSyntax, "%s", err)
		}
		out = append(out, m)
	}
}

func parseMountLine(s string) (Mount, error) {
	var m Mount
	f := strings.Split(s, " ")
	sep := -1
	for i := 6; i < len(f); i++ {
		if f[i] == "-" {
			sep = i
			break
		}
	}
	if len(f) < 10 || sep < 0 || len(f) != sep+4 {
		return m, fieldErr("bad field count")
	}
	id, ok1 := parseInt(f[0], 10, 32)
	pid, ok2 := parseInt(f[1], 10, 32)
	maj, min, ok3 := strings.Cut(f[2], ":")
	ma, ok4 := parseUint(maj, 10, 32)
	mi, ok5 := parseUint(min, 10, 32)
	if !ok1 || !ok2 {
		return m, fieldErr("bad mount id")
	}
	if !ok3 || !ok4 || !ok5 {
		return m, badValue(f[2])
	}
	m.ID, m.ParentID, m.Major, m.Minor = int(id), int(pid), uint32(ma), uint32(mi)
	m.Root = unescapeOctal(f[3])
	m.MountPoint = unescapeOctal(f[4])
	m.Options = f[5]
	for _, opt := range f[6:sep] {
		k, v, _ := strings.Cut(opt, ":")
		var dst *int
		switch k {
		case "shared":
			dst = &m.Shared
		case "master":
			dst = &m.Master
		case "propagate_from":
			dst = &m.PropagateFrom
		case "unbindable":
			m.Unbindable = true
			continue
		default:
			continue // optional fields are open-ended by design
		}
		n, ok := parseInt(v, 10, 32)
		if !ok {
			return m, badValue(opt)
		}
		*dst = int(n)
	}
	m.FsType = f[sep+1]
	m.Source = unescapeOctal(f[sep+2])
	m.SuperOptions = f[sep+3]
	return m, nil
}
