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
// "/memfd:NAME": tried before plain regular files.
func init() {
	registerFdKind(images.FdTypes_MEMFD, &fdKind{
		link: proc.LinkPath,
		path: func(d *dumper, fs *fileStat) bool {
			return fs.st.Dev == d.shmemDev && strings.HasPrefix(fs.link, "/memfd:")
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
