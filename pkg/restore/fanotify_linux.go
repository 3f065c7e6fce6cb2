package restore

import (
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/criugo/criugo/images"
)

func init() {
	registerFileKind(images.FdTypes_FANOTIFY, &fileKind{
		check: (*fileObjs).checkFanotify,
		open:  func(f *fileObjs, e *images.FileEntry) (*os.File, error) { return f.fanotifyDesc(e.GetFfy()) },
		fown:  func(e *images.FileEntry) *images.FownEntry { return e.GetFfy().GetFown() },
	})
}

func (f *fileObjs) checkFanotify(e *images.FileEntry) error {
	fe := e.GetFfy()
	if fe == nil {
		return fmt.Errorf("file id %d: FANOTIFY without its entry: %w", e.GetId(), ErrBadImage)
	}
	for i, m := range fe.GetMark() {
		if m.GetMflags()&unix.FAN_MARK_IGNORE != 0 {
			return fmt.Errorf("fanotify %d mark %d with FAN_MARK_IGNORE: %w", e.GetId(), i, ErrNotSupported)
		}
		switch m.GetType() {
		case images.MarkType_INODE:
			if m.GetIe().GetFHandle() == nil {
				return fmt.Errorf("fanotify %d mark %d: inode mark without its file handle: %w", e.GetId(), i, ErrBadImage)
			}
		case images.MarkType_MOUNT:
			if m.GetMe().GetPath() == "" {
				return fmt.Errorf("fanotify %d mark %d: mount mark without its path: %w", e.GetId(), i, ErrBadImage)
			}
		default:
			return fmt.Errorf("fanotify %d mark %d of type %v: %w", e.GetId(), i, m.GetType(), ErrBadImage)
		}
	}
	return nil
}

// fanotifyDesc creates a fanotify group with the saved fanotify_init flags
// and event flags, and adds each mark back: its mask, then its ignored
// mask, each with the mark's flags, on the inode (found as an inotify
// watch's: by path, ghost or file handle) or on the mount at the saved
// mount point. The kernel puts a new mark first in the group's list, so
// marks are added from the last fdinfo listed to the first, and fdinfo
// lists them in the dumped order again. The init flags are passed as
// they were (fdinfo shows them); criu-restore's own copy is made
// close-on-exec afterwards, and O_NONBLOCK follows the file's flags.
func (f *fileObjs) fanotifyDesc(e *images.FanotifyFileEntry) (*os.File, error) {
	if e == nil {
		return nil, fmt.Errorf("FANOTIFY without fanotify entry: %w", ErrBadImage)
	}
	fd, err := unix.FanotifyInit(uint(e.GetFaflags()), uint(e.GetEvflags()))
	if err != nil {
		return nil, fmt.Errorf("create fanotify %d (flags %#x, event flags %#x): %w", e.GetId(), e.GetFaflags(), e.GetEvflags(), err)
	}
	file := f.keep(os.NewFile(uintptr(fd), fmt.Sprintf("anon_inode:[fanotify] %d", e.GetId())))
	if _, err := unix.FcntlInt(file.Fd(), unix.F_SETFD, unix.FD_CLOEXEC); err != nil {
		return nil, fmt.Errorf("set close-on-exec on fanotify %d: %w", e.GetId(), err)
	}
	marks := e.GetMark()
	for i := len(marks) - 1; i >= 0; i-- {
		if err := f.addFanotifyMark(fd, marks[i]); err != nil {
			return nil, fmt.Errorf("restore fanotify %d mark %d: %w", e.GetId(), i, err)
		}
	}
	if err := setStatusFlags(file, int(e.GetFlags())); err != nil {
		return nil, err
	}
	return file, nil
}

func (f *fileObjs) addFanotifyMark(fd int, m *images.FanotifyMarkEntry) error {
	flags := uint(unix.FAN_MARK_ADD) | uint(m.GetMflags())
	var target int
	var err error
	switch m.GetType() {
	case images.MarkType_INODE:
		target, err = f.watchTarget(m.GetSDev(), m.GetIe().GetIIno(), m.GetIe().GetFHandle())
		if err != nil {
			return fmt.Errorf("inode %d: %w", m.GetIe().GetIIno(), err)
		}
	case images.MarkType_MOUNT:
		p := m.GetMe().GetPath()
		if target, err = unix.Open(p, unix.O_PATH|unix.O_CLOEXEC, 0); err != nil {
			return fmt.Errorf("open mount point %s: %w", p, err)
		}
		flags |= unix.FAN_MARK_MOUNT
	default:
		return fmt.Errorf("mark of type %v: %w", m.GetType(), ErrBadImage)
	}
	defer unix.Close(target)
	path := "/proc/self/fd/" + strconv.Itoa(target)
	if mask := m.GetMask(); mask != 0 {
		if err := unix.FanotifyMark(fd, flags, uint64(mask), unix.AT_FDCWD, path); err != nil {
			return fmt.Errorf("add mask %#x (flags %#x): %w", mask, flags, err)
		}
	}
	if mask := m.GetIgnoredMask(); mask != 0 {
		if err := unix.FanotifyMark(fd, flags|unix.FAN_MARK_IGNORED_MASK, uint64(mask), unix.AT_FDCWD, path); err != nil {
			return fmt.Errorf("add ignored mask %#x (flags %#x): %w", mask, flags, err)
		}
	}
	return nil
}
