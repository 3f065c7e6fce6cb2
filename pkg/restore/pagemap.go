package restore

import (
	"fmt"
	"io"

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
}

func (p pageRun) end() uint64 { return p.vaddr + p.nr*pageSize }

// maxPages bounds one pagemap entry: 2^35 pages cover the whole 47-bit
// user address space.
const maxPages = 1 << 35

// readPagemap reads a pagemap image: the id of its pages file and its runs.
func readPagemap(set *imageSet, name string) (uint64, []pageRun, error) {
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
		if pe.GetFlags()&images.PeParent != 0 || pe.GetInParent() {
			return 0, nil, fmt.Errorf("read %s: entry %d: pages in a parent image set (incremental dump): %w", name, i+1, ErrNotSupported)
		}
		present := pe.GetFlags()&images.PePresent != 0
		if pe.Flags == nil {
			// Before flags existed every entry not in the parent was present.
			present = true
		}
		runs = append(runs, pageRun{vaddr: pe.GetVaddr(), nr: nr, present: present})
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
