package dump

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/criugo/criugo/images"
	"github.com/criugo/criugo/pkg/image"
	"github.com/criugo/criugo/pkg/proc"
)

// ntGNUBuildID is the type of the ELF note holding a build id.
const ntGNUBuildID = 3

// ghostLimit is the largest deleted file whose contents the dump carries
// (CRIU's default --ghost-limit).
const ghostLimit = 1 << 20

// fileStat is what the dump knows of a file object before recording it.
type fileStat struct {
	st    unix.Stat_t
	mntID int
	// link is the path the kernel gives for it, " (deleted)" removed.
	link    string
	deleted bool
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
	fs := &fileStat{mntID: int(stx.Mnt_id)}
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
		if err := d.ghost(id, fs, f); err != nil {
			return err
		}
	}
	d.addFile(&images.FileEntry{Type: images.FdTypes_REG.Enum(), Id: ptr(id), Reg: rf})
	return nil
}

// ghost keeps the contents of a file deleted while open (or mapped), as
// CRIU does with a ghost file image and a remap entry.
func (d *dumper) ghost(id uint32, fs *fileStat, f *os.File) error {
	st := &fs.st
	if st.Nlink != 0 || !isReg(st) {
		return fmt.Errorf("record deleted file %s: it is still linked elsewhere or not a regular file: %w", fs.link, ErrNotSupported)
	}
	if st.Size > ghostLimit {
		return fmt.Errorf("record deleted file %s: %d bytes, over the ghost limit of %d: %w", fs.link, st.Size, ghostLimit, ErrNotSupported)
	}
	data := make([]byte, st.Size)
	if _, err := f.ReadAt(data, 0); err != nil && !(err == io.EOF && st.Size == 0) {
		return fmt.Errorf("read deleted file %s: %w", fs.link, err)
	}
	d.nextGhost++
	gid := d.nextGhost
	ge := &images.GhostFileEntry{
		Uid:  ptr(st.Uid),
		Gid:  ptr(st.Gid),
		Mode: ptr(st.Mode),
		Dev:  ptr(kdev(st.Dev)),
		Ino:  ptr(st.Ino),
		Atim: &images.Timeval{TvSec: ptr(uint64(st.Atim.Sec)), TvUsec: ptr(uint64(st.Atim.Nsec / 1000))},
		Mtim: &images.Timeval{TvSec: ptr(uint64(st.Mtim.Sec)), TvUsec: ptr(uint64(st.Mtim.Nsec / 1000))},
	}
	img, err := encodeImage(image.GhostFile, image.Entry{Msg: ge, Extra: &image.Extra{Data: data}})
	if err != nil {
		return err
	}
	d.out[image.GhostFile.FileName(gid)] = img
	d.remaps = append(d.remaps, &images.RemapFilePathEntry{
		OrigId:    ptr(id),
		RemapId:   ptr(gid),
		RemapType: images.RemapType_GHOST.Enum(),
	})
	return nil
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

// fdFile is one open fd of a task.
type fdFile struct {
	fd   int
	link proc.Link
	info *proc.FdInfo
	fs   *fileStat
}

// fdFlags are the fd's open flags as files.img stores them: without
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
		f := &fdFile{fd: fd.Num, link: fd.Link}
		if f.info, err = d.fs.FdInfo(t.pid, fd.Num); err != nil {
			return fmt.Errorf("read fdinfo %d of pid %d: %w", fd.Num, t.pid, err)
		}
		if f.fs, err = statPath(d.fs.Path(t.pid, 0, "fd", strconv.Itoa(fd.Num))); err != nil {
			return fmt.Errorf("fd %d of pid %d: %w", fd.Num, t.pid, err)
		}
		typ, err := d.fdType(t, f)
		if err != nil {
			return fmt.Errorf("fd %d of pid %d (%s): %w", fd.Num, t.pid, fd.Target, err)
		}
		id, isNew, err := d.fileIDs.forFd(t.pid, fd.Num, f.fs.key(), uint64(f.info.Pos))
		if err != nil {
			return fmt.Errorf("compare fd %d of pid %d: %w", fd.Num, t.pid, err)
		}
		if isNew {
			if err := d.dumpFdFile(t, f, typ, id); err != nil {
				return fmt.Errorf("record fd %d of pid %d (%s): %w", fd.Num, t.pid, fd.Target, err)
			}
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

// fdType classifies an fd by what it points to.
func (d *dumper) fdType(t *taskDump, f *fdFile) (images.FdTypes, error) {
	st := &f.fs.st
	switch f.link.Kind {
	case proc.LinkPipe:
		return images.FdTypes_PIPE, nil
	case proc.LinkAnonInode:
		if typ, ok := anonTypes[f.link.Type]; ok {
			return typ, nil
		}
		return 0, fmt.Errorf("anonymous inode [%s]: %w", f.link.Type, ErrNotSupported)
	case proc.LinkSocket:
		return d.socketType(t, f)
	case proc.LinkPath:
		switch {
		case isFifo(st):
			return images.FdTypes_FIFO, nil
		case st.Dev == d.shmemDev && strings.HasPrefix(f.fs.link, "/memfd:"):
			return images.FdTypes_MEMFD, nil
		case isReg(st), isDir(st), isChr(st) && unix.Major(st.Rdev) == memDevMajor:
			return images.FdTypes_REG, nil
		case isTTY(st):
			return images.FdTypes_TTY, nil
		}
	}
	return 0, fmt.Errorf("%s file: %w", f.link.Kind, ErrNotSupported)
}

// fown reads the owner set with F_SETOWN on the fd's file, through a copy
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
	theirs, err := d.stealFd(t, f.fd)
	if err != nil {
		return err
	}
	defer theirs.Close()
	fown, err := fownOf(theirs, t.status.Uid[0], t.status.Uid[1])
	if err != nil {
		return err
	}
	flags, pos := f.fileFlags(), uint64(f.info.Pos)
	reopen := func() (*os.File, error) {
		return os.Open(d.fs.Path(t.pid, 0, "fd", strconv.Itoa(f.fd)))
	}
	switch typ {
	case images.FdTypes_REG:
		return d.regFile(id, f.fs, flags, pos, fown, reopen)
	case images.FdTypes_PIPE:
		d.addFile(&images.FileEntry{Type: typ.Enum(), Id: ptr(id), Pipe: &images.PipeEntry{
			Id: ptr(id), PipeId: ptr(uint32(f.link.Ino)), Flags: ptr(flags &^ unix.O_DIRECT), Fown: fown,
		}})
		return d.recordPipeData(&d.pipeDone, &d.pipeData, uint32(f.link.Ino), flags, theirs)
	case images.FdTypes_FIFO:
		regID := d.fileIDs.unique()
		if err := d.regFile(regID, f.fs, flags, pos, fown, reopen); err != nil {
			return err
		}
		d.addFile(&images.FileEntry{Type: typ.Enum(), Id: ptr(id), Fifo: &images.FifoEntry{
			Id: ptr(id), PipeId: ptr(uint32(f.fs.st.Ino)), RegfId: ptr(regID),
		}})
		return d.recordPipeData(&d.fifoDone, &d.fifoData, uint32(f.fs.st.Ino), flags, theirs)
	case images.FdTypes_MEMFD:
		inode, err := d.memfdInode(f.fs, reopen)
		if err != nil {
			return err
		}
		d.addFile(&images.FileEntry{Type: typ.Enum(), Id: ptr(id), Memfd: &images.MemfdFileEntry{
			Id: ptr(id), Flags: ptr(flags), Pos: ptr(pos), Fown: fown, InodeId: ptr(inode),
		}})
		return nil
	case images.FdTypes_EVENTFD:
		return d.eventfd(f, id, flags, fown)
	case images.FdTypes_SIGNALFD:
		return d.signalfd(f, id, flags, fown)
	case images.FdTypes_TIMERFD:
		return d.timerfd(f, id, flags, fown)
	case images.FdTypes_EVENTPOLL:
		return d.epoll(t, f, id, flags, fown)
	case images.FdTypes_INOTIFY:
		return d.inotify(t, f, id, flags, fown)
	case images.FdTypes_UNIXSK:
		return d.unixSocket(t, f, id, flags, fown, theirs)
	case images.FdTypes_INETSK:
		return d.inetSocket(t, f, id, flags, fown, theirs)
	case images.FdTypes_TTY:
		return d.tty(t, f, id, flags, fown, theirs)
	}
	return fmt.Errorf("fd type %v: %w", typ, ErrNotSupported)
}

// anonTypes are the anonymous inode files the dump records, by the name
// their fd link shows ("anon_inode:[eventfd]").
var anonTypes = map[string]images.FdTypes{
	"eventfd":   images.FdTypes_EVENTFD,
	"eventpoll": images.FdTypes_EVENTPOLL,
	"signalfd":  images.FdTypes_SIGNALFD,
	"timerfd":   images.FdTypes_TIMERFD,
	"inotify":   images.FdTypes_INOTIFY,
}

// pipeDataEntry is one entry of pipes-data.img or fifo-data.img.
type pipeDataEntry struct {
	e    *images.PipeDataEntry
	data []byte
}

// recordPipeData records the bytes queued in a pipe, once per pipe, read
// through a read end without taking them out: tee(2) duplicates them into
// a pipe of our own. A pipe only seen through write ends is not read
// (CRIU records data at a read end).
func (d *dumper) recordPipeData(done *map[uint32]bool, out *[]pipeDataEntry, pipeID, flags uint32, theirs *os.File) error {
	if flags&unix.O_ACCMODE == unix.O_WRONLY || (*done)[pipeID] {
		return nil
	}
	if *done == nil {
		*done = make(map[uint32]bool)
	}
	(*done)[pipeID] = true
	fd := int(theirs.Fd())
	size, err := unix.FcntlInt(uintptr(fd), unix.F_GETPIPE_SZ, 0)
	if err != nil {
		return fmt.Errorf("read pipe %d size: %w", pipeID, err)
	}
	queued, err := unix.IoctlGetInt(fd, unix.TIOCINQ)
	if err != nil {
		return fmt.Errorf("read pipe %d queue: %w", pipeID, err)
	}
	e := &images.PipeDataEntry{PipeId: ptr(pipeID), Bytes: ptr(uint32(queued)), Size: ptr(uint32(size))}
	if queued == 0 {
		*out = append(*out, pipeDataEntry{e: e})
		return nil
	}
	data, err := peekPipe(fd, size, queued)
	if err != nil {
		return fmt.Errorf("read pipe %d: %w", pipeID, err)
	}
	*out = append(*out, pipeDataEntry{e: e, data: data})
	return nil
}

// peekPipe returns the queued bytes of the pipe read end fd, leaving them
// in the pipe.
func peekPipe(fd, size, queued int) ([]byte, error) {
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		return nil, err
	}
	defer unix.Close(p[0])
	defer unix.Close(p[1])
	if _, err := unix.FcntlInt(uintptr(p[0]), unix.F_SETPIPE_SZ, max(size, queued)); err != nil {
		return nil, fmt.Errorf("size our pipe to %d: %w", size, err)
	}
	n, err := unix.Tee(fd, p[1], queued, unix.SPLICE_F_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("tee: %w", err)
	}
	if int(n) != queued {
		return nil, fmt.Errorf("tee copied %d of %d bytes: %w", n, queued, ErrKernel)
	}
	data := make([]byte, queued)
	for got := 0; got < queued; {
		n, err := unix.Read(p[0], data[got:])
		if err != nil {
			return nil, fmt.Errorf("read our pipe: %w", err)
		}
		if n == 0 {
			return nil, fmt.Errorf("read our pipe: %w", io.ErrUnexpectedEOF)
		}
		got += n
	}
	return data, nil
}

// memfdInode records a shared memory object (a memfd, or the object
// behind shared anonymous memory) once: its memfd.img entry, and its pages
// in pagemap-shmem-<ino>.img and a pages image.
func (d *dumper) memfdInode(fs *fileStat, open func() (*os.File, error)) (uint32, error) {
	k := fs.key()
	if id, ok := d.memfdIDs[k]; ok {
		return id, nil
	}
	f, err := open()
	if err != nil {
		return 0, err
	}
	keep := false
	defer func() {
		if !keep {
			f.Close()
		}
	}()
	seals, err := unix.FcntlInt(f.Fd(), unix.F_GET_SEALS, 0)
	if err != nil {
		return 0, fmt.Errorf("read seals of %s: %w", fs.link, err)
	}
	d.nextMemfd++
	id := d.nextMemfd
	d.memfdIDs[k] = id
	st := &fs.st
	d.memfdInodes = append(d.memfdInodes, &images.MemfdInodeEntry{
		Name:    ptr(strings.TrimPrefix(fs.link, "/memfd:")),
		Uid:     ptr(st.Uid),
		Gid:     ptr(st.Gid),
		Size:    ptr(uint64(st.Size)),
		Shmid:   ptr(uint32(st.Ino)),
		Seals:   ptr(uint32(seals)),
		InodeId: ptr(uint64(id)),
		Mode:    ptr(st.Mode),
	})
	if err := d.shmemPages(uint32(st.Ino), st.Size, f); err != nil {
		return 0, err
	}
	keep = true
	return id, nil
}

// shmemPages plans the pages of a shared memory object that are in
// memory (mincore through a mapping of our own) and registers its pagemap
// and pages images.
func (d *dumper) shmemPages(shmid uint32, size int64, f *os.File) error {
	plan := newPagePlan(d.maxPipe)
	if size > 0 {
		m, err := unix.Mmap(int(f.Fd()), 0, int(size), unix.PROT_READ, unix.MAP_SHARED)
		if err != nil {
			return fmt.Errorf("map shared memory %d: %w", shmid, err)
		}
		vec := make([]byte, (size+pageSize-1)/pageSize)
		err = mincore(m, vec)
		unix.Munmap(m)
		if err != nil {
			return fmt.Errorf("mincore of shared memory %d: %w", shmid, err)
		}
		for i, v := range vec {
			if v&1 != 0 {
				plan.add(uint64(i)*pageSize, false)
			}
		}
		plan.scanned = uint64(len(vec))
	}
	d.stats.shScanned += plan.scanned
	d.stats.shWritten += plan.written
	d.stats.pipeBufs += plan.bufs
	d.nextPages++
	pagesID := d.nextPages
	img, err := encodeImage(image.ShmemPagemap, append(
		[]image.Entry{{Msg: &images.PagemapHead{PagesId: ptr(pagesID)}}},
		msgs(plan.entries()...)...)...)
	if err != nil {
		return err
	}
	d.out[image.ShmemPagemap.FileName(shmid)] = img
	d.addPagesImage(image.ShmemPagemap.FileName(shmid), pagesID, newRunPages(&fileMem{f: f}, plan.runs), f)
	return nil
}
