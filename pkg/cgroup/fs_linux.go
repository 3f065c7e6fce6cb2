package cgroup

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Hierarchy is a private, detached mount of one cgroup hierarchy, made
// with fsopen(2): its root is the root of the hierarchy as seen from the
// caller's cgroup namespace, whatever is mounted where, so paths from
// /proc/PID/cgroup of the initial namespace resolve in it.
type Hierarchy struct {
	Cnames []string
	mnt    *os.File
}

// OpenHierarchy mounts the hierarchy of cnames: "cgroup2" for [""], else
// "cgroup" with each controller as a flag ("name=X" as the name option).
func OpenHierarchy(cnames []string) (*Hierarchy, error) {
	fstype := "cgroup"
	if IsV2(cnames) {
		fstype = "cgroup2"
	}
	what := strings.Join(cnames, ",")
	if IsV2(cnames) {
		what = "unified"
	}
	fsfd, err := unix.Fsopen(fstype, unix.FSOPEN_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("open cgroup hierarchy %s: fsopen %s: %w", what, fstype, err)
	}
	defer unix.Close(fsfd)
	if !IsV2(cnames) {
		for _, n := range cnames {
			if v, ok := strings.CutPrefix(n, "name="); ok {
				err = unix.FsconfigSetString(fsfd, "name", v)
			} else {
				err = unix.FsconfigSetFlag(fsfd, n)
			}
			if err != nil {
				return nil, fmt.Errorf("open cgroup hierarchy %s: option %s: %w", what, n, err)
			}
		}
	}
	if err := unix.FsconfigCreate(fsfd); err != nil {
		return nil, fmt.Errorf("open cgroup hierarchy %s: %w", what, err)
	}
	mfd, err := unix.Fsmount(fsfd, unix.FSMOUNT_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open cgroup hierarchy %s: fsmount: %w", what, err)
	}
	return &Hierarchy{Cnames: cnames, mnt: os.NewFile(uintptr(mfd), "cgroup:"+what)}, nil
}

// Close drops the mount.
func (h *Hierarchy) Close() error { return h.mnt.Close() }

// Path is the name, through /proc/self/fd, of the cgroup at rel (a path
// from the hierarchy's root, "/a/b" or "a/b") or of a file in it.
func (h *Hierarchy) Path(rel ...string) string {
	parts := append([]string{"/proc/self/fd", strconv.Itoa(int(h.mnt.Fd()))}, rel...)
	return filepath.Join(parts...)
}

// Name is how errors name the cgroup at rel: the hierarchy and the path.
func (h *Hierarchy) Name(rel string) string {
	what := strings.Join(h.Cnames, ",")
	if IsV2(h.Cnames) {
		what = "unified"
	}
	return what + ":" + filepath.Join("/", rel)
}
