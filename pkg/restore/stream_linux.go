package restore

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"golang.org/x/sys/unix"

	"github.com/criugo/criugo/images"
	"github.com/criugo/criugo/pkg/image"
	"github.com/criugo/criugo/pkg/x86"
)

// memPages holds pages files a stream brought before their task (or
// shared memory object) was ready for them, each in a memfd. Pages are
// most of a stream, and an archive made with tar (in directory order, not
// ours) may bring all of them before pstree.img: in a memfd they cost no
// Go heap and grow as they arrive, and a task reads its own from there,
// as from an image directory.
type memPages map[uint64]*os.File

func (m memPages) open(id uint64) (io.ReadCloser, error) {
	f, ok := m[id]
	if !ok {
		return nil, fmt.Errorf("open %s: not in the stream: %w", pagesName(id), ErrBadImage)
	}
	delete(m, id)
	return f, nil
}

// hold reads the pages file id from src into a memfd.
func (m memPages) hold(id uint64, src io.Reader) error {
	name := pagesName(id)
	fd, err := unix.MemfdCreate(name, unix.MFD_CLOEXEC)
	if err != nil {
		return fmt.Errorf("hold %s until its task is ready: %w", name, err)
	}
	f := os.NewFile(uintptr(fd), name)
	if _, err := io.Copy(f, src); err != nil {
		f.Close()
		return fmt.Errorf("hold %s until its task is ready: %w", name, err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		f.Close()
		return fmt.Errorf("hold %s until its task is ready: %w", name, err)
	}
	m[id] = f
	return nil
}

// close frees the pages nothing took.
func (m memPages) close() {
	for id, f := range m {
		f.Close()
		delete(m, id)
	}
}

// streamRestore is the state of a restore from a stream.
type streamRestore struct {
	r        *restorer
	buffered memPages
	// owners maps a pages file id to the pagemap that describes it.
	owners map[uint64]string
	// spool lets the rest of the stream be taken into memory when the
	// tree's PIDs are still held by the tasks being dumped (see startTree).
	spool *spoolReader
	// tables counts the fdinfo images in so far: one per fd table.
	tables int
}

// pidWait bounds how long a stream restore waits for the tree's PIDs to be
// released by the dump that is still writing the stream.
const pidWait = 20 * time.Second

// waitPidsFree waits up to d for the tree's PIDs to become free.
func waitPidsFree(tr *tree, d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		err := checkPidsFree(tr)
		if err == nil || !errors.Is(err, ErrPidInUse) || time.Now().After(deadline) {
			return err
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// restoreStream restores from an image stream, consuming it once, in its
// order (see image.StreamOrder): inventory and pstree, the images of the
// whole tree, then per task its images with its pages last, then shared
// memory. The tree is created as soon as the first pages file comes, and
// each task's pages go straight from the stream into the task; only pages
// that come before what they need are held in memory (memPages). Nothing
// is written to disk. A stream in another order (an archive made with tar)
// is restored too, holding its pages until the end if need be.
func (r *restorer) restoreStream(src io.Reader) (*Result, error) {
	spool := &spoolReader{src: src}
	defer spool.close()
	sr, err := image.NewStreamReader(spool)
	if err != nil {
		return nil, err
	}
	defer sr.Close()
	s := &streamRestore{r: r, buffered: memPages{}, owners: map[uint64]string{}, spool: spool}
	defer s.buffered.close()
	r.set = newStreamSet()
	r.pages = s.buffered
	r.deferFill = true
	res, err := s.run(sr)
	if err != nil {
		return nil, err
	}
	return r.finish(res)
}

// run reads the stream to its end and brings the tree back.
func (s *streamRestore) run(sr *image.StreamReader) (res *Result, err error) {
	defer func() { s.r.cleanup(err != nil) }()
	for {
		if err := s.r.canceled(); err != nil {
			return nil, err
		}
		f, err := sr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		if err := s.member(f); err != nil {
			return nil, err
		}
	}
	return s.finish()
}

// member takes one file of the stream.
func (s *streamRestore) member(f *image.StreamFile) error {
	r := s.r
	k := image.KindForFile(f.Name)
	switch {
	case k == image.Pages:
		idStr, _ := k.FileID(f.Name)
		id, err := strconv.ParseUint(idStr, 10, 64)
		if err != nil {
			return fmt.Errorf("stream member %s: %w", f.Name, image.ErrBadName)
		}
		return s.pages(id, f)
	case k == image.TmpfsDev || k == image.TmpfsImg:
		return r.keepTmpfs(f.Name, f)
	case isNetRaw(k):
		return r.keepNetRaw(f.Name, f)
	case k == nil || k.Raw() || k.Service:
		// Not an image a restore reads (stats, or an unknown file).
		_, err := io.Copy(io.Discard, f)
		return err
	}
	if _, dup := r.set.Recorded(f.Name); dup {
		return fmt.Errorf("stream member %s comes twice: %w", f.Name, ErrBadImage)
	}
	if err := r.set.add(f.Name, f); err != nil {
		return err
	}
	if k == image.Fdinfo {
		s.tables++
	}
	if k == image.CPUInfo {
		// In the stream's order it comes before the first pages file,
		// so before startTree creates anything; out of order, it still
		// stops the restore, and run's cleanup kills what was made.
		img, _ := r.set.Recorded(f.Name)
		if err := checkCPUInfoImage(img); err != nil {
			return err
		}
	}
	if k == image.Core {
		// Checked as it comes, not once the stream is in: a task's core
		// comes before its pages, so the root's before the tree is
		// created (at the first pages file), and a root this CPU cannot
		// run is refused before any task exists.
		idStr, _ := k.FileID(f.Name)
		tid, err := strconv.Atoi(idStr)
		if err != nil {
			return fmt.Errorf("stream member %s: %w", f.Name, image.ErrBadName)
		}
		c, err := single[*images.CoreEntry](r.set, f.Name)
		if err != nil {
			return err
		}
		if err := checkFPU(tid, c); err != nil {
			return err
		}
	}
	if k == image.Pagemap || k == image.ShmemPagemap {
		id, _, err := readPagemap(r.set, f.Name)
		if err != nil {
			return err
		}
		s.owners[id] = f.Name
	}
	return nil
}

// startTree creates the tree once inventory.img and pstree.img are in.
func (s *streamRestore) startTree() error {
	r := s.r
	if r.tree != nil {
		return nil
	}
	inv, err := single[*images.InventoryEntry](r.set, "inventory.img")
	if err != nil {
		return err
	}
	if err := r.checkInventory(inv); err != nil {
		return err
	}
	r.inv = inv
	if r.tree, err = treeFromPstree(r.set); err != nil {
		return err
	}
	if err := r.planPidNS(); err != nil {
		return err
	}
	if err := checkPidsFree(r.tree); err != nil {
		if !errors.Is(err, ErrPidInUse) {
			return err
		}
		// In `criu-seize | criu-parasite | criu-restore` the dumped tree
		// still holds the PIDs: it dies only once the whole stream is
		// out. Take the rest of the stream into memory so the dump can
		// finish, then wait for the PIDs (a PID held by anything else is
		// still reported, after the wait).
		if err := s.spool.drain(); err != nil {
			return err
		}
		if err := waitPidsFree(r.tree, pidWait); err != nil {
			return err
		}
	}
	r.plans = map[int]*taskPlan{}
	if err := r.chooseScratch(); err != nil {
		return err
	}
	if r.own, err = readOwnState(); err != nil {
		return err
	}
	r.layout = x86.CPULayout()
	r.step("read images")
	return r.start()
}

// fileObjects returns the file objects once files.img is in.
func (s *streamRestore) fileObjects() (*fileObjs, bool, error) {
	r := s.r
	if r.files != nil {
		return r.files, true, nil
	}
	if !r.set.has("files.img") {
		return nil, false, nil
	}
	f, err := newFileObjs(r)
	if err != nil {
		return nil, false, err
	}
	r.files = f
	return f, true, nil
}

// pages takes a pages file: into its task or shared memory object when
// they are ready for it, into memory otherwise.
func (s *streamRestore) pages(id uint64, f *image.StreamFile) error {
	r := s.r
	owner := s.owners[id]
	switch k := image.KindForFile(owner); k {
	case image.Pagemap:
		pidStr, _ := k.FileID(owner)
		pid, _ := strconv.Atoi(pidStr)
		if !s.treeKnown() || !s.tablesKnown() {
			// An archive in another order than ours (tar's), or fd
			// tables that may be shared by tasks whose ids are not in
			// yet: creating the tree needs to know (CLONE_FILES).
			break
		}
		if err := s.startTree(); err != nil {
			return err
		}
		t := r.tree.byPid[pid]
		if t != nil && t.canCreate() && !t.zombie() {
			// Its parent's memory is in: fork it now, so that its pages
			// go in as they come.
			if err := r.createChild(t); err != nil {
				return err
			}
		}
		ready, err := s.memoryReady(t)
		if err != nil {
			return err
		}
		if ready {
			p, err := r.planMM(t.pid)
			if err != nil {
				return err
			}
			if err := r.restoreMemory(t, p, f); err != nil {
				return err
			}
			r.step(fmt.Sprintf("restore memory of pid %d", t.pid))
			return nil
		}
	case image.ShmemPagemap:
		shmidStr, _ := k.FileID(owner)
		shmid, _ := strconv.ParseUint(shmidStr, 10, 64)
		if done, err := r.sysvPages(shmid, f); done || err != nil {
			return err
		}
		files, ok, err := s.fileObjects()
		if err != nil {
			return err
		}
		if ok && s.allMMIn() {
			file, err := files.shmemObject(shmid)
			if err != nil {
				return err
			}
			delete(files.unfilled, shmid)
			return files.fillShmem(file, shmid, f)
		}
	}
	return s.buffered.hold(id, f)
}

// treeKnown says whether the images startTree needs are in.
func (s *streamRestore) treeKnown() bool {
	inv := s.r.set.has("inventory.img")
	ps := s.r.set.has("pstree.img")
	return inv && ps
}

// tablesKnown says whether the tree can be created knowing which tasks
// share an fd table: the tree is made already, or there are as many fd
// tables as live tasks (every table's fdinfo image comes before the first
// pages, in our streams as in CRIU's), or the ids of every live task are
// in. pstree.img lists a zombie (which has no table) with no thread of
// its own, as the tree reads it (treeFromPstree).
func (s *streamRestore) tablesKnown() bool {
	r := s.r
	if r.tree != nil {
		return true
	}
	ps, err := entries[*images.PstreeEntry](r.set, "pstree.img", false)
	if err != nil {
		return true // startTree reports a bad pstree
	}
	var live []uint32
	for _, e := range ps {
		if th := e.GetThreads(); len(th) > 1 || len(th) == 1 && th[0] == e.GetPid() {
			live = append(live, e.GetPid())
		}
	}
	if s.tables >= len(live) {
		return true
	}
	for _, pid := range live {
		if !r.set.has(idsName(pid)) {
			return false
		}
	}
	return true
}

// memoryReady says whether a task's memory can be restored now: its mm
// and the files its mappings need are in.
func (s *streamRestore) memoryReady(t *task) (bool, error) {
	r := s.r
	if t == nil || t.zombie() || t.memoryDone || t.real == 0 {
		return false, nil
	}
	if !r.set.has(mmName(uint32(t.pid))) {
		return false, nil
	}
	if _, ok, err := s.fileObjects(); !ok || err != nil {
		return false, err
	}
	mm, err := single[*images.MmEntry](r.set, mmName(uint32(t.pid)))
	if err != nil {
		return false, err
	}
	for _, v := range mm.GetVmas() {
		if v.GetStatus()&images.VmaAreaMemfd != 0 {
			if !r.set.has("memfd.img") {
				return false, nil
			}
		}
	}
	return true, nil
}

// allMMIn says whether every live task's mm image is in, so that the size
// of shared anonymous memory is known.
func (s *streamRestore) allMMIn() bool {
	if s.r.tree == nil {
		return false
	}
	for _, t := range s.r.tree.tasks {
		if !s.r.set.has(mmName(uint32(t.pid))) && !t.zombie() {
			return false
		}
	}
	return true
}

// finish restores what the stream did not allow to restore on the way,
// then every task's remaining state, and lets the tree run.
func (s *streamRestore) finish() (*Result, error) {
	r := s.r
	if err := s.startTree(); err != nil {
		return nil, err
	}
	if _, _, err := s.fileObjects(); err != nil {
		return nil, err
	}
	if r.files == nil {
		f, err := newFileObjs(r)
		if err != nil {
			return nil, err
		}
		r.files = f
	}
	for _, t := range r.tree.tasks {
		if err := r.tree.attachCore(r.set, t); err != nil {
			return nil, err
		}
	}
	for _, t := range r.tree.tasks {
		if t.zombie() {
			continue
		}
		p, err := r.planTask(t)
		if err != nil {
			return nil, err
		}
		r.plans[t.pid] = p
	}
	if err := r.checkFiles(); err != nil {
		return nil, err
	}
	r.deferFill = false
	if err := r.files.fillUnfilled(); err != nil {
		return nil, err
	}
	// The tasks not forked yet (their pages came before their parent's
	// memory was in, or not at all), parents first, as bringBack.
	for _, t := range r.tree.tasks {
		if err := r.createChild(t); err != nil {
			return nil, err
		}
		if t.zombie() || t.memoryDone {
			continue
		}
		if err := r.restoreMemory(t, r.plans[t.pid].mm, nil); err != nil {
			return nil, err
		}
	}
	if err := r.allCreated(); err != nil {
		return nil, err
	}
	for _, t := range r.tree.tasks {
		if t.zombie() {
			continue
		}
		if err := r.restoreTask(t); err != nil {
			return nil, err
		}
		r.step(fmt.Sprintf("restore pid %d", t.pid))
	}
	return r.resume()
}
