package restore

import (
	"encoding/binary"
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/criugo/criugo/images"
)

// File lock kinds in filelocks.img (CRIU's FL_* values) and lock types.
const (
	flPosix = 1
	flFlock = 2
	flOFD   = 4
	flLease = 8

	fRdlck = 0
	fWrlck = 1

	// flockSize is the size of struct flock on x86_64: l_type and
	// l_whence (shorts), padding, l_start and l_len, l_pid, padding.
	flockSize = 32
)

// planFileLocks checks filelocks.img: every lock must belong to a live
// task of the tree, through an fd that task has, with a known kind and
// type. It returns the locks by owning pid.
func (r *restorer) planFileLocks() (map[int][]*images.FileLockEntry, error) {
	locks, err := entries[*images.FileLockEntry](r.set, "filelocks.img", true)
	if err != nil {
		return nil, err
	}
	out := map[int][]*images.FileLockEntry{}
	for i, l := range locks {
		bad := func(what string) error {
			return fmt.Errorf("read filelocks.img: lock %d: %s: %w", i, what, ErrBadImage)
		}
		pid := int(l.GetPid())
		p := r.plans[pid]
		if p == nil {
			return nil, bad(fmt.Sprintf("pid %d is not a live task of the tree", pid))
		}
		found := false
		for _, fd := range p.fds {
			found = found || int32(fd.GetFd()) == l.GetFd()
		}
		if !found {
			return nil, bad(fmt.Sprintf("pid %d has no fd %d", pid, l.GetFd()))
		}
		switch l.GetFlag() {
		case flPosix, flFlock, flOFD, flLease:
		default:
			return nil, fmt.Errorf("restore file lock %d of pid %d: kind %d: %w", i, pid, l.GetFlag(), ErrNotSupported)
		}
		if t := l.GetType(); t != fRdlck && t != fWrlck {
			return nil, fmt.Errorf("restore file lock %d of pid %d: type %d (a lease being broken, or a mandatory lock): %w", i, pid, t, ErrNotSupported)
		}
		if l.GetStart() < 0 || l.GetLen() < 0 {
			return nil, bad("negative range")
		}
		out[pid] = append(out[pid], l)
	}
	return out, nil
}

// restoreFileLocks takes t's locks again through its restored fds, with
// calls injected into t so that t owns them: fcntl F_SETLK for POSIX
// locks (owned by the process), F_OFD_SETLK for OFD locks and flock for
// flock locks (owned by the open file description, which tasks that
// shared it share again), F_SETLEASE for leases. It runs after the fds
// are in place and before anything else closes one: closing any fd of a
// file drops the process's POSIX locks on it.
func (r *restorer) restoreFileLocks(t *task) error {
	locks, err := r.planFileLocks()
	if err != nil {
		return err
	}
	th := t.threads[0]
	for _, l := range locks[t.pid] {
		fd := uint64(l.GetFd())
		var err error
		switch l.GetFlag() {
		case flPosix, flOFD:
			cmd := uint64(unix.F_SETLK)
			if l.GetFlag() == flOFD {
				cmd = unix.F_OFD_SETLK
			}
			fl := make([]byte, flockSize)
			binary.LittleEndian.PutUint16(fl[0:], uint16(l.GetType()))
			binary.LittleEndian.PutUint16(fl[2:], 0) // SEEK_SET
			binary.LittleEndian.PutUint64(fl[8:], uint64(l.GetStart()))
			binary.LittleEndian.PutUint64(fl[16:], uint64(l.GetLen()))
			b := newScratchBuf(t.scratch)
			addr := b.put(fl)
			if err = b.flush(t.real); err == nil {
				_, err = r.call(t, th, "fcntl set lock", unix.SYS_FCNTL, fd, cmd, addr)
			}
		case flFlock:
			op := uint64(unix.LOCK_SH)
			if l.GetType() == fWrlck {
				op = unix.LOCK_EX
			}
			_, err = r.call(t, th, "flock", unix.SYS_FLOCK, fd, op|unix.LOCK_NB)
		case flLease:
			_, err = r.call(t, th, "fcntl F_SETLEASE", unix.SYS_FCNTL, fd, unix.F_SETLEASE, uint64(l.GetType()))
		}
		if err != nil {
			return fmt.Errorf("restore file lock (kind %d, type %d, %d+%d) on fd %d of pid %d: %w",
				l.GetFlag(), l.GetType(), l.GetStart(), l.GetLen(), fd, t.pid, err)
		}
	}
	return nil
}
