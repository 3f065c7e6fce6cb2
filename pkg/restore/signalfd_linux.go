package restore

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"github.com/criugo/criugo/images"
)

func init() {
	registerFileKind(images.FdTypes_SIGNALFD, &fileKind{
		has:  func(e *images.FileEntry) bool { return e.GetSgfd() != nil },
		open: func(f *fileObjs, e *images.FileEntry) (*os.File, error) { return f.signalfdDesc(e.GetSgfd()) },
		fown: func(e *images.FileEntry) *images.FownEntry { return e.GetSgfd().GetFown() },
	})
}

// signalfdDesc creates a signalfd for the saved signal mask. A signalfd
// reads the signals of the task that reads it, not of the one that created
// it, so criu-restore can make it and hand it over.
func (f *fileObjs) signalfdDesc(e *images.SignalfdEntry) (*os.File, error) {
	if e == nil {
		return nil, fmt.Errorf("SIGNALFD without signalfd entry: %w", ErrBadImage)
	}
	flags := unix.SFD_CLOEXEC
	if e.GetFlags()&unix.O_NONBLOCK != 0 {
		flags |= unix.SFD_NONBLOCK
	}
	var mask unix.Sigset_t
	mask.Val[0] = e.GetSigmask()
	fd, err := unix.Signalfd(-1, &mask, flags)
	if err != nil {
		return nil, fmt.Errorf("create signalfd %d (mask %#x): %w", e.GetId(), e.GetSigmask(), err)
	}
	file := f.keep(os.NewFile(uintptr(fd), fmt.Sprintf("anon_inode:[signalfd] %d", e.GetId())))
	if err := setStatusFlags(file, int(e.GetFlags())); err != nil {
		return nil, err
	}
	return file, nil
}
