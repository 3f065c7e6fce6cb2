package criucli

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/criugo/criugo/pkg/restore"
)

// ParseInheritFd parses CRIU's --inherit-fd argument: fd[N]:KEY, the file
// of the images whose key is KEY taken from this process's fd N on
// restore, or debug[N]:TEXT, TEXT written to fd N at once (CRIU's marker
// in a restored program's output), for which debug is true.
func ParseInheritFd(arg string) (fd int, key string, debug bool, err error) {
	rest, ok := strings.CutPrefix(arg, "fd[")
	if !ok {
		if rest, ok = strings.CutPrefix(arg, "debug["); !ok {
			return 0, "", false, fmt.Errorf("option --inherit-fd %q: want fd[N]:KEY or debug[N]:TEXT: %w", arg, ErrBadOptions)
		}
		debug = true
	}
	num, key, ok := strings.Cut(rest, "]:")
	n, err := strconv.Atoi(num)
	if !ok || err != nil || n < 0 || key == "" {
		return 0, "", false, fmt.Errorf("option --inherit-fd %q: want fd[N]:KEY or debug[N]:TEXT: %w", arg, ErrBadOptions)
	}
	return n, key, debug, nil
}

// InheritFd makes one inherited file: a duplicate of this process's fd
// (which must be open, as CRIU checks with fstat) that the restore takes
// for the files whose key is key. The caller closes it after the restore
// (CloseInherited).
func InheritFd(fd int, key string) (restore.InheritFd, error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return restore.InheritFd{}, fmt.Errorf("inherit fd %d for %s: %w", fd, key, err)
	}
	d, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return restore.InheritFd{}, fmt.Errorf("inherit fd %d for %s: %w", fd, key, err)
	}
	return restore.InheritFd{Key: key, File: os.NewFile(uintptr(d), fmt.Sprintf("fd %d", fd))}, nil
}

// CloseInherited closes the inherited files of o, and the namespaces
// of --join-ns.
func CloseInherited(o *Options) {
	for _, in := range o.InheritFds {
		in.File.Close()
	}
	o.InheritFds = nil
	for _, j := range o.JoinNs {
		j.File.Close()
	}
	o.JoinNs = nil
}

// AddJoinNs opens the namespace of --join-ns kind:file (as ParseJoinNs
// gives them) and adds it to o, for the restore. The caller closes it
// after the restore (CloseInherited).
func (o *Options) AddJoinNs(kind, file string) error {
	f, err := os.Open(file)
	if err != nil {
		return fmt.Errorf("option --join-ns %s:%s: %w", kind, file, err)
	}
	o.JoinNs = append(o.JoinNs, restore.JoinNs{Kind: kind, File: f})
	return nil
}
