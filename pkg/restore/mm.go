package restore

import (
	"fmt"
	"sort"

	"github.com/criugo/criugo/images"
)

// mmap flags and protections as vma_entry stores them (the x86_64 values).
const (
	protRead      = 0x1
	protWrite     = 0x2
	protExec      = 0x4
	mapShared     = 0x01
	mapPrivate    = 0x02
	mapDroppable  = 0x08
	mapFixed      = 0x10
	mapAnonymous  = 0x20
	mapGrowsdown  = 0x100
	mapLocked     = 0x2000
	mapNoreserve  = 0x4000
	mapFixedNoRep = 0x100000
)

// pageSize is the size of a page (x86_64).
const pageSize = images.PageSize

// taskSize is the top of the x86_64 user address space (4-level paging).
const taskSize = 0x7ffffffff000

// vmaKind says how a VMA is brought back.
type vmaKind int

const (
	vmaKindAnon       vmaKind = iota // private anonymous memory
	vmaKindFile                      // a file (or memfd), private or shared
	vmaKindAnonShared                // shared anonymous memory, from a memfd
	vmaKindVdso                      // [vdso]: moved, not mapped
	vmaKindVvar                      // [vvar] (and [vvar_vclock]): moved, not mapped
	vmaKindSkip                      // [vsyscall], [uprobes]: the kernel's own
	vmaKindSysV                      // SysV shared memory: shmat (ipc_linux.go)
	vmaKindAio                       // an AIO ring: pages into a stand-in, then io_setup (aio_linux.go)
)

// vma is one VMA of mm-<pid>.img and what restoring it takes.
type vma struct {
	e     *images.VmaEntry
	kind  vmaKind
	pages bool // pages of the pagemap land in it
	// inherited: the task keeps it as the fork from its parent left it
	// (inheritedVMAs), set for the restore of the task under way.
	inherited bool
	// aioNrReq is the io_setup argument of an AIO ring (its aio_ring_entry).
	aioNrReq uint32
}

func (v *vma) start() uint64 { return v.e.GetStart() }
func (v *vma) end() uint64   { return v.e.GetEnd() }
func (v *vma) size() uint64  { return v.e.GetEnd() - v.e.GetStart() }
func (v *vma) shared() bool  { return v.e.GetFlags()&mapShared != 0 }

// mapProt is the protection to map with: the final one, plus write access
// when pages are to be written in (process_vm_writev writes only where the
// task itself could).
func (v *vma) mapProt() uint32 {
	if v.kind == vmaKindAio {
		// The stand-in takes the dumped ring's pages; the ring that
		// replaces it has io_setup's protection.
		return protRead | protWrite
	}
	p := v.e.GetProt()
	if v.pages && !v.shared() {
		p |= protWrite
	}
	return p
}

// mapFlags are the mmap flags to map with.
func (v *vma) mapFlags() uint32 {
	if v.kind == vmaKindAio {
		return mapPrivate | mapAnonymous | mapFixedNoRep
	}
	f := v.e.GetFlags() & (mapShared | mapPrivate | mapDroppable | mapAnonymous | mapGrowsdown | mapNoreserve)
	if v.kind != vmaKindAnon {
		f &^= mapAnonymous
	}
	return f | mapFixedNoRep
}

// mmPlan is a task's memory as mm-<pid>.img and pagemap-<pid>.img say.
type mmPlan struct {
	mm      *images.MmEntry
	vmas    []*vma // by address
	vdso    *vma
	vvar    *vma
	guards  []span // MADV_GUARD_INSTALL regions, by address, inside vmas
	pagesID uint64
	runs    []pageRun
}

// planMM reads and checks the memory images of task pid.
func planMM(set *imageSet, pid int) (*mmPlan, error) {
	name := mmName(uint32(pid))
	mm, err := single[*images.MmEntry](set, name)
	if err != nil {
		return nil, err
	}
	p := &mmPlan{mm: mm}
	var prevEnd uint64
	for i, e := range mm.GetVmas() {
		v := &vma{e: e}
		st := e.GetStatus()
		if st&images.VmaAreaGuard != 0 {
			// CRIU 4.2 lists guard regions after the vmas, as vmas of their own.
			if err := p.addGuard(e); err != nil {
				return nil, fmt.Errorf("read %s: vma %d: %w", name, i, err)
			}
			continue
		}
		if len(p.guards) > 0 {
			return nil, fmt.Errorf("read %s: vma %d [%#x, %#x) after a guard region: %w", name, i, e.GetStart(), e.GetEnd(), ErrBadImage)
		}
		if e.GetStart() >= e.GetEnd() || e.GetStart()%pageSize != 0 || e.GetEnd()%pageSize != 0 || e.GetStart() < prevEnd {
			return nil, fmt.Errorf("read %s: vma %d [%#x, %#x) is empty, unaligned or out of order: %w", name, i, e.GetStart(), e.GetEnd(), ErrBadImage)
		}
		prevEnd = e.GetEnd()
		switch {
		case st&images.VmaAreaVsyscall != 0 || st&images.VmaAreaUprobes != 0:
			v.kind = vmaKindSkip
		case st&images.VmaAreaSysvipc != 0:
			v.kind = vmaKindSysV
		case st&(images.VmaAreaSocket|images.VmaAreaShstk|images.VmaUnsupp) != 0:
			return nil, fmt.Errorf("read %s: vma [%#x, %#x) with status %#x (socket or shadow stack): %w", name, e.GetStart(), e.GetEnd(), st, ErrNotSupported)
		case st&images.VmaAreaAioring != 0:
			v.kind = vmaKindAio
		case st&images.VmaAreaVdso != 0:
			v.kind = vmaKindVdso
			if p.vdso != nil {
				return nil, fmt.Errorf("read %s: two [vdso] vmas: %w", name, ErrBadImage)
			}
			p.vdso = v
		case st&images.VmaAreaVvar != 0:
			v.kind = vmaKindVvar
			if p.vvar != nil {
				return nil, fmt.Errorf("read %s: two [vvar] vmas: %w", name, ErrBadImage)
			}
			p.vvar = v
		case st&(images.VmaFilePrivate|images.VmaFileShared) != 0:
			v.kind = vmaKindFile
		case st&images.VmaAnonShared != 0:
			v.kind = vmaKindAnonShared
		case st&images.VmaAnonPrivate != 0:
			v.kind = vmaKindAnon
		default:
			return nil, fmt.Errorf("read %s: vma [%#x, %#x) with status %#x: %w", name, e.GetStart(), e.GetEnd(), st, ErrNotSupported)
		}
		if v.kind != vmaKindSkip && e.GetEnd() > taskSize {
			return nil, fmt.Errorf("read %s: vma [%#x, %#x) beyond user space: %w", name, e.GetStart(), e.GetEnd(), ErrBadImage)
		}
		if v.kind == vmaKindAnon && e.GetFlags()&mapShared != 0 {
			return nil, fmt.Errorf("read %s: private anonymous vma [%#x, %#x) mapped shared: %w", name, e.GetStart(), e.GetEnd(), ErrBadImage)
		}
		p.vmas = append(p.vmas, v)
	}
	if err := p.matchAios(); err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	for _, g := range p.guards {
		if err := p.checkGuard(g); err != nil {
			return nil, fmt.Errorf("read %s: %w", name, err)
		}
	}
	p.pagesID, p.runs, err = readPagemap(set, pagemapName(uint32(pid)))
	if err != nil {
		return nil, err
	}
	if err := p.markPages(); err != nil {
		return nil, fmt.Errorf("read %s: %w", pagemapName(uint32(pid)), err)
	}
	return p, nil
}

// matchAios gives each AIO ring vma its aio_ring_entry: one for each, of
// the vma's address and length.
func (p *mmPlan) matchAios() error {
	byAddr := map[uint64]*images.AioRingEntry{}
	for _, a := range p.mm.GetAios() {
		if byAddr[a.GetId()] != nil {
			return fmt.Errorf("two AIO rings at %#x: %w", a.GetId(), ErrBadImage)
		}
		byAddr[a.GetId()] = a
	}
	for _, v := range p.vmas {
		if v.kind != vmaKindAio {
			continue
		}
		a := byAddr[v.start()]
		if a == nil || uint64(a.GetRingLen()) != v.size() || a.GetNrReq() == 0 {
			return fmt.Errorf("AIO ring vma [%#x, %#x) has no aio entry of its size: %w", v.start(), v.end(), ErrBadImage)
		}
		if !v.shared() || v.e.GetFlags()&mapAnonymous != 0 {
			return fmt.Errorf("AIO ring vma [%#x, %#x) with flags %#x: %w", v.start(), v.end(), v.e.GetFlags(), ErrBadImage)
		}
		v.aioNrReq = a.GetNrReq()
		delete(byAddr, v.start())
	}
	if len(byAddr) > 0 {
		return fmt.Errorf("%d AIO rings of the mm have no vma: %w", len(byAddr), ErrBadImage)
	}
	return nil
}

// addGuard takes a guard region entry: aligned, not empty, after the
// previous one, and nothing but a range.
func (p *mmPlan) addGuard(e *images.VmaEntry) error {
	g := span{e.GetStart(), e.GetEnd()}
	if g.start >= g.end || g.start%pageSize != 0 || g.end%pageSize != 0 || g.end > taskSize {
		return fmt.Errorf("guard region [%#x, %#x) is empty, unaligned or beyond user space: %w", g.start, g.end, ErrBadImage)
	}
	if n := len(p.guards); n > 0 && g.start < p.guards[n-1].end {
		return fmt.Errorf("guard region [%#x, %#x) out of order: %w", g.start, g.end, ErrBadImage)
	}
	if e.GetStatus() != images.VmaAreaGuard {
		return fmt.Errorf("guard region [%#x, %#x) with status %#x: %w", g.start, g.end, e.GetStatus(), ErrBadImage)
	}
	p.guards = append(p.guards, g)
	return nil
}

// checkGuard checks that a guard region lies in vmas the restore maps
// (madvise would fail on a hole or on the kernel's special mappings).
func (p *mmPlan) checkGuard(g span) error {
	for addr := g.start; addr < g.end; {
		v := p.vmaAt(addr)
		if v == nil {
			return fmt.Errorf("guard region [%#x, %#x) has %#x in no vma: %w", g.start, g.end, addr, ErrBadImage)
		}
		switch v.kind {
		case vmaKindAnon, vmaKindAnonShared, vmaKindFile:
		default:
			return fmt.Errorf("guard region [%#x, %#x) in vma [%#x, %#x) with status %#x: %w", g.start, g.end, v.start(), v.end(), v.e.GetStatus(), ErrBadImage)
		}
		addr = v.end()
	}
	return nil
}

// markPages checks that every run with pages (present, or in the parent)
// lies in VMAs and marks them.
func (p *mmPlan) markPages() error {
	for _, run := range p.runs {
		if !run.present && !run.inParent {
			continue
		}
		addr := run.vaddr
		i := sort.Search(len(p.vmas), func(i int) bool { return p.vmas[i].end() > addr })
		for addr < run.end() {
			if i >= len(p.vmas) || p.vmas[i].start() > addr {
				return fmt.Errorf("pages at %#x are in no vma: %w", addr, ErrBadImage)
			}
			v := p.vmas[i]
			if v.kind == vmaKindSkip {
				return fmt.Errorf("pages at %#x are in a kernel vma: %w", addr, ErrBadImage)
			}
			v.pages = true
			addr = min(v.end(), run.end())
			i++
		}
	}
	return nil
}

// vmaAt returns the VMA holding addr, or nil.
func (p *mmPlan) vmaAt(addr uint64) *vma {
	i := sort.Search(len(p.vmas), func(i int) bool { return p.vmas[i].end() > addr })
	if i < len(p.vmas) && p.vmas[i].start() <= addr {
		return p.vmas[i]
	}
	return nil
}

// span is a range [start, end) of addresses.
type span struct{ start, end uint64 }

// findFree returns the lowest address at or above from where size bytes,
// with a guard page on each side, overlap none of the used spans.
func findFree(used []span, from, size uint64) (uint64, bool) {
	s := append([]span(nil), used...)
	sort.Slice(s, func(i, j int) bool { return s[i].start < s[j].start })
	cand := from
	for _, u := range s {
		if u.end+pageSize <= cand {
			continue
		}
		if cand+size+pageSize <= u.start {
			break
		}
		cand = max(cand, u.end+pageSize)
	}
	if cand+size+pageSize > taskSize {
		return 0, false
	}
	return cand, true
}
