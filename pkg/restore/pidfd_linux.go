package restore

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"github.com/criugo/criugo/images"
)

// A pidfd is opened again on the restored process it named; one of a
// process reaped before the dump on a stand-in that dies at once
// (pidfdDesc).
func init() {
	registerFileKind(images.FdTypes_PIDFD, &fileKind{
		check: (*fileObjs).checkPidfd,
		open:  func(f *fileObjs, e *images.FileEntry) (*os.File, error) { return f.pidfdDesc(e) },
		fown:  func(e *images.FileEntry) *images.FownEntry { return e.GetPidfd().GetFown() },
	})
}

// pidfdDead is the nspid of a pidfd whose process had been reaped.
const pidfdDead = -1

// pidfdState holds the pidfds of reaped processes made ahead of their
// entries, by file id: all pidfds of one reaped process are made at once,
// from one stand-in.
type pidfdState struct {
	dead map[uint32]*os.File
}

func (f *fileObjs) checkPidfd(e *images.FileEntry) error {
	pe := e.GetPidfd()
	if pe == nil {
		return fmt.Errorf("file id %d: PIDFD without its entry: %w", e.GetId(), ErrBadImage)
	}
	if fl := pe.GetFlags() &^ unix.O_ACCMODE; fl&^unix.O_NONBLOCK != 0 {
		return fmt.Errorf("pidfd %d with flags %#o (PIDFD_THREAD or unknown): %w", e.GetId(), fl, ErrNotSupported)
	}
	if pe.GetNspid() == pidfdDead {
		return nil
	}
	if _, err := f.pidfdTarget(pe); err != nil {
		return err
	}
	return nil
}

// pidfdTarget is the restored task a pidfd names.
func (f *fileObjs) pidfdTarget(pe *images.PidfdEntry) (*task, error) {
	pid := int(pe.GetNspid())
	var t *task
	if f.r.tree != nil {
		t = f.r.tree.byPid[pid]
	}
	if t == nil {
		return nil, fmt.Errorf("pidfd %d names pid %d, which is not in pstree.img: %w", pe.GetId(), pid, ErrBadImage)
	}
	return t, nil
}

// pidfdDesc opens a pidfd of the restored task it named (every task exists
// by the time files are made), with its PIDFD_NONBLOCK.
//
// A reaped process has nothing to open a pidfd on, so, as CRIU does, a
// stand-in child is forked, a pidfd of it opened for every entry that
// named that process (one pidfs inode: their files come back as pidfds
// of one process again), and the child killed and reaped: the pidfds then
// say what the saved ones said, the process is gone (poll: readable,
// fdinfo Pid: -1, pidfd_send_signal: ESRCH, waitid: ECHILD). Its exit
// status is not the dumped process's: the image does not keep it.
func (f *fileObjs) pidfdDesc(e *images.FileEntry) (*os.File, error) {
	pe := e.GetPidfd()
	if err := f.checkPidfd(e); err != nil {
		return nil, err
	}
	flags := int(pe.GetFlags() & unix.O_NONBLOCK)
	if pe.GetNspid() != pidfdDead {
		t, err := f.pidfdTarget(pe)
		if err != nil {
			return nil, err
		}
		fd, err := unix.PidfdOpen(t.real, flags)
		if err != nil {
			return nil, fmt.Errorf("open pidfd %d of pid %d: %w", pe.GetId(), t.pid, err)
		}
		return f.keep(os.NewFile(uintptr(fd), fmt.Sprintf("anon_inode:[pidfd] %d", pe.GetId()))), nil
	}
	st := stateOf[pidfdState](f, images.FdTypes_PIDFD)
	if file, ok := st.dead[e.GetId()]; ok {
		return file, nil
	}
	if err := f.deadPidfds(st, pe.GetIno()); err != nil {
		return nil, fmt.Errorf("make pidfd %d of a reaped process: %w", pe.GetId(), err)
	}
	file, ok := st.dead[e.GetId()]
	if !ok {
		return nil, fmt.Errorf("make pidfd %d of a reaped process: not made: %w", pe.GetId(), ErrBadImage)
	}
	return file, nil
}

// deadPidfds makes the pidfds of every entry of files.img that named the
// reaped process of pidfs inode ino, from one stand-in.
func (f *fileObjs) deadPidfds(st *pidfdState, ino uint64) (err error) {
	if st.dead == nil {
		st.dead = map[uint32]*os.File{}
	}
	pid, err := forkStub(0, 0, false)
	if err != nil {
		return fmt.Errorf("fork a stand-in: %w", err)
	}
	reaped := false
	defer func() {
		if !reaped {
			unix.Kill(pid, unix.SIGKILL)
			var ws unix.WaitStatus
			unix.Wait4(pid, &ws, 0, nil)
		}
	}()
	for id, e := range f.table {
		pe := e.GetPidfd()
		if e.GetType() != images.FdTypes_PIDFD || pe == nil || pe.GetNspid() != pidfdDead || pe.GetIno() != ino {
			continue
		}
		fd, err := unix.PidfdOpen(pid, int(pe.GetFlags()&unix.O_NONBLOCK))
		if err != nil {
			return fmt.Errorf("open pidfd of stand-in %d: %w", pid, err)
		}
		st.dead[id] = f.keep(os.NewFile(uintptr(fd), fmt.Sprintf("anon_inode:[pidfd] %d", id)))
	}
	if err := unix.Kill(pid, unix.SIGKILL); err != nil {
		return fmt.Errorf("kill stand-in %d: %w", pid, err)
	}
	var ws unix.WaitStatus
	for {
		_, err = unix.Wait4(pid, &ws, 0, nil)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("reap stand-in %d: %w", pid, err)
	}
	reaped = true
	return nil
}
