package dump

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/criugo/criugo/images"
	"github.com/criugo/criugo/pkg/image"
	"github.com/criugo/criugo/pkg/proc"
)

// ntGNUBuildID is the type of the ELF note holding a build id.
const ntGNUBuildID = 3

// DefaultGhostLimit is the most disk space a deleted file may take for
// the dump to carry its contents, CRIU's default --ghost-limit.
const DefaultGhostLimit = 1 << 20

// ghostChunksFrom is the size from which a ghost file is stored as
// chunks of data, its holes left out, as CRIU stores it (tiny files are
// stored whole).
const ghostChunksFrom = 3 * 4096

// fileStat is what the dump knows of a file object before recording it.
type fileStat struct {
	st    unix.Stat_t
	mntID int
	// link is the path the kernel gives for it, " (deleted)" removed.
	link    string
	deleted bool
	// proc is the /proc link it was found through.
	proc string
}

func (fs *fileStat) key() fileKey {
	return fileKey{dev: fs.st.Dev, ino: fs.st.Ino, mntID: fs.mntID}
}

// statPath stats what path (a /proc link) points to, with its mount id.
func statPath(path string) (*fileStat, error) {
	var stx unix.Statx_t
	if err := unix.Statx(unix.AT_FDCWD, path, 0, unix.STATX_BASIC_STATS|unix.STATX_MNT_ID, &stx); err != nil {
		return nil, fmt.Errorf("stat %s: %w", path, err)
	}
	fs := &fileStat{mntID: int(stx.Mnt_id), proc: path}
	if err := unix.Stat(path, &fs.st); err != nil {
		return nil, fmt.Errorf("stat %s: %w", path, err)
	}
	target, err := os.Readlink(path)
	if err != nil {
		return nil, fmt.Errorf("read link %s: %w", path, err)
	}
	fs.link, fs.deleted = strings.CutSuffix(target, " (deleted)")
	return fs, nil
}

func isReg(st *unix.Stat_t) bool  { return st.Mode&unix.S_IFMT == unix.S_IFREG }
func isDir(st *unix.Stat_t) bool  { return st.Mode&unix.S_IFMT == unix.S_IFDIR }
func isFifo(st *unix.Stat_t) bool { return st.Mode&unix.S_IFMT == unix.S_IFIFO }
func isChr(st *unix.Stat_t) bool  { return st.Mode&unix.S_IFMT == unix.S_IFCHR }

// memDevMajor is the major of /dev/null, /dev/zero, /dev/random...: such
// devices are recorded as plain files.
const memDevMajor = 1

var zeroFown = func() *images.FownEntry {
	z := uint32(0)
	return &images.FownEntry{Uid: &z, Euid: &z, Signum: &z, PidType: &z, Pid: &z}
}

// addFile appends an entry to files.img.
func (d *dumper) addFile(fe *images.FileEntry) { d.files = append(d.files, fe) }

// regFile records a regular file, directory, memory device or the path of
// a FIFO as a REG entry with id: a file deleted while open also gets a
// ghost copy and a remap entry pointing to it. open reopens the file for
// reading (its contents, its build id).
func (d *dumper) regFile(id uint32, fs *fileStat, flags uint32, pos uint64, fown *images.FownEntry, open func() (*os.File, error)) error {
	st := &fs.st
	switch {
	case isReg(st), isDir(st), isFifo(st):
	case isChr(st) && unix.Major(st.Rdev) == memDevMajor:
	case flags&unix.O_PATH != 0:
		// An O_PATH fd only names its file: any kind of file, a
		// symlink itself (O_NOFOLLOW), is opened again by its path.
	default:
		return fmt.Errorf("record file %s (mode %#o): %w", fs.link, st.Mode, ErrNotSupported)
	}
	rf := &images.RegFileEntry{
		Id:    ptr(id),
		Flags: ptr(flags),
		Pos:   ptr(pos),
		Fown:  fown,
		Name:  ptr(fs.link),
		Mode:  ptr(st.Mode),
	}
	// CRIU leaves out the size of a file open for appending only (a log):
	// it grows while the tree runs, and the restore checks sizes.
	if isReg(st) && !(flags&unix.O_ACCMODE == unix.O_WRONLY && flags&unix.O_APPEND != 0) {
		rf.Size = ptr(uint64(st.Size))
	}
	var f *os.File
	if isReg(st) {
		var err error
		if f, err = open(); err != nil {
			return err
		}
		defer f.Close()
		if bid, ok := buildID(f); ok {
			rf.BuildId = bid
		}
	}
	if fs.deleted {
		if err := d.remapDeleted(id, fs, f); err != nil {
			return err
		}
	}
	d.addFile(&images.FileEntry{Type: images.FdTypes_REG.Enum(), Id: ptr(id), Reg: rf})
	return nil
}

// remapDeleted records how the restore finds file id, whose path was
// unlinked, as CRIU's check_path_remap: a file linked nowhere gets a
// ghost copy; one still linked under another name a link made now beside
// its old name (a link remap, with Options.LinkRemap; refused without,
// as CRIU refuses it). f is the file opened for reading (regular files),
// else nil.
func (d *dumper) remapDeleted(id uint32, fs *fileStat, f *os.File) error {
	if fs.st.Nlink == 0 {
		gid, err := d.ghost(fs, f)
		if err != nil {
			return err
		}
		d.remaps = append(d.remaps, &images.RemapFilePathEntry{
			OrigId: ptr(id), RemapId: ptr(gid), RemapType: images.RemapType_GHOST.Enum(),
		})
		return nil
	}
	var pst unix.Stat_t
	err := unix.Lstat(fs.link, &pst)
	switch {
	case err == nil && pst.Dev == fs.st.Dev && pst.Ino == fs.st.Ino:
		// Its name was unlinked and linked again: not deleted.
		return nil
	case err == nil:
		return fmt.Errorf("record deleted file %s: still linked elsewhere, and its path is another file now: %w", fs.link, ErrNotSupported)
	case err != unix.ENOENT && err != unix.ENOTDIR:
		return fmt.Errorf("record deleted file %s: stat its path: %w", fs.link, err)
	}
	if !d.linkRemap {
		return fmt.Errorf("record deleted file %s: still linked under another name, which needs --link-remap: %w", fs.link, ErrNotSupported)
	}
	lid, err := d.linkRemapFile(fs)
	if err != nil {
		return err
	}
	d.remaps = append(d.remaps, &images.RemapFilePathEntry{
		OrigId: ptr(id), RemapId: ptr(lid), RemapType: images.RemapType_LINKED.Enum(),
	})
	return nil
}

// linkRemapFile links a deleted file still linked elsewhere to a new name
// beside its old one ("link_remap.ID", in the nearest directory of its
// old path that still exists), as CRIU's --link-remap, records that name
// as a file of its own and returns its id. The link is removed if the
// dump fails or leaves the tree running (removeLinkRemaps); otherwise the
// restore removes it.
func (d *dumper) linkRemapFile(fs *fileStat) (uint32, error) {
	src, err := unix.Open(fs.proc, unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0, fmt.Errorf("open deleted file %s: %w", fs.link, err)
	}
	defer unix.Close(src)
	lid := d.fileIDs.unique()
	name := fmt.Sprintf("link_remap.%d", lid)
	dir := filepath.Dir(fs.link)
	var path string
	for {
		path = filepath.Join(dir, name)
		err = unix.Linkat(src, "", unix.AT_FDCWD, path, unix.AT_EMPTY_PATH)
		if err == nil {
			break
		}
		if err != unix.ENOENT || dir == "/" {
			return 0, fmt.Errorf("link deleted file %s to %s: %w", fs.link, path, err)
		}
		dir = filepath.Dir(dir)
	}
	d.linkRemaps = append(d.linkRemaps, path)
	// Owned by the file's owner, as CRIU's link is: the restore opens it
	// with the task's credentials.
	d.addFile(&images.FileEntry{Type: images.FdTypes_REG.Enum(), Id: ptr(lid), Reg: &images.RegFileEntry{
		Id: ptr(lid), Flags: ptr(uint32(0)), Pos: ptr(uint64(0)), Fown: zeroFown(), Name: ptr(path),
	}})
	return lid, nil
}

// removeLinkRemaps removes the links linkRemapFile made.
func (d *dumper) removeLinkRemaps() error {
	var errs []error
	for _, p := range d.linkRemaps {
		if err := os.Remove(p); err != nil && !os.IsNotExist(err) {
			errs = append(errs, fmt.Errorf("remove link remap %s: %w", p, err))
		}
	}
	d.linkRemaps = nil
	return errors.Join(errs...)
}

// ghost keeps a copy of a file deleted while open or mapped and linked
// nowhere, once per inode, as CRIU does with a ghost file image, and
// returns its id. A regular file from ghostChunksFrom bytes on is kept as
// chunks of data with its holes left out (SEEK_DATA/SEEK_HOLE), so that
// the restored copy has them too. A file taking more disk space than the
// ghost limit (CRIU counts st_blocks, so a sparse file may be large) is
// refused.
func (d *dumper) ghost(fs *fileStat, f *os.File) (uint32, error) {
	st := &fs.st
	key := fileKey{dev: st.Dev, ino: st.Ino}
	if gid, ok := d.ghostIDs[key]; ok {
		return gid, nil
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFREG, unix.S_IFDIR, unix.S_IFIFO, unix.S_IFCHR, unix.S_IFBLK, unix.S_IFLNK:
	default:
		return 0, fmt.Errorf("record deleted file %s (mode %#o): %w", fs.link, st.Mode, ErrNotSupported)
	}
	if used := uint64(st.Blocks) * 512; used > d.ghostLimit {
		return 0, fmt.Errorf("record deleted file %s: it takes %d bytes, over the ghost limit of %d (--ghost-limit): %w", fs.link, used, d.ghostLimit, ErrNotSupported)
	}
	ge := &images.GhostFileEntry{
		Mode: ptr(st.Mode),
		Dev:  ptr(kdev(st.Dev)),
		Ino:  ptr(st.Ino),
		Atim: &images.Timeval{TvSec: ptr(uint64(st.Atim.Sec)), TvUsec: ptr(uint64(st.Atim.Nsec / 1000))},
		Mtim: &images.Timeval{TvSec: ptr(uint64(st.Mtim.Sec)), TvUsec: ptr(uint64(st.Mtim.Nsec / 1000))},
	}
	ge.Uid, ge.Gid = d.fileOwner(st.Uid, st.Gid)
	var ents []image.Entry
	switch {
	case st.Mode&unix.S_IFMT == unix.S_IFCHR || st.Mode&unix.S_IFMT == unix.S_IFBLK:
		// The device number as the task sees it (CRIU's odev field).
		ge.Rdev = ptr(uint32(st.Rdev))
		ents = append(ents, image.Entry{Msg: ge})
	case st.Mode&unix.S_IFMT == unix.S_IFLNK:
		target, err := readlinkEmpty(fs.proc)
		if err != nil {
			return 0, fmt.Errorf("read deleted symlink %s: %w", fs.link, err)
		}
		ge.SymlnkTarget = ptr(target)
		ents = append(ents, image.Entry{Msg: ge})
	case !isReg(st):
		// A directory or FIFO: its kind and metadata are all there is.
		ents = append(ents, image.Entry{Msg: ge})
	case st.Size >= ghostChunksFrom:
		ge.Chunks, ge.Size = ptr(true), ptr(uint64(st.Size))
		ents = append(ents, image.Entry{Msg: ge})
		var read uint64
		var rerr error
		err := dataSegments(f, st.Size, func(from, to uint64) {
			if rerr != nil {
				return
			}
			if read += to - from; read > d.ghostLimit {
				rerr = fmt.Errorf("record deleted file %s: its data grew over the ghost limit of %d: %w", fs.link, d.ghostLimit, ErrNotSupported)
				return
			}
			data := make([]byte, to-from)
			if _, err := f.ReadAt(data, int64(from)); err != nil {
				rerr = fmt.Errorf("read deleted file %s at %d: %w", fs.link, from, err)
				return
			}
			ents = append(ents, image.Entry{Msg: &images.GhostChunkEntry{Len: ptr(to - from), Off: ptr(from)}, Extra: &image.Extra{Data: data}})
		})
		if err == nil {
			err = rerr
		}
		if err != nil {
			return 0, fmt.Errorf("read deleted file %s: %w", fs.link, err)
		}
	default:
		data := make([]byte, st.Size)
		if _, err := f.ReadAt(data, 0); err != nil && !(err == io.EOF && st.Size == 0) {
			return 0, fmt.Errorf("read deleted file %s: %w", fs.link, err)
		}
		ents = append(ents, image.Entry{Msg: ge, Extra: &image.Extra{Data: data}})
	}
	d.nextGhost++
	gid := d.nextGhost
	img, err := encodeImage(image.GhostFile, ents...)
	if err != nil {
		return 0, err
	}
	d.out[image.GhostFile.FileName(gid)] = img
	d.ghostIDs[key] = gid
	return gid, nil
}

// readlinkEmpty reads the target of the symlink that procLink (an fd or
// map_files link of /proc) leads to: an O_PATH open of the magic link
// gives the symlink itself (its target is not followed), which
// readlinkat(fd, "") reads.
func readlinkEmpty(procLink string) (string, error) {
	fd, err := unix.Open(procLink, unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", fmt.Errorf("open %s: %w", procLink, err)
	}
	defer unix.Close(fd)
	buf := make([]byte, unix.PathMax)
	n, err := unix.Readlinkat(fd, "", buf)
	if err != nil {
		return "", fmt.Errorf("read link %s: %w", procLink, err)
	}
	return string(buf[:n]), nil
}

// kdev encodes a device number as the kernel does internally (and CRIU's
// images store it): major in the top 12 bits, minor in the low 20.
func kdev(dev uint64) uint32 { return unix.Major(dev)<<20 | unix.Minor(dev) }

// buildID returns the GNU build id of an ELF file as CRIU stores it: the
// note's bytes as little-endian 32-bit words.
func buildID(f *os.File) ([]uint32, bool) {
	var magic [4]byte
	if _, err := f.ReadAt(magic[:], 0); err != nil || string(magic[:]) != elf.ELFMAG {
		return nil, false
	}
	ef, err := elf.NewFile(f)
	if err != nil {
		return nil, false
	}
	defer ef.Close()
	if len(ef.Progs) > 1024 {
		return nil, false
	}
	for _, p := range ef.Progs {
		if p.Type != elf.PT_NOTE || p.Filesz > 64<<10 {
			continue
		}
		notes := make([]byte, p.Filesz)
		if _, err := p.ReadAt(notes, 0); err != nil {
			continue
		}
		if id, ok := gnuBuildID(notes, ef.ByteOrder); ok {
			words := make([]uint32, (len(id)+3)/4)
			padded := make([]byte, len(words)*4)
			copy(padded, id)
			for i := range words {
				words[i] = binary.LittleEndian.Uint32(padded[4*i:])
			}
			return words, true
		}
	}
	return nil, false
}

// gnuBuildID finds the NT_GNU_BUILD_ID note in a PT_NOTE segment.
func gnuBuildID(b []byte, bo binary.ByteOrder) ([]byte, bool) {
	align := func(n uint32) int { return int((n + 3) &^ 3) }
	for len(b) >= 12 {
		namesz, descsz, typ := bo.Uint32(b), bo.Uint32(b[4:]), bo.Uint32(b[8:])
		b = b[12:]
		if align(namesz) > len(b) {
			return nil, false
		}
		name := b[:namesz]
		b = b[align(namesz):]
		if align(descsz) > len(b) {
			return nil, false
		}
		desc := b[:descsz]
		b = b[align(descsz):]
		if typ == ntGNUBuildID && string(bytes.TrimRight(name, "\x00")) == "GNU" {
			return desc, true
		}
	}
	return nil, false
}

// fdKind is what the dump does with one kind of fd: how it knows one
// from the fd's link and file, and how it records its file. Each kind
// registers its own from its file (pipes_linux.go, tty_linux.go, ...), as
// CRIU's fdtype_ops, so that a new kind is a new file and no switch; an fd
// no kind matches is refused with ErrNotSupported. The state a kind keeps
// between its files lives in the dumper, next to the other kinds'.
type fdKind struct {
	// link is the kind of fd link the kind's fds have. An anonymous
	// inode's kind is told by anon, the name in "anon_inode:[NAME]"; a
	// socket's by its domains; a path's by path, tried in the order of
	// the kinds' types, those marked fallback after the others; a
	// "TYPE:[INO]" link's (LinkInode) by inodes, the TYPEs it takes. A
	// kind with another link kind is the only one of its link kind.
	link     proc.LinkKind
	anon     string
	inodes   []string
	domains  []int
	path     func(d *dumper, fs *fileStat) bool
	fallback bool
	// dump records the file of an fd met for the first time: its
	// files.img entry and whatever else the kind keeps.
	dump func(d *dumper, x *fdDump) error
}

// fdDump is an fd whose file dumpFdFile records.
type fdDump struct {
	t      *taskDump
	f      *fdFile
	id     uint32            // the file's id
	flags  uint32            // its status flags and access mode (fileFlags)
	pos    uint64            // its position
	fown   *images.FownEntry // its owner for SIGIO
	theirs *os.File          // the task's file itself (pidfd_getfd)
	reopen func() (*os.File, error)
}

// fdKinds are the registered kinds by type; anonKinds, sockKinds,
// linkKinds and pathKinds index them by what tells them.
var (
	fdKinds    = map[images.FdTypes]*fdKind{}
	anonKinds  = map[string]images.FdTypes{}
	inodeKinds = map[string]images.FdTypes{}
	sockKinds  = map[int]images.FdTypes{}
	linkKinds  = map[proc.LinkKind]images.FdTypes{}
	pathKinds  []images.FdTypes
)

// registerFdKind makes typ a kind the dump records; called from the init
// of the kind's file.
func registerFdKind(typ images.FdTypes, k *fdKind) {
	bad := func(why string) {
		panic(fmt.Sprintf("dump: fd kind %v: %s", typ, why))
	}
	if _, dup := fdKinds[typ]; dup {
		bad("registered twice")
	}
	if k.dump == nil {
		bad("no dump")
	}
	fdKinds[typ] = k
	switch k.link {
	case proc.LinkAnonInode:
		if _, dup := anonKinds[k.anon]; dup || k.anon == "" {
			bad("anonymous inode name missing or taken")
		}
		anonKinds[k.anon] = typ
	case proc.LinkInode:
		if len(k.inodes) == 0 {
			bad("no inode types")
		}
		for _, name := range k.inodes {
			if _, dup := inodeKinds[name]; dup {
				bad("inode type taken")
			}
			inodeKinds[name] = typ
		}
	case proc.LinkSocket:
		for _, dom := range k.domains {
			if _, dup := sockKinds[dom]; dup {
				bad("socket domain taken")
			}
			sockKinds[dom] = typ
		}
	case proc.LinkPath:
		if k.path == nil {
			bad("no path test")
		}
		pathKinds = append(pathKinds, typ)
		sort.SliceStable(pathKinds, func(i, j int) bool {
			ki, kj := fdKinds[pathKinds[i]], fdKinds[pathKinds[j]]
			if ki.fallback != kj.fallback {
				return kj.fallback
			}
			return pathKinds[i] < pathKinds[j]
		})
	default:
		if _, dup := linkKinds[k.link]; dup {
			bad("link kind taken")
		}
		linkKinds[k.link] = typ
	}
}

// Regular files, directories and memory devices are recorded by path;
// tried last, as a memfd is a regular file too.
func init() {
	registerFdKind(images.FdTypes_REG, &fdKind{
		link: proc.LinkPath,
		path: func(_ *dumper, fs *fileStat) bool {
			st := &fs.st
			return isReg(st) || isDir(st) || isChr(st) && unix.Major(st.Rdev) == memDevMajor
		},
		fallback: true,
		dump: func(d *dumper, x *fdDump) error {
			return d.regFile(x.id, x.f.fs, x.flags, x.pos, x.fown, x.reopen)
		},
	})
}

// fdFile is one open fd of a task.
type fdFile struct {
	fd   int
	link proc.Link
	info *proc.FdInfo
	fs   *fileStat
}

// fileFlags are the fd's open flags as files.img stores them: without
// O_CLOEXEC, which belongs to the fd (fdinfo_entry.flags), not the file.
func (f *fdFile) fileFlags() uint32 { return f.info.Flags &^ unix.O_CLOEXEC }

// dumpFds records the fd table of t: files.img entries for files not seen
// yet, and t's fdinfo entries.
func (d *dumper) dumpFds(t *taskDump) error {
	fds, err := d.fs.Fds(t.pid)
	if err != nil {
		return fmt.Errorf("list fds of pid %d: %w", t.pid, err)
	}
	for _, fd := range fds {
		f, typ, id, err := d.recordFd(t, fd.Num, fd.Link, fd.Target)
		if err != nil {
			return err
		}
		var fdFlags uint32
		if f.info.Flags&unix.O_CLOEXEC != 0 {
			fdFlags = unix.FD_CLOEXEC
		}
		t.fdinfo = append(t.fdinfo, &images.FdinfoEntry{
			Id:    ptr(id),
			Flags: ptr(fdFlags),
			Type:  typ.Enum(),
			Fd:    ptr(uint32(fd.Num)),
		})
	}
	return d.flushEpolls(t)
}

// recordFd classifies fd num of t (whose link is link, target its text),
// numbers its file and records the file when it is new.
func (d *dumper) recordFd(t *taskDump, num int, link proc.Link, target string) (*fdFile, images.FdTypes, uint32, error) {
	var err error
	f := &fdFile{fd: num, link: link}
	if f.info, err = d.fs.FdInfo(t.pid, num); err != nil {
		return nil, 0, 0, fmt.Errorf("read fdinfo %d of pid %d: %w", num, t.pid, err)
	}
	if f.fs, err = d.statInTree(d.fs.Path(t.pid, 0, "fd", strconv.Itoa(num))); err != nil {
		return nil, 0, 0, fmt.Errorf("fd %d of pid %d: %w", num, t.pid, err)
	}
	typ, err := d.fdType(t, f)
	if err != nil {
		return nil, 0, 0, fmt.Errorf("fd %d of pid %d (%s): %w", num, t.pid, target, err)
	}
	id, isNew, err := d.fileIDs.forFd(t.pid, num, f.fs.key(), uint64(f.info.Pos))
	if err != nil {
		return nil, 0, 0, fmt.Errorf("compare fd %d of pid %d: %w", num, t.pid, err)
	}
	if isNew {
		if err := d.dumpFdFile(t, f, typ, id); err != nil {
			return nil, 0, 0, fmt.Errorf("record fd %d of pid %d (%s): %w", num, t.pid, target, err)
		}
	}
	return f, typ, id, nil
}

// fdType classifies an fd by what it points to, as the kinds of
// fdKinds match it. An O_PATH fd of a path is a REG file whatever it
// names, as CRIU records it: nothing but its path can be done with it.
func (d *dumper) fdType(t *taskDump, f *fdFile) (images.FdTypes, error) {
	if f.link.Kind == proc.LinkPath && f.info.Flags&unix.O_PATH != 0 {
		if f.fs.st.Dev == d.shmemDev && isReg(&f.fs.st) {
			return images.FdTypes_MEMFD, nil
		}
		return images.FdTypes_REG, nil
	}
	switch f.link.Kind {
	case proc.LinkAnonInode:
		if typ, ok := anonKinds[f.link.Type]; ok {
			return typ, nil
		}
		return 0, fmt.Errorf("anonymous inode [%s]: %w", f.link.Type, ErrNotSupported)
	case proc.LinkSocket:
		return d.socketType(t, f)
	case proc.LinkInode:
		if typ, ok := inodeKinds[f.link.Type]; ok {
			return typ, nil
		}
		return 0, fmt.Errorf("%s:[%d] file: %w", f.link.Type, f.link.Ino, ErrNotSupported)
	case proc.LinkPath:
		for _, typ := range pathKinds {
			if fdKinds[typ].path(d, f.fs) {
				return typ, nil
			}
		}
	default:
		if typ, ok := linkKinds[f.link.Kind]; ok {
			return typ, nil
		}
	}
	return 0, fmt.Errorf("%s file: %w", f.link.Kind, ErrNotSupported)
}

// fownOf reads the owner set with F_SETOWN on the fd's file, through a copy
// of the fd.
func fownOf(theirs *os.File, uid, euid uint32) (*images.FownEntry, error) {
	fown := zeroFown()
	typ, pid, err := ownerEx(int(theirs.Fd()))
	if err != nil {
		return nil, fmt.Errorf("read owner: %w", err)
	}
	if pid == 0 {
		return fown, nil
	}
	sig, err := unix.FcntlInt(theirs.Fd(), unix.F_GETSIG, 0)
	if err != nil {
		return nil, fmt.Errorf("read owner signal: %w", err)
	}
	fown.Uid, fown.Euid = ptr(uid), ptr(euid)
	fown.Signum = ptr(uint32(sig))
	fown.PidType = ptr(uint32(typ))
	fown.Pid = ptr(uint32(pid))
	return fown, nil
}

// stealFd returns a copy of fd of pid: the same open file, as pidfd_getfd
// gives it.
func (d *dumper) stealFd(t *taskDump, fd int) (*os.File, error) {
	if t.pidfd < 0 {
		pfd, err := unix.PidfdOpen(t.pid, 0)
		if err != nil {
			return nil, fmt.Errorf("pidfd_open %d: %w", t.pid, err)
		}
		t.pidfd = pfd
	}
	nfd, err := unix.PidfdGetfd(t.pidfd, fd, 0)
	if err != nil {
		return nil, fmt.Errorf("pidfd_getfd %d of pid %d: %w", fd, t.pid, err)
	}
	return os.NewFile(uintptr(nfd), fmt.Sprintf("pid %d fd %d", t.pid, fd)), nil
}

// dumpFdFile records the file behind a new fd.
func (d *dumper) dumpFdFile(t *taskDump, f *fdFile, typ images.FdTypes, id uint32) error {
	k, ok := fdKinds[typ]
	if !ok {
		return fmt.Errorf("fd type %v: %w", typ, ErrNotSupported)
	}
	theirs, err := d.stealFd(t, f.fd)
	if err != nil {
		return err
	}
	defer theirs.Close()
	// An O_PATH file has no owner (fcntl refuses F_GETOWN on it).
	fown := zeroFown()
	if f.info.Flags&unix.O_PATH == 0 {
		if fown, err = fownOf(theirs, t.status.Uid[0], t.status.Uid[1]); err != nil {
			return err
		}
	}
	return k.dump(d, &fdDump{
		t: t, f: f, id: id, flags: f.fileFlags(), pos: uint64(f.info.Pos), fown: fown, theirs: theirs,
		reopen: func() (*os.File, error) {
			return os.Open(d.fs.Path(t.pid, 0, "fd", strconv.Itoa(f.fd)))
		},
	})
}
