package dump

import (
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/criugo/criugo/images"
	"github.com/criugo/criugo/pkg/proc"
)

func init() {
	registerFdKind(images.FdTypes_PIDFD, &fdKind{link: proc.LinkAnonInode, anon: "pidfd", dump: (*dumper).pidfd})
}

// pidfdThread is PIDFD_THREAD, which the kernel keeps in the file's
// flags as O_EXCL.
const pidfdThread = unix.O_EXCL

// pidfd records a pidfd as CRIU's pidfd_entry: the process it names by its
// pid in the root's pid namespace (pstree.img's), or -1 when that
// process has been reaped, with the pidfs inode, which tells the pidfds
// of one reaped process from another's, and the file flags without the
// access mode (PIDFD_NONBLOCK is O_NONBLOCK).
//
// A live process must be a task of the tree, so that the restore can open
// a pidfd of it again; a pidfd of a thread (PIDFD_THREAD) is refused, as
// CRIU refuses it: its image says nothing of the thread.
func (d *dumper) pidfd(x *fdDump) error {
	pi := x.f.info.Pidfd
	if pi == nil || len(pi.NSpid) == 0 {
		return fmt.Errorf("pidfd without Pid and NSpid in fdinfo: %w", ErrKernel)
	}
	if x.flags&pidfdThread != 0 {
		return fmt.Errorf("pidfd of thread %d (PIDFD_THREAD): %w", pi.Pid, ErrNotSupported)
	}
	var nspid int
	switch {
	case pi.Pid == -1:
		nspid = -1
	case pi.Pid <= 0:
		return fmt.Errorf("pidfd of a process outside the pid namespace of the dump: %w", ErrNotSupported)
	case !d.inTree(pi.Pid):
		return fmt.Errorf("pidfd of pid %d, which is not in the dumped tree: %w", pi.Pid, ErrNotSupported)
	default:
		// The id pstree.img gives it: in the root's pid namespace, which
		// is the process's own unless it is in one nested below.
		nspid = d.nsPidOf(pi.Pid)
	}
	d.addFile(&images.FileEntry{Type: images.FdTypes_PIDFD.Enum(), Id: ptr(x.id), Pidfd: &images.PidfdEntry{
		Id:    ptr(x.id),
		Ino:   ptr(x.f.info.Ino),
		Flags: ptr(x.flags &^ unix.O_ACCMODE),
		Nspid: ptr(int32(nspid)),
		Fown:  x.fown,
	}})
	return nil
}

// nsPidOf returns the id in the root's pid namespace of pid (in the
// dump's), a process of the tree.
func (d *dumper) nsPidOf(pid int) int {
	for _, t := range d.att.tasks {
		if t.pid == pid {
			return t.nsPid
		}
	}
	return -1
}

// inTree reports whether pid (in the dump's pid namespace) is a process
// of the tree, a zombie included.
func (d *dumper) inTree(pid int) bool {
	for _, t := range d.att.tasks {
		if t.pid == pid {
			return true
		}
	}
	return false
}
