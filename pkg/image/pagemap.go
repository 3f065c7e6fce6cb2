package image

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"sort"

	"github.com/criugo/criugo/images"
)

// ErrBadPagemap: a pagemap image does not describe a sound set of runs
// (see ParsePagemap for what is checked).
var ErrBadPagemap = errors.New("bad pagemap")

// MaxPagemapEnd bounds where a run of a pagemap may end: the largest user
// address space (57 bits, five-level paging). A shared-memory pagemap's
// addresses are offsets in its object, which is mapped and so no larger.
const MaxPagemapEnd = 1 << 57

// PagemapRuns is a pagemap image (pagemap-<pid>.img, pagemap-shmem-<shmid>.img)
// read and checked: the pages file it names and its runs, in address order.
type PagemapRuns struct {
	// PagesID is the n of pages-<n>.img, the file of its present pages.
	PagesID uint64
	// Runs are the entries, by address, none overlapping another.
	Runs []PageRun
}

// PageRun is one pagemap entry: NrPages pages from Vaddr (for shared
// memory: from offset Vaddr of the object).
type PageRun struct {
	Vaddr, NrPages uint64
	// Present: the pages are in the pages file, at Off. InParent: they are
	// in the parent image set (PE_PARENT). Never both. Neither: the image
	// holds no bytes for them (a lazy run whose pages stay with a page
	// server, or a hole).
	Present, InParent bool
	// Lazy: the pages may be restored lazily (PE_LAZY).
	Lazy bool
	// Off is where the run's pages begin in the pages file when Present;
	// otherwise where the next present run's begin. The present runs fill
	// the file in order, without gaps.
	Off uint64
}

// Len is the run's length in bytes.
func (r PageRun) Len() uint64 { return r.NrPages * images.PageSize }

// End is the address after the run.
func (r PageRun) End() uint64 { return r.Vaddr + r.Len() }

// HasPages reports whether the image set holds the run's pages: in its
// pages file or in the parent.
func (r PageRun) HasPages() bool { return r.Present || r.InParent }

// PresentBytes is how many bytes of the pages file the present runs take.
func (pm *PagemapRuns) PresentBytes() uint64 {
	if len(pm.Runs) == 0 {
		return 0
	}
	last := pm.Runs[len(pm.Runs)-1]
	if last.Present {
		return last.Off + last.Len()
	}
	return last.Off
}

// Find returns the index of the run holding vaddr, or the index of the
// first run after it and false.
func (pm *PagemapRuns) Find(vaddr uint64) (int, bool) {
	i := sort.Search(len(pm.Runs), func(i int) bool { return pm.Runs[i].End() > vaddr })
	return i, i < len(pm.Runs) && pm.Runs[i].Vaddr <= vaddr
}

// CheckPagesSize checks that a pages file of size bytes holds every
// present page of the pagemap. name names the pages file for the error.
func (pm *PagemapRuns) CheckPagesSize(name string, size uint64) error {
	if want := pm.PresentBytes(); size < want {
		return fmt.Errorf("%s ends at %d, before the %d bytes of present pages: %w", name, size, want, ErrBadPagemap)
	}
	return nil
}

// ParsePagemap checks a decoded pagemap image and returns its runs. name
// names the image (a path, say) in errors.
//
// Entries are read as CRIU 4.2 reads them (init_compat_pagemap_entry in
// criu/pagemap.c), which covers the images of CRIU before flags and
// nr_pages existed:
//
//   - the page count is nr_pages when that field is set, otherwise
//     compat_nr_pages (CRIU 4.x writes 0 there, older CRIU the count):
//     PagemapNrPages;
//   - in_parent set and true adds PE_PARENT to the flags;
//   - otherwise an entry without flags is PE_PRESENT.
//
// CRIU then reads an entry with PE_PARENT from the parent and, if it is
// PE_PRESENT as well, still skips its pages in the pages file; no CRIU
// writes such an entry, and here it is ErrBadPagemap, as are: a head that
// is missing or not a pagemap_head, an entry that is no pagemap_entry, a
// run of no pages, an address not page-aligned, a run that ends past
// MaxPagemapEnd (so no length overflows), and a run that overlaps or
// precedes the one before it (CRIU writes them in address order, and
// lookups by address depend on it). Every error names the image and the
// entry (1 is the first after the head) and wraps ErrBadPagemap.
func ParsePagemap(img *Image, name string) (*PagemapRuns, error) {
	if img == nil || len(img.Entries) == 0 {
		return nil, fmt.Errorf("read %s: no pagemap head: %w", name, ErrBadPagemap)
	}
	if _, ok := img.Entries[0].Msg.(*images.PagemapHead); !ok {
		return nil, fmt.Errorf("read %s: head is %T: %w", name, img.Entries[0].Msg, ErrBadPagemap)
	}
	id, err := PagemapPagesID(img.Entries[0].Msg)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	pm := &PagemapRuns{PagesID: id, Runs: make([]PageRun, 0, len(img.Entries)-1)}
	var off, prevEnd uint64
	for i, e := range img.Entries[1:] {
		pe, ok := e.Msg.(*images.PagemapEntry)
		if !ok {
			return nil, fmt.Errorf("read %s: entry %d is %T: %w", name, i+1, e.Msg, ErrBadPagemap)
		}
		run, err := pagemapRun(pe)
		if err != nil {
			return nil, fmt.Errorf("read %s: entry %d: %w", name, i+1, err)
		}
		if run.Vaddr < prevEnd {
			return nil, fmt.Errorf("read %s: entry %d at %#x overlaps or precedes the one before: %w", name, i+1, run.Vaddr, ErrBadPagemap)
		}
		prevEnd = run.End()
		run.Off = off
		if run.Present {
			off += run.Len()
		}
		pm.Runs = append(pm.Runs, run)
	}
	return pm, nil
}

// pagemapRun reads one entry by ParsePagemap's rule.
func pagemapRun(pe *images.PagemapEntry) (PageRun, error) {
	nr, err := PagemapNrPages(pe)
	if err != nil {
		return PageRun{}, err
	}
	flags := pe.GetFlags()
	if pe.GetInParent() {
		flags |= images.PeParent
	} else if pe.Flags == nil {
		flags = images.PePresent
	}
	v := pe.GetVaddr()
	if nr == 0 || v%images.PageSize != 0 || v >= MaxPagemapEnd || nr > (MaxPagemapEnd-v)/images.PageSize {
		return PageRun{}, fmt.Errorf("%d pages at %#x: %w", nr, v, ErrBadPagemap)
	}
	run := PageRun{Vaddr: v, NrPages: nr, Present: flags&images.PePresent != 0, InParent: flags&images.PeParent != 0, Lazy: flags&images.PeLazy != 0}
	if run.Present && run.InParent {
		return PageRun{}, fmt.Errorf("pages at %#x both present and in the parent: %w", v, ErrBadPagemap)
	}
	return run, nil
}

// ReadPagemap reads a pagemap image from r and checks it (ParsePagemap).
func ReadPagemap(r io.Reader, name string) (*PagemapRuns, error) {
	img, err := ReadImage(r, name)
	if err != nil {
		return nil, err
	}
	return ParsePagemap(img, name)
}

// ReadPagemapFile reads pagemap name of image directory dir (as ReadFile
// does: never through a symlink) and checks it. A missing file is an
// error matching fs.ErrNotExist; errors name the file by its path.
func ReadPagemapFile(dir, name string) (*PagemapRuns, error) {
	f, err := OpenFile(dir, name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ReadPagemap(bufio.NewReaderSize(f, 64<<10), filepath.Join(dir, name))
}
