package dump

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/criugo/criugo/images"
	"github.com/criugo/criugo/pkg/proc"
)

func init() {
	registerFdKind(images.FdTypes_EVENTPOLL, &fdKind{link: proc.LinkAnonInode, anon: "eventpoll",
		dump: func(d *dumper, x *fdDump) error { return d.epoll(x.t, x.f, x.id, x.flags, x.fown) }})
}

// An epoll instance is recorded with its targets as fdinfo lists them
// (fd number at registration, events, data, and the target's device,
// inode and position). A target is known by the fd number it was added
// under, which need not be the fd that holds the file now (it may have
// been dup'ed and closed). As CRIU does, each target is checked with kcmp
// KCMP_EPOLL_TFD against the fd of that number; when one is not there,
// the entry waits until the task's other fds are recorded and the target
// is looked for among every fd met so far, and the entry goes to
// files.img after the task's fds:
//
//	tfd:  5 ... ino:a     fd 5 holds file a          -> written at once
//	tfd: 701 ... ino:b    fd 701 closed, fd 9 holds b -> tfd 9, written later
//
// CRIU 4.2's image has no field for a target held by another task only:
// such an epoll is refused.

// epollWait is an epoll entry whose targets are looked up after the
// task's fds.
type epollWait struct {
	pid, efd int
	fe       *images.FileEntry
	toff     []uint32
}

// epoll records an epoll instance.
func (d *dumper) epoll(t *taskDump, f *fdFile, id, flags uint32, fown *images.FownEntry) error {
	e := &images.EventpollFileEntry{Id: ptr(id), Flags: ptr(flags), Fown: fown}
	// toff: the place of a target among those with the same fd number,
	// which is how kcmp finds it (in fdinfo's order).
	toff := make([]uint32, len(f.info.Epoll))
	seen := make(map[int]uint32)
	for i, tg := range f.info.Epoll {
		if tg.Fd < 0 || tg.Pos < 0 {
			return fmt.Errorf("epoll target fd %d at %d: %w", tg.Fd, tg.Pos, ErrKernel)
		}
		e.Tfd = append(e.Tfd, &images.EventpollTfdEntry{
			Id:     ptr(uint32(0)),
			Tfd:    ptr(uint32(tg.Fd)),
			Events: ptr(tg.Events),
			Data:   ptr(tg.Data),
			Dev:    ptr(tg.Sdev),
			Inode:  ptr(tg.Ino),
			Pos:    ptr(uint64(tg.Pos)),
		})
		toff[i] = seen[tg.Fd]
		seen[tg.Fd]++
	}
	fe := &images.FileEntry{Type: images.FdTypes_EVENTPOLL.Enum(), Id: ptr(id), Epfd: e}
	for i, tg := range f.info.Epoll {
		same, err := sameEpollTarget(t.pid, tg.Fd, t.pid, f.fd, tg.Fd, toff[i])
		if err != nil && !errors.Is(err, unix.EBADF) {
			return fmt.Errorf("compare epoll target %d: %w", tg.Fd, err)
		}
		if !same {
			d.epollWaits = append(d.epollWaits, &epollWait{pid: t.pid, efd: f.fd, fe: fe, toff: toff})
			return nil
		}
	}
	d.addFile(fe)
	return nil
}

// flushEpolls finds the targets of the epoll entries that waited for the
// task's fds, among every fd recorded so far, and records the entries.
func (d *dumper) flushEpolls(t *taskDump) error {
	waits := d.epollWaits
	d.epollWaits = nil
	for _, w := range waits {
		e := w.fe.Epfd
		var kept []*images.EventpollTfdEntry
		have := make(map[uint32]bool)
		for i, tfde := range e.Tfd {
			pid, fd, err := d.findEpollTarget(w, int(tfde.GetTfd()), w.toff[i])
			if err != nil {
				return err
			}
			if pid != w.pid {
				return fmt.Errorf("epoll fd %d of pid %d: target %d is only open in pid %d: %w",
					w.efd, w.pid, tfde.GetTfd(), pid, ErrNotSupported)
			}
			// A file added under two numbers, one since closed, shows
			// twice: once is enough.
			if have[uint32(fd)] {
				continue
			}
			have[uint32(fd)] = true
			tfde.Tfd = ptr(uint32(fd))
			kept = append(kept, tfde)
		}
		e.Tfd = kept
		d.addFile(w.fe)
	}
	return nil
}

// findEpollTarget returns the task and fd of a recorded file that is the
// target tfd (the toff-th of that number) of the waiting epoll.
func (d *dumper) findEpollTarget(w *epollWait, tfd int, toff uint32) (pid, fd int, err error) {
	for _, elems := range d.fileIDs.fds.elems {
		for _, el := range elems {
			same, err := sameEpollTarget(el.pid, el.idx, w.pid, w.efd, tfd, toff)
			if err != nil && !errors.Is(err, unix.EBADF) {
				return 0, 0, fmt.Errorf("compare epoll target %d with fd %d of pid %d: %w", tfd, el.idx, el.pid, err)
			}
			if same {
				return el.pid, el.idx, nil
			}
		}
	}
	return 0, 0, fmt.Errorf("epoll fd %d of pid %d: target %d is open in no task of the tree: %w",
		w.efd, w.pid, tfd, ErrNotSupported)
}
