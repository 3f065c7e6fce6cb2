package restore

import (
	"fmt"
	"io"
	"os"

	"github.com/criugo/criugo/pkg/image"
)

// pageRun is one pagemap entry as image.ParsePagemap reads it: nr pages
// from vaddr (for shared memory: from offset vaddr of the object). When
// present, their bytes come next in the pages file, in entry order.
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

// readPagemap reads a pagemap image: the id of its pages file and its
// runs, those in the parent image set resolved through the parent chain
// (only an image directory has one).
func readPagemap(set *imageSet, name string) (uint64, []pageRun, error) {
	img, err := set.get(name)
	if err != nil {
		return 0, nil, err
	}
	pm, err := image.ParsePagemap(img, name)
	if err != nil {
		return 0, nil, fmt.Errorf("%w: %w", ErrBadImage, err)
	}
	runs := make([]pageRun, len(pm.Runs))
	for i, r := range pm.Runs {
		runs[i] = pageRun{vaddr: r.Vaddr, nr: r.NrPages, present: r.Present, inParent: r.InParent}
		if !r.InParent {
			continue
		}
		if set.Dir == "" {
			return 0, nil, fmt.Errorf("read %s: pages at %#x in a parent image set: a %s has no parent (restore an incremental dump from its image directory): %w", name, r.Vaddr, set.Source, ErrNotSupported)
		}
		c, err := set.Parents()
		if err != nil {
			return 0, nil, fmt.Errorf("read %s: %w: %w", name, ErrBadImage, err)
		}
		pieces, err := c.Resolve(name, r.Vaddr, r.Len())
		if err != nil {
			return 0, nil, fmt.Errorf("read %s: pages [%#x, %#x) in the parent: %w: %w", name, r.Vaddr, r.End(), ErrBadImage, err)
		}
		for _, pc := range pieces {
			runs[i].from = append(runs[i].from, pagePiece{vaddr: pc.Vaddr, n: pc.Len, file: pc.File, off: pc.Off})
		}
	}
	return pm.PagesID, runs, nil
}

// copyParentPieces reads pieces through buf and hands each part to put
// with the address it goes to.
func copyParentPieces(pieces []pagePiece, buf []byte, put func(b []byte, at uint64) error) error {
	for _, pc := range pieces {
		for done := uint64(0); done < pc.n; {
			b := buf[:min(pc.n-done, uint64(len(buf)))]
			if _, err := pc.file.ReadAt(b, int64(pc.off+done)); err != nil {
				return fmt.Errorf("read %s at %d: %w", pc.file.Name(), pc.off+done, truncatedErr(err))
			}
			if err := put(b, pc.vaddr+done); err != nil {
				return err
			}
			done += uint64(len(b))
		}
	}
	return nil
}

// truncatedErr turns an early end of a pages file into ErrBadImage.
func truncatedErr(err error) error {
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return fmt.Errorf("pages file ends early: %w: %w", ErrBadImage, io.ErrUnexpectedEOF)
	}
	return err
}
