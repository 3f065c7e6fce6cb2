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

// mapFilesPath is /proc/PID/map_files/START-END of a mapping: the file it
// maps, which root may open even when it was deleted.
func (d *dumper) mapFilesPath(pid int, v *proc.VMA) string {
	return d.fs.Path(pid, 0, "map_files", fmt.Sprintf("%x-%x", v.Start, v.End))
}

// fdflagsOf gives the access mode the mapped file was opened with, which
// /proc/PID/map_files shows as the owner bits of the link's mode.
func fdflagsOf(path string) (uint32, error) {
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		return 0, fmt.Errorf("stat %s: %w", path, err)
	}
	switch st.Mode & 0o600 {
	case 0o600:
		return unix.O_RDWR, nil
	case 0o200:
		return unix.O_WRONLY, nil
	}
	return unix.O_RDONLY, nil
}

// dumpMappings reads t's mappings, classifies them and records the files
// behind file mappings: CRIU numbers these files before any fd.
func (d *dumper) dumpMappings(t *taskDump) error {
	vmas, err := d.fs.Smaps(t.pid)
	if err != nil {
		return fmt.Errorf("read mappings of pid %d: %w", t.pid, err)
	}
	for i := range vmas {
		v := &vmas[i]
		var fs *fileStat
		var fileDev uint64
		path := ""
		if v.Kind == proc.VMAFile {
			if what := asyncRing(v.Path); what != "" {
				return fmt.Errorf("mapping %#x-%#x of pid %d is %s: %w", v.Start, v.End, t.pid, what, ErrNotSupported)
			}
			path = d.mapFilesPath(t.pid, v)
			if isAioRing(v.Path) {
				fdflags, err := fdflagsOf(path)
				if err != nil {
					return fmt.Errorf("mapping %#x-%#x of pid %d: %w", v.Start, v.End, t.pid, err)
				}
				m := aioMapping(*v, fdflags)
				if err := checkAioRing(t.pid, &m); err != nil {
					return err
				}
				t.maps = append(t.maps, m)
				continue
			}
			if fs, err = d.statInTree(path); err != nil {
				return fmt.Errorf("mapping %#x-%#x of pid %d: %w", v.Start, v.End, t.pid, err)
			}
			fileDev = fs.st.Dev
		}
		m := classifyVMA(*v, fileDev, d.shmemDev)
		switch m.kind {
		case vmaUnsupported:
			return fmt.Errorf("mapping %#x-%#x of pid %d (%s, VmFlags %v): %w", v.Start, v.End, t.pid, v.Path, v.VmFlags, ErrNotSupported)
		case vmaSysV:
			if err := d.sysvMapping(t.pid, m.e, fs, path); err != nil {
				return fmt.Errorf("SysV shared memory mapping %#x-%#x of pid %d: %w", v.Start, v.End, t.pid, err)
			}
			t.maps = append(t.maps, m)
			continue
		}
		if fs != nil {
			fdflags, err := fdflagsOf(path)
			if err != nil {
				return err
			}
			m.e.Fdflags = ptr(fdflags)
			id, isNew := d.fileIDs.forFile(fs.key())
			if isNew {
				open := func() (*os.File, error) { return os.Open(path) }
				if m.is(images.VmaAreaMemfd) {
					inode, err := d.memfdInode(fs, open)
					if err != nil {
						return fmt.Errorf("mapping %#x-%#x of pid %d: %w", v.Start, v.End, t.pid, err)
					}
					// The mapping's file: CRIU records the flags when the
					// restore opens it, so none here.
					d.addFile(&images.FileEntry{Type: images.FdTypes_MEMFD.Enum(), Id: ptr(id), Memfd: &images.MemfdFileEntry{
						Id: ptr(id), Flags: ptr(uint32(0)), Pos: ptr(uint64(0)), Fown: zeroFown(), InodeId: ptr(inode),
					}})
				} else if err := d.regFile(id, fs, 0, 0, zeroFown(), open); err != nil {
					return fmt.Errorf("mapping %#x-%#x of pid %d: %w", v.Start, v.End, t.pid, err)
				}
			}
			m.e.Shmid = ptr(uint64(id))
		}
		t.maps = append(t.maps, m)
	}
	t.maps = mergeVvar(t.maps)
	return nil
}

// asyncRing names the kernel ring a mapping of path is, if it is one
// that is not restored: the rings of an io_uring instance (mapped from
// its anonymous inode), which no one restores (AIO rings are: aio_linux.go).
func asyncRing(path string) string {
	if strings.HasPrefix(path, "anon_inode:[io_uring]") {
		return "the rings of an io_uring instance"
	}
	return ""
}

// planPages decides which pages of t's private mappings go to its pages
// image, reading /proc/PID/pagemap. Mappings with nothing resident or
// swapped are not read (but [vdso], dumped whole, always is).
func (d *dumper) planPages(t *taskDump) error {
	plan := newPagePlan(d.maxPipe)
	pm, err := d.fs.OpenPagemap(t.pid)
	if err != nil {
		return fmt.Errorf("open pagemap of pid %d: %w", t.pid, err)
	}
	defer pm.Close()
	var sps []uint64
	for _, th := range t.threads {
		sps = append(sps, th.regs.Rsp)
	}
	var same []proc.Span
	if d.track != nil {
		if same, err = d.inParent(t, pm); err != nil {
			return err
		}
	}
	var buf []proc.PagemapEntry
	pme := make([]uint64, 0)
	for i := range t.maps {
		m := &t.maps[i]
		n := int(m.Len() / pageSize)
		if !m.private() || m.is(images.VmaAreaVvar) || m.droppable() {
			continue
		}
		if m.Rss == 0 && m.Swap == 0 && !m.is(images.VmaAreaVdso) {
			plan.scanned += uint64(n)
			continue
		}
		// A window at a time, so that a huge sparse mapping costs no
		// more memory than a small one.
		for done := 0; done < n; {
			w := min(n-done, pagemapWindow)
			start := m.Start + uint64(done)*pageSize
			buf = grow(buf, w)
			if err := pm.Read(start, buf); err != nil {
				return fmt.Errorf("read pagemap of pid %d: %w", t.pid, err)
			}
			pme = pme[:0]
			for _, e := range buf {
				pme = append(pme, uint64(e))
			}
			plan.addRangeParent(m, start, pme, d.zeroPFN, sps, same)
			t.cow = addCOW(t.cow, start, buf)
			done += w
		}
	}
	// Guard regions live in page tables only: no vma shows them.
	var end uint64
	for i := range t.maps {
		if m := &t.maps[i]; !m.is(images.VmaAreaVsyscall) {
			end = max(end, m.End)
		}
	}
	if end > 0 {
		guards, _, err := pm.GuardRegions(end)
		if err != nil {
			return fmt.Errorf("pid %d: %w", t.pid, err)
		}
		t.guards = guards
	}
	t.plan = plan
	d.stats.scanned += plan.scanned
	d.stats.written += plan.written
	d.stats.parent += plan.parent
	d.stats.pipeBufs += plan.bufs
	d.nextPages++
	t.pagesID = d.nextPages
	return nil
}

// addCOW appends to cow the pages of es (pagemap entries from start on)
// that are present but mapped by other tasks too: anonymous pages shared
// copy-on-write since a fork (or page cache pages of a private file
// mapping, which cost nothing to read either way).
func addCOW(cow []proc.Span, start uint64, es []proc.PagemapEntry) []proc.Span {
	for i, e := range es {
		if !e.Present() || e.Exclusive() {
			continue
		}
		a := start + uint64(i)*pageSize
		if n := len(cow); n > 0 && cow[n-1].End == a {
			cow[n-1].End = a + pageSize
		} else {
			cow = append(cow, proc.Span{Start: a, End: a + pageSize})
		}
	}
	return cow
}

// pagemapWindow is how many pagemap entries are read at once: 512 KiB of
// entries for 256 MiB of address space.
const pagemapWindow = 1 << 16

func grow[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}

// registerPages adds t's pagemap image and the pages image it describes.
func (d *dumper) registerPages(t *taskDump) error {
	name := image.Pagemap.FileName(t.nsPid)
	img, err := encodeImage(image.Pagemap, append(
		[]image.Entry{{Msg: &images.PagemapHead{PagesId: ptr(t.pagesID)}}},
		msgs(t.plan.entries()...)...)...)
	if err != nil {
		return err
	}
	d.out[name] = img
	var mem memReader = &taskMem{fs: d.fs, pid: t.pid, cow: t.cow}
	if d.readLive {
		lm, err := newLiveMem(d.fs, t.pid, t.cow)
		if err != nil {
			return err
		}
		d.live = append(d.live, lm)
		mem = lm
	}
	d.addPagesImage(name, t.pagesID, newRunPages(mem, t.plan.runs), memCloser{mem})
	return nil
}

type memCloser struct{ m memReader }

func (c memCloser) Close() error { return c.m.close() }

// auxv reads the saved auxiliary vector, as CRIU stores it: key and value
// words, without the terminating AT_NULL pair.
func (d *dumper) auxv(pid int) ([]uint64, error) {
	es, err := d.fs.Auxv(pid)
	if err != nil {
		return nil, fmt.Errorf("read auxv of pid %d: %w", pid, err)
	}
	out := make([]uint64, 0, 2*len(es))
	for _, e := range es {
		out = append(out, e.Type, e.Value)
	}
	return out, nil
}

// mmEntry builds mm-PID.img: the mappings, the address space layout from
// /proc/PID/stat, brk and prctl state from the parasite, the auxv and the
// exe file (recorded here, after the fds, as CRIU does).
func (d *dumper) mmEntry(t *taskDump) (*images.MmEntry, error) {
	exePath := d.fs.Path(t.pid, 0, "exe")
	fs, err := d.statInTree(exePath)
	if err != nil {
		return nil, fmt.Errorf("exe of pid %d: %w", t.pid, err)
	}
	exeID, isNew := d.fileIDs.forFile(fs.key())
	if isNew {
		open := func() (*os.File, error) { return os.Open(exePath) }
		if err := d.regFile(exeID, fs, 0, 0, zeroFown(), open); err != nil {
			return nil, fmt.Errorf("exe of pid %d: %w", t.pid, err)
		}
	}
	auxv, err := d.auxv(t.pid)
	if err != nil {
		return nil, err
	}
	st := t.stat
	mm := &images.MmEntry{
		MmStartCode:  ptr(st.StartCode),
		MmEndCode:    ptr(st.EndCode),
		MmStartData:  ptr(st.StartData),
		MmEndData:    ptr(st.EndData),
		MmStartStack: ptr(st.StartStack),
		MmStartBrk:   ptr(st.StartBrk),
		MmBrk:        ptr(t.para.misc.Brk),
		MmArgStart:   ptr(st.ArgStart),
		MmArgEnd:     ptr(st.ArgEnd),
		MmEnvStart:   ptr(st.EnvStart),
		MmEnvEnd:     ptr(st.EnvEnd),
		ExeFileId:    ptr(exeID),
		MmSavedAuxv:  auxv,
		Dumpable:     ptr(t.para.misc.Dumpable),
		ThpDisabled:  ptr(t.para.misc.ThpDisabled != 0),
	}
	for i := range t.maps {
		mm.Vmas = append(mm.Vmas, t.maps[i].e)
	}
	if mm.Aios, err = aioEntries(t); err != nil {
		return nil, err
	}
	// As CRIU 4.2: guard regions follow the vmas as vmas of their own.
	for _, g := range t.guards {
		mm.Vmas = append(mm.Vmas, &images.VmaEntry{
			Start: ptr(g.Start), End: ptr(g.End), Pgoff: ptr(uint64(0)), Shmid: ptr(uint64(0)),
			Prot: ptr(uint32(0)), Flags: ptr(uint32(0)), Status: ptr(uint32(images.VmaAreaGuard)), Fd: ptr(int64(-1)),
		})
	}
	return mm, nil
}

// fsEntry builds fs-PID.img; cwd and root get files of their own.
func (d *dumper) fsEntry(t *taskDump) (*images.FsEntry, error) {
	fe := &images.FsEntry{Umask: ptr(t.para.misc.Umask)}
	for _, which := range []string{"cwd", "root"} {
		p := d.fs.Path(t.pid, 0, which)
		fs, err := d.statInTree(p)
		if err != nil {
			return nil, fmt.Errorf("%s of pid %d: %w", which, t.pid, err)
		}
		id := d.fileIDs.unique()
		open := func() (*os.File, error) { return os.Open(p) }
		if err := d.regFile(id, fs, 0, 0, zeroFown(), open); err != nil {
			return nil, fmt.Errorf("%s of pid %d: %w", which, t.pid, err)
		}
		if which == "cwd" {
			fe.CwdId = ptr(id)
		} else {
			fe.RootId = ptr(id)
		}
	}
	return fe, nil
}
