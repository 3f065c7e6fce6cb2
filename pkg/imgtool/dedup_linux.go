package imgtool

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"golang.org/x/sys/unix"

	"github.com/criugo/criugo/images"
	"github.com/criugo/criugo/pkg/image"
)

// DedupStats says what Dedup freed.
type DedupStats struct {
	Pages uint64 // pages punched out of parents' pages files
	Files int    // parent pages files punched
}

// Dedup frees, in the parent image sets of dir, the pages that dir holds
// again (CRIU's dedup and --auto-dedup): a page dir's pagemap has present
// is one a restore of dir never reads from a parent, so wherever the chain
// holds it (the parent, or further up where the parent says PE_PARENT) its
// bytes are punched out of that pages file (FALLOC_FL_PUNCH_HOLE, the size
// kept). The parents stay readable and their pagemaps unchanged, but they
// no longer restore on their own: what was punched reads as zeros. Only
// dir's own set restores the chain whole afterwards, as with CRIU.
func Dedup(dir string) (DedupStats, error) {
	var st DedupStats
	dirs, err := image.Chain(dir)
	if err != nil {
		return st, err
	}
	if len(dirs) < 2 {
		return st, nil
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return st, fmt.Errorf("dedup %s: %w", dir, err)
	}
	d := &deduper{dirs: dirs, maps: map[string]*levelPagemap{}, files: map[string]*os.File{}, st: &st}
	defer d.close()
	for _, e := range ents {
		name := e.Name()
		if !image.Pagemap.MatchFile(name) {
			continue
		}
		top, err := d.pagemap(0, name)
		if err != nil {
			return st, err
		}
		if top == nil {
			continue
		}
		for _, r := range top.runs {
			if r.present {
				if err := d.free(1, name, r.start, r.end); err != nil {
					return st, err
				}
			}
		}
	}
	// Every pagemap of the chain was read and found sound before the
	// first punch.
	for _, j := range d.todo {
		if err := d.punch(j); err != nil {
			return st, err
		}
	}
	return st, nil
}

// punchJob is n bytes at off of pages file path to punch.
type punchJob struct {
	path   string
	off, n uint64
}

// levelRun is one pagemap entry of a level: pages [start, end), at offset
// off of the level's pages file when present.
type levelRun struct {
	start, end, off   uint64
	present, inParent bool
}

// levelPagemap is a pagemap of one level of the chain.
type levelPagemap struct {
	pages string // its pages file
	runs  []levelRun
}

type deduper struct {
	dirs  []string
	maps  map[string]*levelPagemap // by path; nil: none at that level
	files map[string]*os.File      // pages files opened to punch, by path
	todo  []punchJob
	st    *DedupStats
}

func (d *deduper) close() {
	for _, f := range d.files {
		f.Close()
	}
}

// pagemap reads pagemap name of level, once; nil if that level has none
// (the task is new since).
func (d *deduper) pagemap(level int, name string) (*levelPagemap, error) {
	path := filepath.Join(d.dirs[level], name)
	if pm, ok := d.maps[path]; ok {
		return pm, nil
	}
	img, err := image.ReadFile(d.dirs[level], name)
	if errors.Is(err, os.ErrNotExist) {
		d.maps[path] = nil
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("dedup: %w", err)
	}
	if len(img.Entries) == 0 {
		return nil, fmt.Errorf("dedup: %s: no pagemap head: %w", path, ErrInvalid)
	}
	id, err := image.PagemapPagesID(img.Entries[0].Msg)
	if err != nil {
		return nil, fmt.Errorf("dedup: %s: %w", path, err)
	}
	pm := &levelPagemap{pages: filepath.Join(d.dirs[level], image.Pages.FileName(id))}
	var off uint64
	for i, e := range img.Entries[1:] {
		pe, ok := e.Msg.(*images.PagemapEntry)
		if !ok {
			return nil, fmt.Errorf("dedup: %s: entry %d is %T: %w", path, i+1, e.Msg, ErrInvalid)
		}
		n, err := image.PagemapNrPages(pe)
		if err != nil {
			return nil, fmt.Errorf("dedup: %s: entry %d: %w", path, i+1, err)
		}
		start := pe.GetVaddr()
		end := start + n*images.PageSize
		if n == 0 || start%images.PageSize != 0 || end < start || n > 1<<40 {
			return nil, fmt.Errorf("dedup: %s: entry %d: %d pages at %#x: %w", path, i+1, n, start, ErrInvalid)
		}
		r := levelRun{start: start, end: end, off: off, inParent: inParent(pe)}
		r.present = !r.inParent && (pe.GetFlags()&images.PePresent != 0 || pe.Flags == nil)
		if r.present {
			off += n * images.PageSize
		}
		pm.runs = append(pm.runs, r)
	}
	if !sort.SliceIsSorted(pm.runs, func(i, j int) bool { return pm.runs[i].start < pm.runs[j].start }) {
		return nil, fmt.Errorf("dedup: %s: entries out of address order: %w", path, ErrInvalid)
	}
	d.maps[path] = pm
	return pm, nil
}

// free punches pages [start, end) of pagemap name out of the level that
// holds them, following PE_PARENT further up.
func (d *deduper) free(level int, name string, start, end uint64) error {
	if level >= len(d.dirs) {
		return nil
	}
	pm, err := d.pagemap(level, name)
	if err != nil || pm == nil {
		return err
	}
	i := sort.Search(len(pm.runs), func(i int) bool { return pm.runs[i].end > start })
	for ; i < len(pm.runs) && pm.runs[i].start < end; i++ {
		r := pm.runs[i]
		s, e := max(start, r.start), min(end, r.end)
		switch {
		case r.present:
			d.todo = append(d.todo, punchJob{pm.pages, r.off + (s - r.start), e - s})
		case r.inParent:
			if err := d.free(level+1, name, s, e); err != nil {
				return err
			}
		}
	}
	return nil
}

func (d *deduper) punch(j punchJob) error {
	f := d.files[j.path]
	if f == nil {
		var err error
		if f, err = os.OpenFile(j.path, os.O_WRONLY, 0); err != nil {
			return fmt.Errorf("dedup: %w", err)
		}
		d.files[j.path] = f
		d.st.Files++
	}
	if err := unix.Fallocate(int(f.Fd()), unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, int64(j.off), int64(j.n)); err != nil {
		return fmt.Errorf("dedup: punch %d bytes at %d out of %s: %w", j.n, j.off, j.path, err)
	}
	d.st.Pages += j.n / images.PageSize
	return nil
}
