package dump

import (
	"encoding/binary"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/criugo/criugo/images"
	"github.com/criugo/criugo/pkg/proc"
)

func init() {
	registerFdKind(images.FdTypes_INOTIFY, &fdKind{link: proc.LinkAnonInode, anon: "inotify",
		dump: func(d *dumper, x *fdDump) error { return d.inotify(x.t, x.f, x.id, x.flags, x.fown) }})
}

// fhMinEntries is the number of 64-bit words of an fh_entry handle: the
// kernel's MAX_HANDLE_SZ (128 bytes), zero-padded.
const fhMinEntries = 16

// inotify records an inotify instance with its watches as fdinfo lists
// them (newest first). A watch is on an inode, known by its device,
// number and file handle; as CRIU does, the dump opens the handle and
// records the path it is linked at when that path still leads to the
// same inode, so a restore need not rely on the handle alone.
func (d *dumper) inotify(t *taskDump, f *fdFile, id, flags uint32, fown *images.FownEntry) error {
	e := &images.InotifyFileEntry{Id: ptr(id), Flags: ptr(flags), Fown: fown}
	var mounts []proc.Mount
	for _, w := range f.info.Inotify {
		if w.Handle == nil {
			return fmt.Errorf("inotify watch %d on inode %d: no file handle (the file system cannot export one): %w",
				w.Wd, w.Ino, ErrNotSupported)
		}
		if mounts == nil {
			var err error
			if mounts, err = d.fs.Mountinfo(t.pid); err != nil {
				return fmt.Errorf("read mountinfo of pid %d: %w", t.pid, err)
			}
		}
		fh := &images.FhEntry{
			Bytes:  ptr(uint32(len(w.Handle.Handle))),
			Type:   ptr(uint32(w.Handle.Type)),
			Handle: handleWords(w.Handle.Handle),
		}
		path, err := handlePath(t.pid, mounts, w.Sdev, w.Ino, w.Handle)
		if err != nil {
			return fmt.Errorf("inotify watch %d on inode %d: %w", w.Wd, w.Ino, err)
		}
		if path != "" {
			fh.Path = ptr(path)
		}
		e.Wd = append(e.Wd, &images.InotifyWdEntry{
			Id:          ptr(uint32(0)),
			IIno:        ptr(w.Ino),
			Mask:        ptr(w.Mask),
			IgnoredMask: ptr(w.IgnoredMask),
			SDev:        ptr(w.Sdev),
			Wd:          ptr(uint32(w.Wd)),
			FHandle:     fh,
		})
	}
	d.addFile(&images.FileEntry{Type: images.FdTypes_INOTIFY.Enum(), Id: ptr(id), Ify: e})
	return nil
}

// handleWords packs handle bytes into little-endian 64-bit words, padded
// to fhMinEntries, as CRIU stores them.
func handleWords(h []byte) []uint64 {
	n := max(fhMinEntries, (len(h)+7)/8)
	padded := make([]byte, 8*n)
	copy(padded, h)
	words := make([]uint64, n)
	for i := range words {
		words[i] = binary.LittleEndian.Uint64(padded[8*i:])
	}
	return words
}

// handlePath opens a file handle on the file system of device sdev
// (kernel dev_t) as the task pid sees it, and returns the path the inode
// is linked at, or "" when it is linked nowhere it can be found (deleted,
// or another file now at that path).
func handlePath(pid int, mounts []proc.Mount, sdev uint32, ino uint64, h *proc.FileHandle) (string, error) {
	var mnt *proc.Mount
	for i := range mounts {
		if mounts[i].Major == sdev>>20 && mounts[i].Minor == sdev&0xfffff {
			mnt = &mounts[i]
			break
		}
	}
	if mnt == nil {
		return "", fmt.Errorf("no mount of device %d:%d in pid %d: %w", sdev>>20, sdev&0xfffff, pid, ErrNotSupported)
	}
	root, err := os.OpenFile("/proc/"+strconv.Itoa(pid)+"/root"+mnt.MountPoint, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		return "", fmt.Errorf("open mount %s: %w", mnt.MountPoint, err)
	}
	defer root.Close()
	fd, err := unix.OpenByHandleAt(int(root.Fd()), unix.NewFileHandle(h.Type, h.Handle), unix.O_PATH|unix.O_CLOEXEC)
	if err != nil {
		return "", fmt.Errorf("open file handle on %s: %w", mnt.MountPoint, err)
	}
	defer unix.Close(fd)
	target, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(fd))
	if err != nil {
		return "", fmt.Errorf("read path of file handle: %w", err)
	}
	if strings.HasSuffix(target, " (deleted)") || !strings.HasPrefix(target, "/") {
		return "", nil
	}
	var held, there unix.Stat_t
	if err := unix.Fstat(fd, &held); err != nil {
		return "", fmt.Errorf("stat file handle: %w", err)
	}
	if unix.Stat("/proc/"+strconv.Itoa(pid)+"/root"+target, &there) != nil || there.Ino != held.Ino || there.Dev != held.Dev || held.Ino != ino {
		return "", nil
	}
	return target, nil
}
