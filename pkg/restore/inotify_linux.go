package restore

import (
	"encoding/binary"
	"fmt"
	"os"
	"sort"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/criugo/criugo/images"
	"github.com/criugo/criugo/pkg/proc"
)

func init() {
	registerFileKind(images.FdTypes_INOTIFY, &fileKind{
		has:  func(e *images.FileEntry) bool { return e.GetIfy() != nil },
		open: func(f *fileObjs, e *images.FileEntry) (*os.File, error) { return f.inotifyDesc(e.GetIfy()) },
		fown: func(e *images.FileEntry) *images.FownEntry { return e.GetIfy().GetFown() },
	})
}

// inotifyMaskBits are the bits of a watch's saved mask that
// inotify_add_watch takes back: the events, and the two flags the kernel
// keeps with the mark (fdinfo shows them in the mask).
const inotifyMaskBits = unix.IN_ALL_EVENTS | unix.IN_ONESHOT | unix.IN_EXCL_UNLINK

// inotifyDesc creates an inotify instance with every saved watch, each
// under its saved watch descriptor.
//
// The kernel hands out watch descriptors in increasing order and offers no
// way to pick one, so, as CRIU does, each watch is added, and removed and
// added again until it gets its number (removing a watch does not give its
// number back). Watches are added in the order of their numbers; the
// IN_IGNORED events the removals queue are dropped.
//
// The watched file is found as CRIU finds it: by the path the dump
// recorded when there is one, by the recreated ghost when the file had
// been deleted, else by its file handle on the mount of its device. It is
// opened O_PATH and watched through /proc/self/fd/N, which reaches the
// inode itself.
func (f *fileObjs) inotifyDesc(e *images.InotifyFileEntry) (*os.File, error) {
	if e == nil {
		return nil, fmt.Errorf("INOTIFY without inotify entry: %w", ErrBadImage)
	}
	flags := unix.IN_CLOEXEC
	if e.GetFlags()&unix.O_NONBLOCK != 0 {
		flags |= unix.IN_NONBLOCK
	}
	fd, err := unix.InotifyInit1(flags)
	if err != nil {
		return nil, fmt.Errorf("create inotify %d: %w", e.GetId(), err)
	}
	file := f.keep(os.NewFile(uintptr(fd), fmt.Sprintf("anon_inode:inotify %d", e.GetId())))
	wds := append([]*images.InotifyWdEntry(nil), e.GetWd()...)
	sort.Slice(wds, func(i, j int) bool { return wds[i].GetWd() < wds[j].GetWd() })
	for _, w := range wds {
		if err := f.addInotifyWatch(fd, w); err != nil {
			return nil, fmt.Errorf("restore inotify %d: %w", e.GetId(), err)
		}
	}
	// Each watch removed on the way queued an IN_IGNORED event, for a
	// number that now names another watch: drop them. (The events queued
	// at dump time are not in the images.)
	if err := drainInotify(fd); err != nil {
		return nil, fmt.Errorf("restore inotify %d: %w", e.GetId(), err)
	}
	if err := setStatusFlags(file, int(e.GetFlags())); err != nil {
		return nil, err
	}
	return file, nil
}

// drainInotify reads and drops every event queued on inotify fd.
func drainInotify(fd int) error {
	buf := make([]byte, 4096)
	for {
		pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		n, err := unix.Poll(pfd, 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("poll: %w", err)
		}
		if n == 0 {
			return nil
		}
		if _, err := unix.Read(fd, buf); err != nil && err != unix.EINTR {
			return fmt.Errorf("drop events: %w", err)
		}
	}
}

// maxWdTries bounds the add-and-remove loop that gets a watch its number:
// numbers below it that the kernel has not handed out yet.
const maxWdTries = 1 << 16

func (f *fileObjs) addInotifyWatch(fd int, w *images.InotifyWdEntry) error {
	want := int(w.GetWd())
	if want <= 0 {
		return fmt.Errorf("watch descriptor %d: %w", want, ErrBadImage)
	}
	target, err := f.watchTarget(w.GetSDev(), w.GetIIno(), w.GetFHandle())
	if err != nil {
		return fmt.Errorf("watch %d (inode %d): %w", want, w.GetIIno(), err)
	}
	defer unix.Close(target)
	path := "/proc/self/fd/" + strconv.Itoa(target)
	mask := w.GetMask() & inotifyMaskBits
	for range maxWdTries {
		wd, err := unix.InotifyAddWatch(fd, path, mask)
		if err != nil {
			return fmt.Errorf("add watch %d (inode %d, mask %#x): %w", want, w.GetIIno(), mask, err)
		}
		if wd == want {
			return nil
		}
		if wd > want {
			// Watches come in the order of their numbers, so this is a
			// second watch of an inode that already has one.
			return fmt.Errorf("add watch %d (inode %d): got number %d: %w", want, w.GetIIno(), wd, ErrBadImage)
		}
		if _, err := unix.InotifyRmWatch(fd, uint32(wd)); err != nil {
			return fmt.Errorf("remove watch %d: %w", wd, err)
		}
	}
	return fmt.Errorf("add watch %d: number not reached after %d tries: %w", want, maxWdTries, ErrBadImage)
}

// watchTarget opens (O_PATH) the file a watch or mark is on.
func (f *fileObjs) watchTarget(sdev uint32, ino uint64, fh *images.FhEntry) (int, error) {
	if fh == nil {
		return -1, fmt.Errorf("no file handle: %w", ErrBadImage)
	}
	if p := fh.GetPath(); p != "" {
		fd, err := unix.Open(p, unix.O_PATH|unix.O_CLOEXEC, 0)
		if err != nil {
			return -1, fmt.Errorf("open %s: %w", p, err)
		}
		return fd, nil
	}
	p, err := f.ghostFor(sdev, ino)
	if err != nil {
		return -1, err
	}
	if p != "" {
		fd, err := unix.Open(p, unix.O_PATH|unix.O_CLOEXEC, 0)
		if err != nil {
			return -1, fmt.Errorf("open ghost %s: %w", p, err)
		}
		return fd, nil
	}
	return openHandle(sdev, fh)
}

// ghostFor recreates the ghost file of a deleted file with device sdev and
// inode ino, if the image set has one, and returns its path ("" if none).
func (f *fileObjs) ghostFor(sdev uint32, ino uint64) (string, error) {
	for id, rm := range f.remaps {
		if rm.GetRemapType() != remapGhost {
			continue
		}
		img, err := f.r.set.lookup(ghostName(rm.GetRemapId()))
		if err != nil {
			return "", err
		}
		if img == nil || len(img.Entries) == 0 {
			continue
		}
		ge, ok := img.Entries[0].Msg.(*images.GhostFileEntry)
		if !ok || ge.GetIno() != ino || ge.GetDev() != sdev {
			continue
		}
		e, err := f.entry(id)
		if err != nil || e.GetReg() == nil {
			return "", fmt.Errorf("ghost %d stands for file %d: %w", rm.GetRemapId(), id, ErrBadImage)
		}
		return f.ghost(e.GetReg(), rm.GetRemapId())
	}
	return "", nil
}

// maxHandleBytes is MAX_HANDLE_SZ, the largest file handle.
const maxHandleBytes = 128

// openHandle opens a file by its handle on a mount of device sdev (the
// kernel's encoding, major<<20 | minor).
func openHandle(sdev uint32, fh *images.FhEntry) (int, error) {
	n := int(fh.GetBytes())
	if n <= 0 || n > maxHandleBytes || n > 8*len(fh.GetHandle()) {
		return -1, fmt.Errorf("file handle of %d bytes (%d words): %w", n, len(fh.GetHandle()), ErrBadImage)
	}
	raw := make([]byte, 0, 8*len(fh.GetHandle()))
	for _, w := range fh.GetHandle() {
		raw = binary.LittleEndian.AppendUint64(raw, w)
	}
	mnt, err := openMountOf(sdev)
	if err != nil {
		return -1, err
	}
	defer unix.Close(mnt)
	fd, err := unix.OpenByHandleAt(mnt, unix.NewFileHandle(int32(fh.GetType()), raw[:n]), unix.O_PATH|unix.O_CLOEXEC)
	if err != nil {
		return -1, fmt.Errorf("open file handle (type %d) on device %d:%d: %w", fh.GetType(), sdev>>20, sdev&(1<<20-1), err)
	}
	return fd, nil
}

// openMountOf opens a mount point of the device sdev (open_by_handle_at
// refuses an O_PATH one).
func openMountOf(sdev uint32) (int, error) {
	mounts, err := proc.FS{}.Mountinfo(os.Getpid())
	if err != nil {
		return -1, err
	}
	major, minor := sdev>>20, sdev&(1<<20-1)
	for _, m := range mounts {
		if m.Major != major || m.Minor != minor {
			continue
		}
		fd, err := unix.Open(m.MountPoint, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err == nil {
			return fd, nil
		}
	}
	return -1, fmt.Errorf("no mount of device %d:%d to open a file handle on: %w", major, minor, ErrNotSupported)
}
