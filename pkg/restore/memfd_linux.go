package restore

import (
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"

	"github.com/criugo/criugo/images"
)

// A memfd is opened from its inode, for fds and mappings, and sealed at
// the first stage of finish.
func init() {
	registerFileKind(images.FdTypes_MEMFD, &fileKind{
		has:  func(e *images.FileEntry) bool { return e.GetMemfd() != nil },
		open: func(f *fileObjs, e *images.FileEntry) (*os.File, error) { return f.memfdDesc(e.GetMemfd()) },
		fown: func(e *images.FileEntry) *images.FownEntry { return e.GetMemfd().GetFown() },
		mapped: func(f *fileObjs, e *images.FileEntry, _ int) (*os.File, error) {
			if e.GetMemfd() == nil {
				return nil, fmt.Errorf("file id %d: MEMFD without memfd entry: %w", e.GetId(), ErrBadImage)
			}
			obj, err := f.memfd(uint64(e.GetMemfd().GetInodeId()))
			if err != nil {
				return nil, err
			}
			return obj.file, nil
		},
		finish: (*fileObjs).sealMemfds,
		stage:  finishSeal,
	})
}

// memfdObj is one memfd inode of memfd.img, recreated by criu-restore.
// Its seals are added last, once every task has mapped it: F_SEAL_WRITE
// would refuse the writable shared mappings made before.
type memfdObj struct {
	file  *os.File
	seals uint32
	// given: file itself went to a task as an O_RDWR description.
	given bool
}

// memfd returns the memfd with the given inode id, creating and filling it
// on first use.
func (f *fileObjs) memfd(inode uint64) (*memfdObj, error) {
	if m, ok := f.memfds[inode]; ok {
		return m, nil
	}
	ents, err := entries[*images.MemfdInodeEntry](f.r.set, "memfd.img", false)
	if err != nil {
		return nil, err
	}
	var me *images.MemfdInodeEntry
	for _, e := range ents {
		if e.GetInodeId() == inode {
			me = e
			break
		}
	}
	if me == nil {
		return nil, fmt.Errorf("memfd inode %d is not in memfd.img: %w", inode, ErrBadImage)
	}
	if me.GetHugetlbFlag() != 0 {
		return nil, fmt.Errorf("hugetlb memfd %q: %w", me.GetName(), ErrNotSupported)
	}
	fd, err := unix.MemfdCreate(me.GetName(), unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return nil, fmt.Errorf("create memfd %q: %w", me.GetName(), err)
	}
	file := f.keep(os.NewFile(uintptr(fd), "memfd:"+me.GetName()))
	if err := unix.Ftruncate(fd, int64(me.GetSize())); err != nil {
		return nil, fmt.Errorf("size memfd %q to %d: %w", me.GetName(), me.GetSize(), err)
	}
	if err := f.fillLater(file, uint64(me.GetShmid())); err != nil {
		return nil, err
	}
	if me.Mode != nil {
		if err := unix.Fchmod(fd, me.GetMode()&07777); err != nil {
			return nil, fmt.Errorf("chmod memfd %q: %w", me.GetName(), err)
		}
	}
	uid, gid, err := f.r.hostOwner(me.GetUid(), me.GetGid())
	if err != nil {
		return nil, err
	}
	if err := unix.Fchown(fd, uid, gid); err != nil {
		return nil, fmt.Errorf("chown memfd %q: %w", me.GetName(), err)
	}
	m := &memfdObj{file: file, seals: me.GetSeals()}
	f.memfds[inode] = m
	return m, nil
}

// memfdDesc opens a description of a memfd as a file entry says.
func (f *fileObjs) memfdDesc(e *images.MemfdFileEntry) (*os.File, error) {
	if e == nil {
		return nil, fmt.Errorf("MEMFD without memfd entry: %w", ErrBadImage)
	}
	m, err := f.memfd(uint64(e.GetInodeId()))
	if err != nil {
		return nil, err
	}
	// As CRIU, the first O_RDWR description is memfd_create's own file:
	// only that one can be run with execveat(AT_EMPTY_PATH), since a
	// reopen through /proc counts as a writer and exec gets ETXTBSY.
	var d *os.File
	if flags := int(e.GetFlags()); !m.given && flags&unix.O_ACCMODE == unix.O_RDWR {
		if _, err := unix.FcntlInt(m.file.Fd(), unix.F_SETFL, flags); err != nil {
			return nil, fmt.Errorf("set flags %#o of memfd: %w", flags, err)
		}
		m.given, d = true, m.file
	} else if d, err = f.reopen(m.file, flags); err != nil {
		return nil, err
	}
	if e.GetPos() != 0 {
		if _, err := unix.Seek(int(d.Fd()), int64(e.GetPos()), 0); err != nil {
			return nil, fmt.Errorf("seek memfd to %d: %w", e.GetPos(), err)
		}
	}
	return d, nil
}

// anonShared returns the memfd standing for shared anonymous memory shmid
// (VMA_ANON_SHARED), of at least size bytes.
func (f *fileObjs) anonShared(shmid, size uint64) (*os.File, error) {
	if m, ok := f.shmem[shmid]; ok {
		var st unix.Stat_t
		if err := unix.Fstat(int(m.Fd()), &st); err != nil {
			return nil, fmt.Errorf("stat shared memory %d: %w", shmid, err)
		}
		if uint64(st.Size) < size {
			if err := unix.Ftruncate(int(m.Fd()), int64(size)); err != nil {
				return nil, fmt.Errorf("size shared memory %d to %d: %w", shmid, size, err)
			}
		}
		return m, nil
	}
	fd, err := unix.MemfdCreate("dev/zero", unix.MFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("create shared memory %d: %w", shmid, err)
	}
	file := f.keep(os.NewFile(uintptr(fd), fmt.Sprintf("shmem:%d", shmid)))
	if err := unix.Ftruncate(fd, int64(size)); err != nil {
		return nil, fmt.Errorf("size shared memory %d to %d: %w", shmid, size, err)
	}
	f.shmem[shmid] = file
	if err := f.fillLater(file, shmid); err != nil {
		return nil, err
	}
	return file, nil
}

// fillLater fills shared memory shmid now, or, while a stream is being
// read (its pages come after every task's), records it to fill when they
// come.
func (f *fileObjs) fillLater(file *os.File, shmid uint64) error {
	if f.r.deferFill {
		f.unfilled[shmid] = file
		return nil
	}
	return f.fillShmem(file, shmid, nil)
}

// shmemObject returns the object that holds shared memory shmid: a memfd
// of memfd.img, or else shared anonymous memory, creating it if needed.
func (f *fileObjs) shmemObject(shmid uint64) (*os.File, error) {
	ents, err := entries[*images.MemfdInodeEntry](f.r.set, "memfd.img", true)
	if err != nil {
		return nil, err
	}
	for _, e := range ents {
		if uint64(e.GetShmid()) == shmid {
			m, err := f.memfd(e.GetInodeId())
			if err != nil {
				return nil, err
			}
			return m.file, nil
		}
	}
	return f.anonShared(shmid, f.r.shmemSize(shmid))
}

// fillUnfilled fills every shared memory object whose pages had not come
// when it was created.
func (f *fileObjs) fillUnfilled() error {
	for shmid, file := range f.unfilled {
		if err := f.fillShmem(file, shmid, nil); err != nil {
			return err
		}
		delete(f.unfilled, shmid)
	}
	return nil
}

// fillShmem writes the saved pages of shared memory shmid into file, from
// pagemap-shmem-<shmid>.img and its pages, read from src, or from the
// pages file when src is nil. Shared memory no page of which was saved
// has no pagemap.
func (f *fileObjs) fillShmem(file *os.File, shmid uint64, src io.Reader) error {
	name := shmemPagemapName(shmid)
	img, err := f.r.set.lookup(name)
	if err != nil {
		return err
	}
	if img == nil {
		return nil
	}
	id, runs, err := readPagemap(f.r.set, name)
	if err != nil {
		return err
	}
	if src == nil {
		rc, err := f.r.pages.open(id)
		if err != nil {
			return fmt.Errorf("restore shared memory %d (%s): %w", shmid, name, err)
		}
		defer rc.Close()
		src = rc
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(file.Fd()), &st); err != nil {
		return fmt.Errorf("stat shared memory %d: %w", shmid, err)
	}
	// The pages go in through a mapping of the object's whole pages, as
	// CRIU restores them: writes would grow an object whose size is not
	// a whole number of pages, and its last page holds, past the end,
	// what the tasks' mappings wrote there.
	size := (uint64(st.Size) + pageSize - 1) / pageSize * pageSize
	if size == 0 {
		if len(runs) > 0 {
			return fmt.Errorf("read %s: pages for an empty object: %w", name, ErrBadImage)
		}
		return nil
	}
	mem, err := unix.Mmap(int(file.Fd()), 0, int(size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return fmt.Errorf("map shared memory %d: %w", shmid, err)
	}
	defer unix.Munmap(mem)
	var buf []byte // for pages in the parent
	for _, run := range runs {
		if !run.inParent && !run.present {
			continue
		}
		if run.end() > size {
			return fmt.Errorf("read %s: pages at %#x+%d beyond the %d-byte object: %w", name, run.vaddr, run.nr, st.Size, ErrBadImage)
		}
		if run.inParent {
			if buf == nil {
				buf = make([]byte, 1<<20)
			}
			if err := copyParentPieces(run.from, buf, func(b []byte, at uint64) error {
				if at > size || uint64(len(b)) > size-at {
					return fmt.Errorf("pages at %#x beyond the %d-byte object: %w", at, st.Size, ErrBadImage)
				}
				copy(mem[at:], b)
				return nil
			}); err != nil {
				return fmt.Errorf("restore shared memory %d (%s): %w", shmid, name, err)
			}
			continue
		}
		if _, err := io.ReadFull(src, mem[run.vaddr:run.end()]); err != nil {
			return fmt.Errorf("read %s for %s: %w", pagesName(id), name, truncatedErr(err))
		}
	}
	return nil
}

// sealMemfds adds the saved seals to every memfd.
func (f *fileObjs) sealMemfds() error {
	for _, m := range f.memfds {
		if m.seals == 0 {
			continue
		}
		if _, err := unix.FcntlInt(m.file.Fd(), unix.F_ADD_SEALS, int(m.seals)); err != nil {
			return fmt.Errorf("seal %s with %#x: %w", m.file.Name(), m.seals, err)
		}
	}
	return nil
}
