package imgtool

import (
	"errors"
	"fmt"
	"sort"

	"github.com/criugo/criugo/images"
	"github.com/criugo/criugo/pkg/image"
)

// ErrInvalid is returned (wrapped) by VerifyErr when a set does not hold together.
var ErrInvalid = errors.New("image set does not hold together")

// Problem is one thing wrong with a set: the file it concerns and what.
type Problem struct {
	File string
	Msg  string
}

func (p Problem) String() string { return p.File + ": " + p.Msg }

type verifier struct {
	s        *Set
	problems []Problem
	fileIDs  map[uint32]*images.FileEntry
	claimed  map[string]bool // pages files some pagemap points to
}

func (v *verifier) add(file, format string, args ...any) {
	v.problems = append(v.problems, Problem{file, fmt.Sprintf(format, args...)})
}

// need reports a problem when the set lacks name or it did not decode, and
// returns the decoded image otherwise.
func (v *verifier) need(name, why string) *image.Image {
	f := v.s.Files[name]
	if f == nil {
		v.add(name, "missing (%s)", why)
		return nil
	}
	return f.Image
}

// entries returns the messages of an image's entries of type T.
func entries[T any](img *image.Image) []T {
	if img == nil {
		return nil
	}
	var out []T
	for _, e := range img.Entries {
		if m, ok := e.Msg.(T); ok {
			out = append(out, m)
		}
	}
	return out
}

func first[T any](img *image.Image) (T, bool) {
	es := entries[T](img)
	if len(es) == 0 {
		var zero T
		return zero, false
	}
	return es[0], true
}

// Verify checks that every image of s decodes and that the set holds
// together the way a restore needs it (see the package doc). It returns
// every problem found, in a stable order; none means the set is good.
func Verify(s *Set) []Problem {
	v := &verifier{s: s, fileIDs: map[uint32]*images.FileEntry{}, claimed: map[string]bool{}}
	for _, name := range s.Order {
		f := s.Files[name]
		switch {
		case f.Kind == nil:
			v.add(name, "not an image file name")
		case f.Err != nil:
			v.add(name, "does not decode: %v", f.Err)
		}
	}
	v.need("inventory.img", "every set starts with it")
	for _, fe := range entries[*images.FileEntry](s.Get("files.img")) {
		v.fileIDs[fe.GetId()] = fe
	}
	pstree := v.need("pstree.img", "it lists the tasks")
	tasks := entries[*images.PstreeEntry](pstree)
	if pstree != nil && len(tasks) == 0 {
		v.add("pstree.img", "lists no task")
	}
	for _, t := range tasks {
		v.task(t)
	}
	v.pipeData("pipes-data.img", images.FdTypes_PIPE)
	v.pipeData("fifo-data.img", images.FdTypes_FIFO)
	v.remaps()
	for _, name := range s.Order {
		if sm := image.ShmemPagemap; sm.MatchFile(name) {
			v.pagemap(name, nil)
		}
	}
	v.parents()
	for _, name := range s.Order {
		if image.Pages.MatchFile(name) && !v.claimed[name] {
			v.add(name, "no pagemap refers to it")
		}
	}
	sort.SliceStable(v.problems, func(i, j int) bool { return v.problems[i].File < v.problems[j].File })
	return v.problems
}

// VerifyErr is Verify as an error: nil for a good set, otherwise ErrInvalid
// with the first problem and how many there are.
func VerifyErr(s *Set) error {
	ps := Verify(s)
	if len(ps) == 0 {
		return nil
	}
	return fmt.Errorf("verify %s: %w: %s (and %d more)", s.Source, ErrInvalid, ps[0], len(ps)-1)
}

func (v *verifier) fileRef(file string, id uint32, what string) {
	if _, ok := v.fileIDs[id]; !ok {
		v.add(file, "%s refers to file id %d, which files.img lacks", what, id)
	}
}

func (v *verifier) task(t *images.PstreeEntry) {
	pid := t.GetPid()
	why := fmt.Sprintf("task %d of pstree.img", pid)
	coreName := image.Core.FileName(pid)
	core, _ := first[*images.CoreEntry](v.need(coreName, why))
	for _, tid := range t.GetThreads() {
		if tid != pid && tid != 0 { // a zombie lists thread 0
			v.need(image.Core.FileName(tid), fmt.Sprintf("thread %d of task %d", tid, pid))
		}
	}
	if core != nil && core.GetTc().GetTaskState() == images.TaskDead {
		return // a zombie has only its core
	}
	if ids, ok := first[*images.TaskKobjIdsEntry](v.need(image.IDs.FileName(pid), why)); ok && ids.FilesId != nil {
		name := image.Fdinfo.FileName(ids.GetFilesId())
		for _, fd := range entries[*images.FdinfoEntry](v.need(name, fmt.Sprintf("files_id of task %d", pid))) {
			v.fileRef(name, fd.GetId(), fmt.Sprintf("fd %d", fd.GetFd()))
		}
	}
	fsName := image.FS.FileName(pid)
	if fs, ok := first[*images.FsEntry](v.need(fsName, why)); ok {
		v.fileRef(fsName, fs.GetCwdId(), "cwd")
		v.fileRef(fsName, fs.GetRootId(), "root")
	}
	mmName := image.MM.FileName(pid)
	mm, _ := first[*images.MmEntry](v.need(mmName, why))
	if mm != nil {
		if mm.ExeFileId != nil {
			v.fileRef(mmName, mm.GetExeFileId(), "exe")
		}
		for _, vma := range mm.GetVmas() {
			if vma.GetStatus()&(images.VmaFilePrivate|images.VmaFileShared) != 0 && vma.GetStatus()&images.VmaAreaRegular != 0 {
				v.fileRef(mmName, uint32(vma.GetShmid()), fmt.Sprintf("vma %#x-%#x", vma.GetStart(), vma.GetEnd()))
			}
		}
	}
	pmName := image.Pagemap.FileName(pid)
	if v.need(pmName, why) != nil {
		v.pagemap(pmName, mm)
	}
}

// pagemap checks that a pagemap holds together (image.ParsePagemap), that
// its present pages are exactly the size of the pages file it names, and,
// given the task's mm, that they lie in its VMAs.
func (v *verifier) pagemap(name string, mm *images.MmEntry) {
	img := v.s.Get(name)
	if img == nil {
		return
	}
	pm, err := image.ParsePagemap(img, name)
	if err != nil {
		v.add(name, "%v", err)
		return
	}
	for i, r := range pm.Runs {
		if mm != nil && !inVMAs(mm, r.Vaddr, r.End()) {
			v.add(name, "entry %d: pages %#x-%#x are outside every vma of %s", i+1, r.Vaddr, r.End(), image.MM.FileName(mmPid(name)))
		}
	}
	present := pm.PresentBytes() / images.PageSize
	pages := image.Pages.FileName(pm.PagesID)
	v.claimed[pages] = true
	f := v.s.Files[pages]
	if f == nil {
		if present > 0 {
			v.add(pages, "missing (pages_id of %s, %d present pages)", name, present)
		}
		return
	}
	if uint64(f.Size) != present*images.PageSize {
		v.add(pages, "holds %d bytes, but %s has %d present pages (%d bytes)", f.Size, name, present, present*images.PageSize)
	}
}

func mmPid(pagemapName string) string {
	id, _ := image.Pagemap.FileID(pagemapName)
	return id
}

func inVMAs(mm *images.MmEntry, start, end uint64) bool {
	for start < end {
		found := false
		for _, vma := range mm.GetVmas() {
			if vma.GetStart() <= start && start < vma.GetEnd() {
				start = min(end, vma.GetEnd())
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// pipeData checks that every pipe buffer belongs to a pipe or fifo of files.img.
func (v *verifier) pipeData(name string, typ images.FdTypes) {
	img := v.s.Get(name)
	if img == nil {
		return
	}
	known := map[uint32]bool{}
	for _, fe := range v.fileIDs {
		switch {
		case typ == images.FdTypes_PIPE && fe.GetPipe() != nil:
			known[fe.GetPipe().GetPipeId()] = true
		case typ == images.FdTypes_FIFO && fe.GetFifo() != nil:
			known[fe.GetFifo().GetPipeId()] = true
		}
	}
	for _, pd := range entries[*images.PipeDataEntry](img) {
		if !known[pd.GetPipeId()] {
			v.add(name, "data of pipe %d, which files.img lacks", pd.GetPipeId())
		}
	}
}

// remaps checks that each remapped file exists and ghost files are there.
func (v *verifier) remaps() {
	const name = "remap-fpath.img"
	for _, r := range entries[*images.RemapFilePathEntry](v.s.Get(name)) {
		v.fileRef(name, r.GetOrigId(), "remap")
		if r.GetRemapType() == images.RemapType_GHOST {
			v.need(image.GhostFile.FileName(r.GetRemapId()), fmt.Sprintf("ghost of file id %d", r.GetOrigId()))
		}
	}
}
