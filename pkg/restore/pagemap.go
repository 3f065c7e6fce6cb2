package restore

import (
	"fmt"
	"io"
	"os"

	"github.com/criugo/criugo/images"
	"github.com/criugo/criugo/pkg/image"
)

// pageRun is one pagemap entry: nr pages from vaddr (for shared memory:
// from offset vaddr of the object). When present, their bytes come next
// in the pages file, in entry order.
type pageRun struct {
	vaddr   uint64
	nr      uint64
	present bool
	// inParent: the pages are in the parent image set (PE_PARENT); from
	// says where the parent chain holds them, in address order.
	inParent bool
	from     []pagePiece
}

// pagePiece is n bytes of pages for vaddr, at offset off of a pages file
// of the parent chain.
type pagePiece struct {
	vaddr, n uint64
	file     *os.File
	off      uint64
}

func (p pageRun) end() uint64 { return p.vaddr + p.nr*pageSize }

// maxPages bounds one pagemap entry: 2^35 pages cover the whole 47-bit
// user address space.
const maxPages = 1 << 35

// readPagemap reads a pagemap image: the id of its pages file and its
// runs, those in the parent image set resolved through the parent chain
// (only an image directory has one).
func readPagemap(set *imageSet, name string) (uint64, []pageRun, error) {
	id, runs, err := readRuns(set, name)
	if err != nil {
		return 0, nil, err
	}
	for i := range runs {
		if !runs[i].inParent {
			continue
		}
		if set.dir == "" {
			return 0, nil, fmt.Errorf("read %s: pages at %#x in a parent image set: a %s has no parent (restore an incremental dump from its image directory): %w", name, runs[i].vaddr, set.where, ErrNotSupported)
		}
		c, err := set.chain()
		if err != nil {
			return 0, nil, fmt.Errorf("read %s: %w", name, err)
		}
		if runs[i].from, err = c.resolve(1, name, runs[i].vaddr, runs[i].nr*pageSize); err != nil {
			return 0, nil, fmt.Errorf("read %s: pages [%#x, %#x) in the parent: %w", name, runs[i].vaddr, runs[i].end(), err)
		}
	}
	return id, runs, nil
}

// readRuns reads a pagemap image as it is: the id of its pages file and
// its runs.
func readRuns(set *imageSet, name string) (uint64, []pageRun, error) {
	img, err := set.get(name)
	if err != nil {
		return 0, nil, err
	}
	if len(img.Entries) == 0 {
		return 0, nil, fmt.Errorf("read %s: no pagemap head: %w", name, ErrBadImage)
	}
	id, err := image.PagemapPagesID(img.Entries[0].Msg)
	if err != nil {
		return 0, nil, fmt.Errorf("read %s: %w", name, err)
	}
	runs := make([]pageRun, 0, len(img.Entries)-1)
	for i, e := range img.Entries[1:] {
		pe, ok := e.Msg.(*images.PagemapEntry)
		if !ok {
			return 0, nil, fmt.Errorf("read %s: entry %d is %T: %w", name, i+1, e.Msg, ErrBadImage)
		}
		nr, err := image.PagemapNrPages(pe)
		if err != nil {
			return 0, nil, fmt.Errorf("read %s: entry %d: %w", name, i+1, err)
		}
		if nr == 0 || nr > maxPages || pe.GetVaddr()%pageSize != 0 || pe.GetVaddr()+nr*pageSize < pe.GetVaddr() {
			return 0, nil, fmt.Errorf("read %s: entry %d: %d pages at %#x: %w", name, i+1, nr, pe.GetVaddr(), ErrBadImage)
		}
		// As CRIU reads them (init_compat_pagemap_entry): the old
		// in_parent field means PE_PARENT; an entry of before flags
		// existed and not in the parent is present.
		flags := pe.GetFlags()
		if pe.GetInParent() {
			flags |= images.PeParent
		} else if pe.Flags == nil {
			flags = images.PePresent
		}
		run := pageRun{vaddr: pe.GetVaddr(), nr: nr, present: flags&images.PePresent != 0, inParent: flags&images.PeParent != 0}
		if run.present && run.inParent {
			return 0, nil, fmt.Errorf("read %s: entry %d: pages at %#x both present and in the parent: %w", name, i+1, pe.GetVaddr(), ErrBadImage)
		}
		runs = append(runs, run)
	}
	return id, runs, nil
}

// truncatedErr turns an early end of a pages file into ErrBadImage.
func truncatedErr(err error) error {
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return fmt.Errorf("pages file ends early: %w: %w", ErrBadImage, io.ErrUnexpectedEOF)
	}
	return err
}
