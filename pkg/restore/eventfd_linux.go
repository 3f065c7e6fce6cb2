package restore

import (
	"encoding/binary"
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"github.com/criugo/criugo/images"
)

// An eventfd is made with its counter (eventfdDesc).
func init() {
	registerFileKind(images.FdTypes_EVENTFD, &fileKind{
		has:  func(e *images.FileEntry) bool { return e.GetEfd() != nil },
		open: func(f *fileObjs, e *images.FileEntry) (*os.File, error) { return f.eventfdDesc(e.GetEfd()) },
		fown: func(e *images.FileEntry) *images.FownEntry { return e.GetEfd().GetFown() },
	})
}

// eventfdDesc creates an eventfd with its saved counter.
//
// CRIU's eventfd_file_entry keeps the file's status flags but not
// EFD_SEMAPHORE (which the kernel holds outside f_flags), so an eventfd
// comes back in counter mode, as it does with CRIU.
func (f *fileObjs) eventfdDesc(e *images.EventfdFileEntry) (*os.File, error) {
	if e == nil {
		return nil, fmt.Errorf("EVENTFD without eventfd entry: %w", ErrBadImage)
	}
	// eventfd2 takes the initial count as an unsigned int, the counter is
	// a u64 (at most 2^64-2): the count is written after creation.
	flags := unix.EFD_CLOEXEC
	if e.GetFlags()&unix.O_NONBLOCK != 0 {
		flags |= unix.EFD_NONBLOCK
	}
	fd, err := unix.Eventfd(0, flags)
	if err != nil {
		return nil, fmt.Errorf("create eventfd %d: %w", e.GetId(), err)
	}
	file := f.keep(os.NewFile(uintptr(fd), fmt.Sprintf("anon_inode:[eventfd] %d", e.GetId())))
	if c := e.GetCounter(); c != 0 {
		if c == ^uint64(0) {
			return nil, fmt.Errorf("eventfd %d: counter %#x: %w", e.GetId(), c, ErrBadImage)
		}
		b := binary.NativeEndian.AppendUint64(nil, c)
		// O_NONBLOCK or not, a write to an empty eventfd never blocks.
		if _, err := unix.Write(fd, b); err != nil {
			return nil, fmt.Errorf("set eventfd %d counter to %d: %w", e.GetId(), c, err)
		}
	}
	if err := setStatusFlags(file, int(e.GetFlags())); err != nil {
		return nil, err
	}
	return file, nil
}
