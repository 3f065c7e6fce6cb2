package dump

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/criugo/criugo/images"
	"github.com/criugo/criugo/pkg/image"
)

// File lock kinds as filelocks.img records them (CRIU's FL_* values).
const (
	flPosix = 1
	flFlock = 2
	flOFD   = 4
	flLease = 8
)

// Lock types (fcntl.h F_RDLCK, F_WRLCK, F_UNLCK).
const (
	fRdlck = 0
	fWrlck = 1
	fUnlck = 2
)

// fileLocks collects the file locks of the tree from the "lock:" lines
// of every fd's fdinfo: the kernel lists there the locks taken through
// that open file (POSIX locks of the task, flock and OFD locks of the
// open file description, leases).
//
//	lock:	1: POSIX  ADVISORY  WRITE 1234 fe:00:1234 100 199
//	lock:	2: FLOCK  ADVISORY  READ  1234 fe:00:1235 0 EOF
//	         id kind  mode      type  pid  dev:inode  start end
//
// A lock seen through several fds (dups, or a description several tasks
// share) is recorded once, with the first task and fd it was seen
// through: taking it again there gives it back to all of them.
type fileLocks struct {
	enabled bool // --file-locks: without it, a tree holding locks is refused
	entries []*images.FileLockEntry
	seen    map[string]bool
}

// fileLocksOf reads the locks held through t's fds.
func (d *dumper) fileLocksOf(t *taskDump) error {
	dir := d.fs.Path(t.pid, 0, "fdinfo")
	ents, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("read %s: %w", dir, err)
	}
	for _, e := range ents {
		fd, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(dir + "/" + e.Name())
		if err != nil {
			// The fd was closed: the tree is frozen, so not by the tree.
			return fmt.Errorf("read fdinfo %d of pid %d: %w", fd, t.pid, err)
		}
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			line, ok := strings.CutPrefix(sc.Text(), "lock:")
			if !ok || strings.HasPrefix(strings.TrimSpace(line), "->") {
				// "->": a request waiting for the lock, not a lock; the
				// waiter asks again when its call restarts.
				continue
			}
			l, err := parseLockLine(line)
			if err != nil {
				return fmt.Errorf("read fdinfo %d of pid %d: %w", fd, t.pid, err)
			}
			if !d.locks.enabled {
				return fmt.Errorf("pid %d holds a file lock through fd %d (%s): dump it with --file-locks: %w", t.pid, fd, strings.TrimSpace(line), ErrNotSupported)
			}
			// POSIX locks belong to the process; the others to the open
			// file description, whichever task it is seen from.
			key := fmt.Sprintf("%d %s %d %d %d", l.kind, l.dev, l.typ, l.start, l.len)
			if l.kind == flPosix {
				key = fmt.Sprintf("%d %s", t.pid, key)
			}
			if d.locks.seen[key] {
				continue
			}
			if d.locks.seen == nil {
				d.locks.seen = map[string]bool{}
			}
			d.locks.seen[key] = true
			d.locks.entries = append(d.locks.entries, &images.FileLockEntry{
				Flag: ptr(l.kind), Type: ptr(l.typ), Pid: ptr(int32(t.nsPid)), Fd: ptr(int32(fd)),
				Start: ptr(l.start), Len: ptr(l.len),
			})
		}
	}
	return nil
}

// lockLine is one parsed "lock:" line.
type lockLine struct {
	kind, typ  uint32
	dev        string // dev:inode, to tell locks of different files apart
	start, len int64  // len 0: to the end of the file
}

// parseLockLine parses what follows "lock:" in fdinfo (the format of
// /proc/locks).
func parseLockLine(s string) (lockLine, error) {
	var l lockLine
	f := strings.Fields(s)
	if len(f) != 8 {
		return l, fmt.Errorf("parse lock %q: %d fields: %w", s, len(f), ErrKernel)
	}
	switch f[1] {
	case "POSIX":
		l.kind = flPosix
	case "FLOCK":
		l.kind = flFlock
	case "OFDLCK":
		l.kind = flOFD
	case "LEASE":
		l.kind = flLease
	default:
		return l, fmt.Errorf("parse lock %q: kind %s: %w", s, f[1], ErrNotSupported)
	}
	if l.kind == flLease && f[2] != "ACTIVE" {
		return l, fmt.Errorf("parse lock %q: a lease being broken: %w", s, ErrNotSupported)
	}
	switch f[3] {
	case "READ":
		l.typ = fRdlck
	case "WRITE":
		l.typ = fWrlck
	case "UNLCK":
		l.typ = fUnlck
	default:
		return l, fmt.Errorf("parse lock %q: type %s: %w", s, f[3], ErrNotSupported)
	}
	l.dev = f[5]
	var err error
	if l.start, err = strconv.ParseInt(f[6], 10, 64); err != nil || l.start < 0 {
		return l, fmt.Errorf("parse lock %q: start: %w", s, ErrKernel)
	}
	if f[7] != "EOF" {
		end, err := strconv.ParseInt(f[7], 10, 64)
		if err != nil || end < l.start {
			return l, fmt.Errorf("parse lock %q: end: %w", s, ErrKernel)
		}
		l.len = end - l.start + 1
	}
	return l, nil
}

// fileLocksImage adds filelocks.img to the set when the tree holds locks.
func (d *dumper) fileLocksImage() error {
	if len(d.locks.entries) == 0 {
		return nil
	}
	img, err := encodeImage(image.FileLocks, msgs(d.locks.entries...)...)
	if err != nil {
		return err
	}
	d.out[image.FileLocks.FileName(nil)] = img
	return nil
}
