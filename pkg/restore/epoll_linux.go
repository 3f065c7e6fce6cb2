package restore

import (
	"encoding/binary"
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"github.com/criugo/criugo/images"
)

func init() {
	registerFileKind(images.FdTypes_EVENTPOLL, &fileKind{
		has:  func(e *images.FileEntry) bool { return e.GetEpfd() != nil },
		open: func(f *fileObjs, e *images.FileEntry) (*os.File, error) { return f.epollDesc(e.GetEpfd()) },
		fown: func(e *images.FileEntry) *images.FownEntry { return e.GetEpfd().GetFown() },
		fill: (*restorer).restoreEpollTargets,
	})
}

// epollDesc creates an empty epoll instance. Its targets are added later,
// by the task itself (restoreEpollTargets): an epoll item is keyed by the
// target's file and the fd number it was added under, in the fd table of
// the task that added it, so epoll_ctl must run in a task that holds every
// target at its saved number. criu-restore cannot add them for it.
func (f *fileObjs) epollDesc(e *images.EventpollFileEntry) (*os.File, error) {
	if e == nil {
		return nil, fmt.Errorf("EVENTPOLL without eventpoll entry: %w", ErrBadImage)
	}
	fd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("create epoll %d: %w", e.GetId(), err)
	}
	file := f.keep(os.NewFile(uintptr(fd), fmt.Sprintf("anon_inode:[eventpoll] %d", e.GetId())))
	if err := setStatusFlags(file, int(e.GetFlags())); err != nil {
		return nil, err
	}
	return file, nil
}

// epollsDone are the epoll file ids whose targets are added.
type epollsDone map[uint32]bool

// restoreEpollTargets adds the saved targets to every epoll instance of
// task t, once its fds are all at their numbers. An instance shared by
// several tasks gets its targets once, from the first task restored that
// holds it and every target at the number it was added under.
func (r *restorer) restoreEpollTargets(t *task, p *taskPlan) error {
	done := stateOf[epollsDone](r.files, images.FdTypes_EVENTPOLL)
	for _, fd := range p.fds {
		if fd.GetType() != images.FdTypes_EVENTPOLL || (*done)[fd.GetId()] {
			continue
		}
		e, err := r.files.entry(fd.GetId())
		if err != nil {
			return err
		}
		ep := e.GetEpfd()
		if missing := missingTarget(p, ep); missing >= 0 {
			if r.epollHolder(t, fd.GetId(), ep) {
				continue // another task, restored later, adds them
			}
			return fmt.Errorf("restore epoll fd %d of pid %d: target fd %d is not open in the task, nor are all targets in another task holding the epoll: %w", fd.GetFd(), t.pid, missing, ErrNotSupported)
		}
		for _, tfd := range ep.GetTfd() {
			b := newScratchBuf(t.scratch)
			// struct epoll_event is packed on x86-64: u32 events, u64 data.
			ev := binary.LittleEndian.AppendUint32(nil, tfd.GetEvents())
			ev = binary.LittleEndian.AppendUint64(ev, tfd.GetData())
			evp := b.put(ev)
			if err := b.flush(t.real); err != nil {
				return err
			}
			if _, err := r.call(t, t.threads[0], "epoll_ctl", unix.SYS_EPOLL_CTL, uint64(fd.GetFd()), unix.EPOLL_CTL_ADD, uint64(tfd.GetTfd()), evp); err != nil {
				return fmt.Errorf("restore epoll fd %d of pid %d: add target fd %d (events %#x): %w", fd.GetFd(), t.pid, tfd.GetTfd(), tfd.GetEvents(), err)
			}
		}
		if *done == nil {
			*done = epollsDone{}
		}
		(*done)[fd.GetId()] = true
	}
	return nil
}

// missingTarget returns a target fd of ep that task plan p does not
// have open, or -1.
func missingTarget(p *taskPlan, ep *images.EventpollFileEntry) int {
	have := map[uint32]bool{}
	for _, fd := range p.fds {
		have[fd.GetFd()] = true
	}
	for _, tfd := range ep.GetTfd() {
		if !have[tfd.GetTfd()] {
			return int(tfd.GetTfd())
		}
	}
	return -1
}

// epollHolder tells whether a task other than t holds epoll id and every
// one of its targets. Such a task is restored after t: an earlier one
// would have added the targets.
func (r *restorer) epollHolder(t *task, id uint32, ep *images.EventpollFileEntry) bool {
	for pid, p := range r.plans {
		if pid == t.pid || missingTarget(p, ep) >= 0 {
			continue
		}
		for _, fd := range p.fds {
			if fd.GetId() == id {
				return true
			}
		}
	}
	return false
}
