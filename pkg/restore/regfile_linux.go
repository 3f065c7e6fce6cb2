package restore

import (
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/criugo/criugo/images"
)

// Regular files, directories and devices are opened by path, for fds
// and for mappings alike.
func init() {
	open := func(f *fileObjs, e *images.FileEntry, flags int) (*os.File, error) {
		if e.GetReg() == nil {
			return nil, fmt.Errorf("file id %d: REG without reg entry: %w", e.GetId(), ErrBadImage)
		}
		return f.openReg(e.GetReg(), flags)
	}
	registerFileKind(images.FdTypes_REG, &fileKind{
		has: func(e *images.FileEntry) bool { return e.GetReg() != nil },
		open: func(f *fileObjs, e *images.FileEntry) (*os.File, error) {
			return open(f, e, int(e.GetReg().GetFlags()))
		},
		fown:   func(e *images.FileEntry) *images.FownEntry { return e.GetReg().GetFown() },
		mapped: open,
	})
}

// Values of remap_file_path_entry.remap_type.
const (
	remapLinked = 0
	remapGhost  = 1
)

// openReg opens a regular file (or directory, device, ...) of files.img
// with flags, at the saved position. A file that had been unlinked when
// dumped is opened through its remap: a ghost file recreated from its
// saved contents, or the link CRIU made to it at dump time.
func (f *fileObjs) openReg(reg *images.RegFileEntry, flags int) (*os.File, error) {
	path := f.r.mntPath(reg.GetName())
	if rm, ok := f.remaps[reg.GetId()]; ok {
		p, err := f.remapPath(reg, rm)
		if err != nil {
			return nil, err
		}
		path = p
	}
	open := flags &^ (unix.O_CREAT | unix.O_EXCL | unix.O_TRUNC | unix.O_NOCTTY)
	fd, err := unix.Open(path, open|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	file := f.keep(os.NewFile(uintptr(fd), reg.GetName()))
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, fmt.Errorf("stat %s: %w", path, err)
	}
	// CRIU refuses a regular file whose size changed since the dump: the
	// task's idea of its contents (mappings, offsets) would not hold.
	if reg.Size != nil && st.Mode&unix.S_IFMT == unix.S_IFREG && uint64(st.Size) != reg.GetSize() {
		return nil, fmt.Errorf("open %s: size is %d, was %d when dumped: %w", path, st.Size, reg.GetSize(), ErrBadImage)
	}
	if reg.GetPos() != 0 {
		if _, err := unix.Seek(fd, int64(reg.GetPos()), 0); err != nil {
			return nil, fmt.Errorf("seek %s to %d: %w", path, reg.GetPos(), err)
		}
	}
	return file, nil
}

// remapPath returns the path to open for a file that had been unlinked.
func (f *fileObjs) remapPath(reg *images.RegFileEntry, rm *images.RemapFilePathEntry) (string, error) {
	switch rm.GetRemapType() {
	case remapGhost:
		return f.ghost(reg, rm.GetRemapId())
	case remapLinked:
		// CRIU linked the unlinked file to a new name at dump; open that
		// name and remove it once every task has the file open.
		e, err := f.entry(rm.GetRemapId())
		if err != nil || e.GetReg() == nil {
			return "", fmt.Errorf("link remap %d of file %d: %w", rm.GetRemapId(), reg.GetId(), ErrBadImage)
		}
		p := f.r.mntPath(e.GetReg().GetName())
		f.unlinks = append(f.unlinks, p)
		return p, nil
	}
	return "", fmt.Errorf("remap type %v of file %s: %w", rm.GetRemapType(), reg.GetName(), ErrNotSupported)
}

// ghost recreates a file deleted while open from ghost-file-<id>.img, under
// its old name (or beside it if the name is taken), and returns its path.
// The name is removed once every task has opened it.
func (f *fileObjs) ghost(reg *images.RegFileEntry, id uint32) (string, error) {
	if p, ok := f.ghosts[id]; ok {
		return p, nil
	}
	name := ghostName(id)
	img, err := f.r.set.get(name)
	if err != nil {
		return "", err
	}
	if len(img.Entries) == 0 {
		return "", fmt.Errorf("read %s: no entries: %w", name, ErrBadImage)
	}
	ge, ok := img.Entries[0].Msg.(*images.GhostFileEntry)
	if !ok {
		return "", fmt.Errorf("read %s: head is %T: %w", name, img.Entries[0].Msg, ErrBadImage)
	}
	mode := ge.GetMode()
	if mode&unix.S_IFMT != unix.S_IFREG {
		return "", fmt.Errorf("ghost %s of mode %#o: %w", reg.GetName(), mode, ErrNotSupported)
	}
	path := f.r.mntPath(reg.GetName())
	var fd int
	for i := 0; ; i++ {
		fd, err = unix.Open(path, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_CLOEXEC, mode&07777)
		if err == nil {
			break
		}
		if err != unix.EEXIST || i > 100 {
			return "", fmt.Errorf("create ghost %s: %w", path, err)
		}
		path = filepath.Join(filepath.Dir(f.r.mntPath(reg.GetName())), fmt.Sprintf(".%s.criugo-ghost.%d.%d", filepath.Base(reg.GetName()), id, i))
	}
	file := os.NewFile(uintptr(fd), path)
	defer file.Close()
	f.unlinks = append(f.unlinks, path)
	if ge.GetChunks() {
		for _, e := range img.Entries[1:] {
			ch, ok := e.Msg.(*images.GhostChunkEntry)
			if !ok || e.Extra == nil {
				return "", fmt.Errorf("read %s: bad chunk: %w", name, ErrBadImage)
			}
			if _, err := file.WriteAt(e.Extra.Data, int64(ch.GetOff())); err != nil {
				return "", fmt.Errorf("write ghost %s: %w", path, err)
			}
		}
	} else if img.Entries[0].Extra != nil {
		if _, err := file.Write(img.Entries[0].Extra.Data); err != nil {
			return "", fmt.Errorf("write ghost %s: %w", path, err)
		}
	}
	if ge.Size != nil {
		if err := file.Truncate(int64(ge.GetSize())); err != nil {
			return "", fmt.Errorf("size ghost %s: %w", path, err)
		}
	}
	if err := unix.Fchown(fd, int(ge.GetUid()), int(ge.GetGid())); err != nil {
		return "", fmt.Errorf("chown ghost %s: %w", path, err)
	}
	if err := unix.Fchmod(fd, mode&07777); err != nil {
		return "", fmt.Errorf("chmod ghost %s: %w", path, err)
	}
	if ge.GetMtim() != nil || ge.GetAtim() != nil {
		ts := []unix.Timespec{
			{Sec: int64(ge.GetAtim().GetTvSec()), Nsec: int64(ge.GetAtim().GetTvUsec()) * 1000},
			{Sec: int64(ge.GetMtim().GetTvSec()), Nsec: int64(ge.GetMtim().GetTvUsec()) * 1000},
		}
		unix.UtimesNanoAt(unix.AT_FDCWD, path, ts, 0)
	}
	f.ghosts[id] = path
	return path, nil
}
