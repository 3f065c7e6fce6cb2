package dump

import (
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/criugo/criugo/images"
	"github.com/criugo/criugo/pkg/image"
	"github.com/criugo/criugo/pkg/proc"
)

// A memfd is a regular file of the kernel's internal shmem mount, named
// "/memfd:NAME"; so is the object behind shared anonymous memory
// ("/dev/zero (deleted)"), which a task may hold an fd of (opened
// through /proc/PID/map_files), and CRIU records both as memfds. Tried
// before plain regular files.
func init() {
	registerFdKind(images.FdTypes_MEMFD, &fdKind{
		link: proc.LinkPath,
		path: func(d *dumper, fs *fileStat) bool {
			return fs.st.Dev == d.shmemDev && isReg(&fs.st) && !strings.HasPrefix(fs.link, "/SYSV")
		},
		dump: (*dumper).memfd,
	})
}

func (d *dumper) memfd(x *fdDump) error {
	inode, err := d.memfdInode(x.f.fs, x.reopen)
	if err != nil {
		return err
	}
	d.addFile(&images.FileEntry{Type: images.FdTypes_MEMFD.Enum(), Id: ptr(x.id), Memfd: &images.MemfdFileEntry{
		Id: ptr(x.id), Flags: ptr(x.flags), Pos: ptr(x.pos), Fown: x.fown, InodeId: ptr(inode),
	}})
	return nil
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
	uid, gid := d.fileOwner(st.Uid, st.Gid)
	d.memfdInodes = append(d.memfdInodes, &images.MemfdInodeEntry{
		Name:    ptr(strings.TrimPrefix(fs.link, "/memfd:")),
		Uid:     uid,
		Gid:     gid,
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

// shmemPages plans the pages of a shared memory object that hold data
// (SEEK_DATA/SEEK_HOLE, as CRIU 4.2 finds them: resident or swapped
// out, not holes) and registers its pagemap and pages images. The last
// page is dumped whole: past the end of the object it holds what the
// tasks' mappings wrote there, which only a mapping shows, so the pages
// are read through a mapping of our own (fileMem).
func (d *dumper) shmemPages(shmid uint32, size int64, f *os.File) error {
	plan := newPagePlan(d.maxPipe)
	var mem []byte
	if size > 0 {
		var err error
		if mem, err = unix.Mmap(int(f.Fd()), 0, int((size+pageSize-1)/pageSize*pageSize), unix.PROT_READ, unix.MAP_SHARED); err != nil {
			return fmt.Errorf("map shared memory %d: %w", shmid, err)
		}
		pages := uint64(len(mem)) / pageSize
		next := uint64(0) // the first page not planned yet
		err = dataSegments(f, size, func(from, to uint64) {
			for pg := max(from/pageSize, next); pg < min((to+pageSize-1)/pageSize, pages); pg++ {
				plan.add(pg*pageSize, false)
				next = pg + 1
			}
		})
		if err != nil {
			unix.Munmap(mem)
			return fmt.Errorf("find the pages of shared memory %d: %w", shmid, err)
		}
		plan.scanned = pages
	}
	d.stats.shScanned += plan.scanned
	d.stats.shWritten += plan.written
	d.stats.pipeBufs += plan.bufs
	d.nextPages++
	pagesID := d.nextPages
	fm := &fileMem{f: f, m: mem}
	img, err := encodeImage(image.ShmemPagemap, append(
		[]image.Entry{{Msg: &images.PagemapHead{PagesId: ptr(pagesID)}}},
		msgs(plan.entries()...)...)...)
	if err != nil {
		unix.Munmap(mem)
		return err
	}
	d.out[image.ShmemPagemap.FileName(shmid)] = img
	d.addPagesImage(image.ShmemPagemap.FileName(shmid), pagesID, newRunPages(fm, plan.runs), memCloser{fm})
	return nil
}

// dataSegments calls fn for each range [from, to) of f's first size
// bytes that SEEK_DATA and SEEK_HOLE say holds data, in order.
func dataSegments(f *os.File, size int64, fn func(from, to uint64)) error {
	fd := int(f.Fd())
	for off := int64(0); off < size; {
		data, err := unix.Seek(fd, off, unix.SEEK_DATA)
		if err == unix.ENXIO {
			return nil
		}
		if err != nil {
			return fmt.Errorf("seek data from %d: %w", off, err)
		}
		hole, err := unix.Seek(fd, data, unix.SEEK_HOLE)
		if err == unix.ENXIO {
			hole = size
		} else if err != nil {
			return fmt.Errorf("seek hole from %d: %w", data, err)
		}
		hole = min(hole, size)
		if hole > data {
			fn(uint64(data), uint64(hole))
		}
		off = hole
	}
	return nil
}
