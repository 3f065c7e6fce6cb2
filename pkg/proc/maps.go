package proc

import (
	"bytes"
	"fmt"
	"io"
	"strings"
)

// Perm are the access bits of a mapping, as in the "rwxp" column.
type Perm uint8

const (
	PermRead Perm = 1 << iota
	PermWrite
	PermExec
)

func (p Perm) String() string {
	b := []byte("---")
	if p&PermRead != 0 {
		b[0] = 'r'
	}
	if p&PermWrite != 0 {
		b[1] = 'w'
	}
	if p&PermExec != 0 {
		b[2] = 'x'
	}
	return string(b)
}

// VMAKind says what backs a mapping, from the path column.
type VMAKind uint8

const (
	VMAAnon       VMAKind = iota // no path: anonymous memory
	VMAFile                      // a path: a file, "/dev/zero (deleted)" for shared anonymous, "/memfd:x (deleted)", SysV shm
	VMAHeap                      // [heap]
	VMAStack                     // [stack] (or [stack:TID] on old kernels)
	VMAVdso                      // [vdso]
	VMAVvar                      // [vvar]
	VMAVvarVclock                // [vvar_vclock]
	VMAVsyscall                  // [vsyscall]
	VMAAnonNamed                 // [anon:NAME] or [anon_shmem:NAME]: named by prctl(PR_SET_VMA_ANON_NAME)
	VMASpecial                   // any other "[...]" name ([uprobes], ...)
)

var vmaKindNames = [...]string{"anon", "file", "heap", "stack", "vdso", "vvar", "vvar_vclock", "vsyscall", "anon-named", "special"}

func (k VMAKind) String() string {
	if int(k) < len(vmaKindNames) {
		return vmaKindNames[k]
	}
	return fmt.Sprintf("VMAKind(%d)", uint8(k))
}

// VMA is one line of /proc/PID/maps, and with smaps also its flags and
// memory counters.
//
//	start-end         perm offset   dev   inode   path
//	7f3c4000-7f3c6000 rw-s 00002000 fe:00 9979053 /tmp/data (deleted)
type VMA struct {
	Start, End uint64 // [Start, End), page aligned
	Perm       Perm
	Shared     bool   // 's' (MAP_SHARED) rather than 'p'
	Offset     uint64 // file offset in bytes
	Major      uint32 // device of the backing file, 0:0 for anonymous memory
	Minor      uint32
	Inode      uint64
	Kind       VMAKind
	// Path is the path column without a " (deleted)" suffix. The kernel
	// prints a newline in a file name as `\012` and escapes nothing else,
	// so Path is not always the exact file name: take the file itself from
	// /proc/PID/map_files. For VMAAnonNamed it is the whole "[anon:NAME]".
	Path    string
	Deleted bool // the path ended in " (deleted)": the file was unlinked

	// Set by ParseSmaps only.
	VmFlags        VmFlags
	UnknownVmFlags []string // mnemonics this package does not know, kept in order
	Rss            uint64   // bytes resident
	Swap           uint64   // bytes swapped out
	Anonymous      uint64   // bytes of anonymous (private, written) memory
}

// Len is the size of the mapping in bytes.
func (v *VMA) Len() uint64 { return v.End - v.Start }

const deletedSuffix = " (deleted)"

// ParseMaps parses the text of /proc/PID/maps.
func ParseMaps(r io.Reader) ([]VMA, error) {
	lr := newLineReader(r, "maps")
	var vmas []VMA
	for {
		line, err := lr.next()
		if err != nil {
			return nil, err
		}
		if line == nil {
			return vmas, nil
		}
		v, err := parseVMALine(line)
		if err != nil {
			return nil, lr.errf(ErrSyntax, "%s", err)
		}
		vmas = append(vmas, v)
	}
}

// parseVMALine parses "start-end perm offset major:minor inode [path]".
// The path starts after the blanks that pad the inode column and runs to
// the end of the line; it may contain blanks itself.
func parseVMALine(line []byte) (VMA, error) {
	var v VMA
	rest := line
	field := func() string {
		rest = bytes.TrimLeft(rest, " ")
		i := bytes.IndexByte(rest, ' ')
		if i < 0 {
			i = len(rest)
		}
		f := string(rest[:i])
		rest = rest[i:]
		return f
	}
	rng, perm, off, dev, ino := field(), field(), field(), field(), field()
	bad := func(what, val string) (VMA, error) {
		return VMA{}, fieldErr(fmt.Sprintf("bad %s %q", what, val))
	}

	lo, hi, ok := strings.Cut(rng, "-")
	var ok1, ok2 bool
	v.Start, ok1 = parseUint(lo, 16, 64)
	v.End, ok2 = parseUint(hi, 16, 64)
	if !ok || !ok1 || !ok2 || v.End < v.Start {
		return bad("range", rng)
	}
	if len(perm) != 4 {
		return bad("permissions", perm)
	}
	for i, want := range "rwx" {
		switch perm[i] {
		case byte(want):
			v.Perm |= 1 << i
		case '-':
		default:
			return bad("permissions", perm)
		}
	}
	switch perm[3] {
	case 's':
		v.Shared = true
	case 'p':
	default:
		return bad("permissions", perm)
	}
	if v.Offset, ok = parseUint(off, 16, 64); !ok {
		return bad("offset", off)
	}
	maj, min, ok := strings.Cut(dev, ":")
	ma, ok1 := parseUint(maj, 16, 32)
	mi, ok2 := parseUint(min, 16, 32)
	if !ok || !ok1 || !ok2 {
		return bad("device", dev)
	}
	v.Major, v.Minor = uint32(ma), uint32(mi)
	if v.Inode, ok = parseUint(ino, 10, 64); !ok {
		return bad("inode", ino)
	}

	path := string(bytes.TrimLeft(rest, " "))
	v.Kind = VMAAnon
	switch {
	case path == "":
	case path[0] == '[' && path[len(path)-1] == ']':
		v.Kind = specialKind(path)
	default:
		v.Kind = VMAFile
		if strings.HasSuffix(path, deletedSuffix) {
			path, v.Deleted = strings.TrimSuffix(path, deletedSuffix), true
		}
	}
	v.Path = path
	return v, nil
}

func specialKind(name string) VMAKind {
	switch name {
	case "[heap]":
		return VMAHeap
	case "[stack]":
		return VMAStack
	case "[vdso]":
		return VMAVdso
	case "[vvar]":
		return VMAVvar
	case "[vvar_vclock]":
		return VMAVvarVclock
	case "[vsyscall]":
		return VMAVsyscall
	}
	switch {
	case strings.HasPrefix(name, "[stack:"):
		return VMAStack
	case strings.HasPrefix(name, "[anon:"), strings.HasPrefix(name, "[anon_shmem:"):
		return VMAAnonNamed
	}
	return VMASpecial
}
