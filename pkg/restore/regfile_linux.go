package restore

import (
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/criugo/criugo/images"
	"github.com/criugo/criugo/pkg/image"
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

// oTmpfileBit is __O_TMPFILE, the bit O_TMPFILE adds to O_DIRECTORY.
const oTmpfileBit = unix.O_TMPFILE &^ unix.O_DIRECTORY

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
	path, err := f.regPath(reg)
	if err != nil {
		return nil, err
	}
	open := flags &^ (unix.O_CREAT | unix.O_EXCL | unix.O_TRUNC | unix.O_NOCTTY)
	if flags&oTmpfileBit != 0 {
		// Opened with O_TMPFILE (tmpfile(3)), whose flags keep
		// __O_TMPFILE|O_DIRECTORY: the file (a ghost now) is no
		// directory to make an unnamed file in.
		open &^= unix.O_TMPFILE
	}
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
	// An O_PATH file has no position (lseek refuses it), as CRIU skips it.
	if reg.GetPos() != 0 && flags&unix.O_PATH == 0 {
		if _, err := unix.Seek(fd, int64(reg.GetPos()), 0); err != nil {
			return nil, fmt.Errorf("seek %s to %d: %w", path, reg.GetPos(), err)
		}
	}
	return file, nil
}

// regPath is the path to open a REG entry by: its name, or for a file
// that had been unlinked when dumped, the path of its remap.
func (f *fileObjs) regPath(reg *images.RegFileEntry) (string, error) {
	if rm, ok := f.remaps[reg.GetId()]; ok {
		return f.remapPath(reg, rm)
	}
	return f.r.mntPath(reg.GetName()), nil
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
	perm := mode & 07777
	// mk creates the ghost at path, as the kind of file it was; a
	// regular file comes back open for its contents.
	var mk func(path string) (*os.File, error)
	switch mode & unix.S_IFMT {
	case unix.S_IFREG:
		mk = func(path string) (*os.File, error) {
			fd, err := unix.Open(path, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_CLOEXEC, perm)
			if err != nil {
				return nil, err
			}
			return os.NewFile(uintptr(fd), path), nil
		}
	case unix.S_IFDIR:
		mk = func(path string) (*os.File, error) { return nil, unix.Mkdir(path, perm) }
	case unix.S_IFIFO, unix.S_IFCHR, unix.S_IFBLK:
		mk = func(path string) (*os.File, error) { return nil, unix.Mknod(path, mode, int(ge.GetRdev())) }
	case unix.S_IFLNK:
		if ge.SymlnkTarget == nil {
			return "", fmt.Errorf("read %s: a symlink without its target: %w", name, ErrBadImage)
		}
		mk = func(path string) (*os.File, error) { return nil, unix.Symlink(ge.GetSymlnkTarget(), path) }
	default:
		return "", fmt.Errorf("ghost %s of mode %#o: %w", reg.GetName(), mode, ErrNotSupported)
	}
	path := f.r.mntPath(reg.GetName())
	// Directories deleted since (rmdir_open: a directory and its parent
	// removed while the first is open) are made again for the ghost, and
	// removed with it.
	if err := f.makeParents(filepath.Dir(path)); err != nil {
		return "", fmt.Errorf("create ghost %s: %w", path, err)
	}
	var file *os.File
	for i := 0; ; i++ {
		file, err = mk(path)
		if err == nil {
			break
		}
		if err != unix.EEXIST || i > 100 {
			return "", fmt.Errorf("create ghost %s: %w", path, err)
		}
		path = filepath.Join(filepath.Dir(f.r.mntPath(reg.GetName())), fmt.Sprintf(".%s.criugo-ghost.%d.%d", filepath.Base(reg.GetName()), id, i))
	}
	f.unlinks = append(f.unlinks, path)
	if file != nil {
		defer file.Close()
		if err := fillGhost(file, img.Entries, ge); err != nil {
			return "", fmt.Errorf("write ghost %s (%s): %w", path, name, err)
		}
	}
	uid, gid, err := f.r.hostOwner(ge.GetUid(), ge.GetGid())
	if err != nil {
		return "", err
	}
	if err := unix.Fchownat(unix.AT_FDCWD, path, uid, gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return "", fmt.Errorf("chown ghost %s: %w", path, err)
	}
	if mode&unix.S_IFMT != unix.S_IFLNK {
		if err := unix.Fchmodat(unix.AT_FDCWD, path, perm, 0); err != nil {
			return "", fmt.Errorf("chmod ghost %s: %w", path, err)
		}
	}
	if ge.GetMtim() != nil || ge.GetAtim() != nil {
		ts := []unix.Timespec{
			{Sec: int64(ge.GetAtim().GetTvSec()), Nsec: int64(ge.GetAtim().GetTvUsec()) * 1000},
			{Sec: int64(ge.GetMtim().GetTvSec()), Nsec: int64(ge.GetMtim().GetTvUsec()) * 1000},
		}
		unix.UtimesNanoAt(unix.AT_FDCWD, path, ts, unix.AT_SYMLINK_NOFOLLOW)
	}
	f.ghosts[id] = path
	return path, nil
}

// makeParents makes dir and the directories above it that do not exist
// (mode 0700), to be removed once the files are open (f.rmdirs).
func (f *fileObjs) makeParents(dir string) error {
	var missing []string
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Lstat(d); err == nil {
			break
		} else if !os.IsNotExist(err) || d == filepath.Dir(d) {
			return err
		}
		missing = append(missing, d)
	}
	for i := len(missing) - 1; i >= 0; i-- {
		if err := unix.Mkdir(missing[i], 0o700); err != nil {
			return fmt.Errorf("make deleted directory %s: %w", missing[i], err)
		}
		f.rmdirs = append(f.rmdirs, missing[i])
	}
	return nil
}

// fillGhost writes a regular ghost file's contents: its chunks at their
// offsets, holes left as holes, or the whole file.
func fillGhost(file *os.File, ents []image.Entry, ge *images.GhostFileEntry) error {
	if ge.GetChunks() {
		for _, e := range ents[1:] {
			ch, ok := e.Msg.(*images.GhostChunkEntry)
			if !ok || e.Extra == nil || uint64(len(e.Extra.Data)) != ch.GetLen() {
				return fmt.Errorf("bad chunk: %w", ErrBadImage)
			}
			if _, err := file.WriteAt(e.Extra.Data, int64(ch.GetOff())); err != nil {
				return err
			}
		}
	} else if ents[0].Extra != nil {
		if _, err := file.Write(ents[0].Extra.Data); err != nil {
			return err
		}
	}
	if ge.Size != nil {
		return file.Truncate(int64(ge.GetSize()))
	}
	return nil
}
