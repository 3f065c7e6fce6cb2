package cgroup

import (
	"errors"
	"fmt"
	"strings"
)

// ErrBadOption is wrapped by errors about --manage-cgroups and
// --cgroup-root values.
var ErrBadOption = errors.New("bad cgroup option")

// Mode is a --manage-cgroups mode. The zero Mode is Soft, CRIU's default.
type Mode int

const (
	Soft Mode = iota
	None
	Props
	Full
	Strict
	Ignore
)

var modeNames = map[Mode]string{Soft: "soft", None: "none", Props: "props", Full: "full", Strict: "strict", Ignore: "ignore"}

func (m Mode) String() string {
	if s, ok := modeNames[m]; ok {
		return s
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// ParseMode reads a --manage-cgroups value; "" (the option without a
// value) is soft, as with CRIU.
func ParseMode(s string) (Mode, error) {
	if s == "" {
		return Soft, nil
	}
	for m, n := range modeNames {
		if n == s {
			return m, nil
		}
	}
	return 0, fmt.Errorf("--manage-cgroups %q: want none, props, soft, full, strict or ignore: %w", s, ErrBadOption)
}

// CreatesMissing says whether the restore makes a directory the image
// names that does not exist (else it refuses).
func (m Mode) CreatesMissing() bool { return m == Soft || m == Full || m == Strict }

// RefusesExisting says whether an existing directory fails the restore.
func (m Mode) RefusesExisting() bool { return m == Strict }

// PropsOnExisting says whether an existing directory gets the image's
// properties.
func (m Mode) PropsOnExisting() bool { return m == Props || m == Full }

// PermsOnExisting says whether an existing directory gets the image's
// permissions.
func (m Mode) PermsOnExisting() bool { return m != None }

// Root is a --cgroup-root: the cgroup that stands for the dumped root
// cgroup, of every hierarchy (Controller "") or of one.
type Root struct {
	Controller string
	Path       string
}

// ParseRoot reads "[controller:]/path".
func ParseRoot(s string) (Root, error) {
	var r Root
	if i := strings.IndexByte(s, ':'); i >= 0 {
		r.Controller, r.Path = s[:i], s[i+1:]
	} else {
		r.Path = s
	}
	if !strings.HasPrefix(r.Path, "/") {
		return Root{}, fmt.Errorf("--cgroup-root %q: the path must be absolute: %w", s, ErrBadOption)
	}
	return r, nil
}

// RootFor picks, among roots, the one for the hierarchy of the given
// controllers: one naming any of them, else the global one, else "".
func RootFor(roots []Root, cnames []string) string {
	global := ""
	for _, r := range roots {
		if r.Controller == "" {
			global = r.Path
			continue
		}
		for _, n := range cnames {
			if n == r.Controller {
				return r.Path
			}
		}
	}
	return global
}

// ParseRoots reads --cgroup-root values.
func ParseRoots(ss []string) ([]Root, error) {
	var out []Root
	for _, s := range ss {
		r, err := ParseRoot(s)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}
