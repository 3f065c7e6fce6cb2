package dump

import (
	"github.com/criugo/criugo/images"
	"github.com/criugo/criugo/pkg/proc"
)

// Bits of a /proc/PID/pagemap entry (Documentation/admin-guide/mm/pagemap.rst).
const (
	pmPresent  = 1 << 63
	pmSwap     = 1 << 62
	pmFile     = 1 << 61 // file page or shared anonymous page
	pmGuard    = 1 << 58 // in a guard region: shown as swapped, reading it faults
	pmPFNMask  = 1<<55 - 1
	pageSize   = 4096
	pageShift  = 12
	defPipeLen = 16 // pages in a fresh pipe (64 KiB)
)

// pageRun is one pagemap entry: nr pages from addr, all with the same flags.
type pageRun struct {
	addr  uint64
	nr    uint64
	flags uint32
}

// pagePlan decides which pages of a task go to its pages image and how
// they are grouped into pagemap entries, the way CRIU 4.2's page-pipe
// does, so that our pagemap lists the same entries as CRIU's for the same
// memory:
//
//   - pages are added in address order;
//   - pages go to a page-pipe buffer (a pipe) that holds pages of one kind
//     only (lazy or not): a page of the other kind starts a new buffer;
//   - a buffer holds at most maxPipe pages (the largest pipe the kernel
//     lets the dumper have): a full buffer starts a new one;
//   - inside a buffer, a page right after the previous one extends its
//     entry, any other page starts an entry.
//
// Entries never span two buffers, so a long run of pages is cut every
// maxPipe pages of its buffer.
type pagePlan struct {
	maxPipe uint64

	runs     []pageRun
	holes    []pageRun // PE_PARENT runs: pages the parent image set holds
	bufFlags uint32    // kind of the current buffer (0 or images.PeLazy)
	bufPages uint64    // pages in the current buffer
	bufRun   int       // index in runs of the current buffer's first entry
	bufs     uint64    // buffers used, counting the first one

	scanned uint64 // pages looked at
	written uint64 // pages planned
	parent  uint64 // pages left to the parent (holes)
}

func newPagePlan(maxPipe uint64) *pagePlan {
	if maxPipe == 0 {
		maxPipe = defPipeLen
	}
	// The first buffer exists before any page, for non-lazy pages.
	return &pagePlan{maxPipe: maxPipe, bufs: 1}
}

// add plans one page.
func (p *pagePlan) add(addr uint64, lazy bool) {
	flags := uint32(0)
	if lazy {
		flags = images.PeLazy
	}
	if flags != p.bufFlags || p.bufPages >= p.maxPipe {
		p.bufFlags, p.bufPages, p.bufRun = flags, 0, len(p.runs)
		p.bufs++
	}
	if n := len(p.runs); n > p.bufRun && p.runs[n-1].addr+p.runs[n-1].nr*pageSize == addr {
		p.runs[n-1].nr++
	} else {
		p.runs = append(p.runs, pageRun{addr: addr, nr: 1, flags: images.PePresent | flags})
	}
	p.bufPages++
	p.written++
}

// hole plans one page as the parent's: a PE_PARENT entry, which reads
// nothing from the task. As CRIU's page-pipe holes, consecutive holes
// make one entry whatever the buffers, and holes take no buffer room.
func (p *pagePlan) hole(addr uint64) {
	if n := len(p.holes); n > 0 && p.holes[n-1].addr+p.holes[n-1].nr*pageSize == addr {
		p.holes[n-1].nr++
	} else {
		p.holes = append(p.holes, pageRun{addr: addr, nr: 1, flags: images.PeParent})
	}
	p.parent++
}

// shouldDumpPage is CRIU's should_dump_page: which pages of a private
// mapping have contents the restore cannot get elsewhere.
func shouldDumpPage(m *mapping, pme, zeroPFN uint64) bool {
	switch {
	case pme&pmGuard != 0:
		// A guard marker has no contents; mm-PID.img lists the region.
		return false
	case m.is(images.VmaAreaVdso):
		// Dumped whole: a restore on another kernel may need a proxy.
		return true
	case m.is(images.VmaAreaVvar):
		// The kernel provides it afresh; never dump it.
		return false
	case m.is(images.VmaFilePrivate) && pme&pmFile != 0:
		// Not COWed yet: the file holds it.
		return false
	case m.is(images.VmaAreaAioring):
		return true
	}
	return pme&(pmPresent|pmSwap) != 0 && pme&pmPFNMask != zeroPFN
}

// addMapping plans the pages of one private mapping from its pagemap
// entries (one u64 per page, pme[i] for m.Start + i*pageSize). stackSPs
// are the stack pointers of the task's threads.
func (p *pagePlan) addMapping(m *mapping, pme []uint64, zeroPFN uint64, stackSPs []uint64) {
	p.addRange(m, m.Start, pme, zeroPFN, stackSPs)
}

// addRange plans the pages of a piece of mapping m starting at start.
func (p *pagePlan) addRange(m *mapping, start uint64, pme []uint64, zeroPFN uint64, stackSPs []uint64) {
	p.addRangeParent(m, start, pme, zeroPFN, stackSPs, nil)
}

// addRangeParent is addRange with the pages the parent image set holds
// unchanged: those of inParent (sorted, disjoint spans) become holes.
func (p *pagePlan) addRangeParent(m *mapping, start uint64, pme []uint64, zeroPFN uint64, stackSPs []uint64, inParent []proc.Span) {
	lazyVMA := m.canBeLazy()
	p.scanned += uint64(len(pme))
	for i, e := range pme {
		if !shouldDumpPage(m, e, zeroPFN) {
			continue
		}
		addr := start + uint64(i)*pageSize
		for len(inParent) > 0 && inParent[0].End <= addr {
			inParent = inParent[1:]
		}
		if len(inParent) > 0 && inParent[0].Start <= addr {
			p.hole(addr)
			continue
		}
		p.add(addr, lazyVMA && !isStackPage(addr, stackSPs))
	}
}

// isStackPage is CRIU's is_stack test, kept exactly as CRIU 4.2 computes
// it so that PE_LAZY marks match: it compares the page offset bits of the
// stack pointer with those of a page address (always zero), so it is true
// only when a thread's stack pointer is page aligned, and then for every
// page of the task.
func isStackPage(addr uint64, sps []uint64) bool {
	for _, sp := range sps {
		if (sp^addr)&(pageSize-1) == 0 {
			return true
		}
	}
	return false
}

// entries converts the plan to pagemap entries, in address order: page
// runs and holes interleaved, as CRIU writes holes before the pages that
// follow them.
func (p *pagePlan) entries() []*images.PagemapEntry {
	out := make([]*images.PagemapEntry, 0, len(p.runs)+len(p.holes))
	h := p.holes
	for _, r := range p.runs {
		for len(h) > 0 && h[0].addr < r.addr {
			out = append(out, pagemapEntry(h[0]))
			h = h[1:]
		}
		out = append(out, pagemapEntry(r))
	}
	for _, r := range h {
		out = append(out, pagemapEntry(r))
	}
	return out
}

func pagemapEntry(r pageRun) *images.PagemapEntry {
	return &images.PagemapEntry{
		Vaddr:         ptr(r.addr),
		CompatNrPages: ptr(uint32(0)),
		Flags:         ptr(r.flags),
		NrPages:       ptr(r.nr),
	}
}

// pages returns how many pages the plan puts in the pages image.
func (p *pagePlan) pages() uint64 { return p.written }
