package dump

import (
	"errors"
	"github.com/criugo/criugo/pkg/x86"
	"strings"
	"testing"

	"github.com/criugo/criugo/images"
	"github.com/criugo/criugo/pkg/proc"
)

func anonMapping(start, pages uint64) *mapping {
	v := proc.VMA{Start: start, End: start + pages*pageSize, Perm: proc.PermRead | proc.PermWrite, Kind: proc.VMAAnon, Rss: 1}
	m := classifyVMA(v, 0, 0)
	return &m
}

func present(pfn uint64) uint64 { return pmPresent | pfn }

// TestPagePlanStatePattern replays the private mapping of the state
// fixture program: 64 pages of which every third was never touched. CRIU
// 4.2 wrote one PE_LAZY entry of 2 pages per touched pair.
func TestPagePlanStatePattern(t *testing.T) {
	m := anonMapping(0x7f0000000000, 64)
	pme := make([]uint64, 64)
	for i := range pme {
		if i%3 != 0 {
			pme[i] = present(uint64(1000 + i))
		}
	}
	p := newPagePlan(256)
	p.addMapping(m, pme, 7, nil)
	es := p.entries()
	if len(es) != 21 {
		t.Fatalf("got %d entries, want 21", len(es))
	}
	for i, e := range es {
		want := m.Start + uint64(3*i+1)*pageSize
		if e.GetVaddr() != want || e.GetNrPages() != 2 || e.GetFlags() != images.PeLazy|images.PePresent || e.GetCompatNrPages() != 0 {
			t.Errorf("entry %d: %v, want vaddr %#x, 2 pages, lazy|present", i, e, want)
		}
	}
	if p.written != 42 || p.scanned != 64 {
		t.Errorf("written %d scanned %d, want 42 and 64", p.written, p.scanned)
	}
}

func TestPagePlanSkips(t *testing.T) {
	const zero = 42
	m := anonMapping(0x10000, 6)
	pme := []uint64{
		0,             // never touched
		present(zero), // read only: the zero page
		pmSwap,        // swapped out: dumped
		present(5),
		present(6) | pmFile, // anonymous mapping: the file bit does not matter
		pmSwap | pmGuard,    // a guard marker shows as swapped: never read
	}
	p := newPagePlan(256)
	p.addMapping(m, pme, zero, nil)
	es := p.entries()
	if len(es) != 1 || es[0].GetVaddr() != 0x12000 || es[0].GetNrPages() != 3 {
		t.Fatalf("entries %v, want one of 3 pages at 0x12000", es)
	}

	// A private file mapping: only COWed pages (no file bit) are dumped,
	// and never lazily.
	fv := proc.VMA{Start: 0x400000, End: 0x403000, Perm: proc.PermRead, Kind: proc.VMAFile, Path: "/bin/x"}
	fm := classifyVMA(fv, 1, 2)
	p = newPagePlan(256)
	p.addMapping(&fm, []uint64{present(1) | pmFile, present(2), present(3) | pmFile}, zero, nil)
	es = p.entries()
	if len(es) != 1 || es[0].GetVaddr() != 0x401000 || es[0].GetFlags() != images.PePresent {
		t.Fatalf("file mapping entries %v, want one non-lazy page at 0x401000", es)
	}
}

// TestPagePlanBuffers checks the page-pipe rules: a change of kind and a
// full buffer both end an entry, adjacency continues it across mappings.
func TestPagePlanBuffers(t *testing.T) {
	p := newPagePlan(16)
	a := anonMapping(0x100000, 40)
	all := make([]uint64, 40)
	for i := range all {
		all[i] = present(uint64(100 + i))
	}
	p.addMapping(a, all, 0, nil)
	// Right after it, a private file mapping's COWed pages: same address
	// run, but not lazy, so a new entry.
	fv := proc.VMA{Start: a.End, End: a.End + 2*pageSize, Perm: proc.PermRead | proc.PermWrite, Kind: proc.VMAFile, Path: "/x"}
	fm := classifyVMA(fv, 1, 2)
	p.addMapping(&fm, []uint64{present(1), present(2)}, 0, nil)
	// Then another file mapping right after: same kind, same buffer, so
	// the entry grows across the two mappings.
	fv2 := proc.VMA{Start: fm.End, End: fm.End + pageSize, Perm: proc.PermRead, Kind: proc.VMAFile, Path: "/x"}
	fm2 := classifyVMA(fv2, 1, 2)
	p.addMapping(&fm2, []uint64{present(3)}, 0, nil)

	var got [][2]uint64
	for _, e := range p.entries() {
		got = append(got, [2]uint64{e.GetVaddr(), e.GetNrPages()})
	}
	want := [][2]uint64{{0x100000, 16}, {0x110000, 16}, {0x120000, 8}, {0x128000, 3}}
	if len(got) != len(want) {
		t.Fatalf("entries %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("entry %d: %#x, want %#x", i, got[i], want[i])
		}
	}
}

// TestIsStackQuirk pins CRIU's is_stack test as CRIU 4.2 computes it.
func TestIsStackQuirk(t *testing.T) {
	if isStackPage(0x7000, []uint64{0x7ff0}) {
		t.Error("a stack pointer inside the page made it a stack page; CRIU compares page offsets")
	}
	if !isStackPage(0x1000, []uint64{0x9000}) {
		t.Error("a page-aligned stack pointer must make every page a stack page")
	}
}

const smapsText = `00400000-00401000 r--p 00000000 fe:00 100 /bin/prog
Rss:                   4 kB
VmFlags: rd mr mw me dw
7f0000000000-7f0000001000 ---p 00000000 00:00 0 
Rss:                   0 kB
VmFlags: mr mw me nh
7f0000001000-7f0000005000 rw-s 00000000 00:01 1150 /dev/zero (deleted)
Rss:                  16 kB
VmFlags: rd wr sh mr mw me ms
7f0000005000-7f0000009000 r--p 00000000 00:00 0 [vvar]
VmFlags: rd mr pf io de dd
7f0000009000-7f000000b000 r--p 00000000 00:00 0 [vvar_vclock]
VmFlags: rd mr pf io de dd
7f000000b000-7f000000d000 r-xp 00000000 00:00 0 [vdso]
VmFlags: rd ex mr mw me de
7ffc00000000-7ffc00021000 rw-p 00000000 00:00 0 [stack]
VmFlags: rd wr mr mw me gd ac
ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0 [vsyscall]
VmFlags: ex
`

// TestClassifyVMA checks the vma entries against what CRIU 4.2 wrote for
// the same kinds of mappings in the state fixture.
func TestClassifyVMA(t *testing.T) {
	vmas, err := proc.ParseSmaps(strings.NewReader(smapsText))
	if err != nil {
		t.Fatal(err)
	}
	const shmemDev, fileDev = 1, 0xfe00
	var ms []mapping
	for _, v := range vmas {
		dev := uint64(fileDev)
		if strings.HasPrefix(v.Path, "/dev/zero") {
			dev = shmemDev
		}
		ms = append(ms, classifyVMA(v, dev, shmemDev))
	}
	ms = mergeVvar(ms)
	type want struct {
		end          uint64
		prot, flags  uint32
		status       uint32
		madv         uint64
		kind         vmaKind
		private, lzy bool
	}
	wants := []want{
		{0x401000, protRead, mapPrivate, images.VmaAreaRegular | images.VmaFilePrivate, 0, vmaFile, true, false},
		{0x7f0000001000, 0, mapPrivate | mapAnonymous, images.VmaAreaRegular | images.VmaAnonPrivate, 1 << madvNoHugePage, vmaAnonPriv, true, true},
		{0x7f0000005000, protRead | protWrite, mapShared, images.VmaAreaRegular | images.VmaFileShared | images.VmaAreaMemfd, 0, vmaShmem, false, false},
		{0x7f000000b000, protRead, mapPrivate | mapAnonymous, images.VmaAreaRegular | images.VmaAnonPrivate | images.VmaAreaVvar, 1 << madvDontDump, vmaSpecial, true, true},
		{0x7f000000d000, protRead | protExec, mapPrivate | mapAnonymous, images.VmaAreaRegular | images.VmaAreaVdso | images.VmaAnonPrivate, 0, vmaSpecial, true, false},
		{0x7ffc00021000, protRead | protWrite, mapPrivate | mapAnonymous | mapGrowsDown, images.VmaAreaRegular | images.VmaAnonPrivate, 0, vmaAnonPriv, true, true},
		{0xffffffffff601000, protExec, mapPrivate | mapAnonymous, images.VmaAreaVsyscall | images.VmaAnonPrivate, 0, vmaSpecial, false, false},
	}
	if len(ms) != len(wants) {
		t.Fatalf("%d mappings after merging [vvar_vclock], want %d", len(ms), len(wants))
	}
	for i, w := range wants {
		m := &ms[i]
		e := m.e
		if e.GetEnd() != w.end || e.GetProt() != w.prot || e.GetFlags() != w.flags || e.GetStatus() != w.status ||
			e.GetMadv() != w.madv || m.kind != w.kind || m.private() != w.private || m.canBeLazy() != w.lzy ||
			e.GetFd() != -1 {
			t.Errorf("mapping %d: %v kind %d private %v lazy %v, want %+v", i, e, m.kind, m.private(), m.canBeLazy(), w)
		}
		if (w.madv != 0) != (e.Madv != nil) {
			t.Errorf("mapping %d: madv set = %v, CRIU sets it only when not 0", i, e.Madv != nil)
		}
	}
}

// TestEmptyTLS: the three TLS slots as get_thread_area reports unused ones.
func TestEmptyTLS(t *testing.T) {
	tls := emptyTLS()
	for i := range tls {
		d := x86.TLSDesc(tls[i][:])
		if d.GetEntryNumber() != uint32(12+i) || !d.GetReadExecOnly() || !d.GetSegNotPresent() ||
			d.GetSeg_32Bit() || d.GetContentsH() || d.GetContentsL() || d.GetUsable() || d.GetLimitInPages() {
			t.Errorf("slot %d: %v", i, d)
		}
	}
}

// TestKidTree checks CRIU's numbering: the same object keeps its id, a new
// one takes the next number, objects of other generations are not compared.
func TestKidTree(t *testing.T) {
	same := map[[2]int]bool{{10, 20}: true}
	compared := 0
	k := newKidTree(func(p1, p2, _, _ int) (int, bool, error) {
		compared++
		if p1 == 99 || p2 == 99 {
			return 0, false, errors.New("kcmp failed")
		}
		if same[[2]int{p1, p2}] || same[[2]int{p2, p1}] {
			return 0, false, nil
		}
		return cmpInt(p1, p2), false, nil
	})
	steps := []struct {
		pid   int
		gen   uint64
		id    uint32
		isNew bool
	}{{10, 0, 1, true}, {20, 0, 1, false}, {30, 0, 2, true}, {40, 5, 3, true}}
	for _, s := range steps {
		id, isNew, err := k.id(s.pid, 0, s.gen)
		if err != nil || id != s.id || isNew != s.isNew {
			t.Errorf("pid %d: id %d new %v err %v, want %d %v", s.pid, id, isNew, err, s.id, s.isNew)
		}
	}
	if compared != 2 {
		t.Errorf("%d comparisons, want 2 (none across generations)", compared)
	}
	if _, _, err := k.id(99, 0, 0); err == nil {
		t.Error("a kcmp failure was not reported")
	}

	f := newFileIDs(func(p1, p2, fd1, fd2 int) (int, bool, error) { return cmpInt(fd1, fd2), false, nil })
	exe := fileKey{dev: 1, ino: 2}
	if id, isNew := f.forFile(exe); id != 1 || !isNew {
		t.Errorf("exe: %d %v", id, isNew)
	}
	if id, isNew, _ := f.forFd(1, 3, fileKey{dev: 1, ino: 9}, 0); id != 2 || !isNew {
		t.Errorf("fd: %d %v", id, isNew)
	}
	if id, isNew := f.forFile(fileKey{dev: 1, ino: 9}); id != 2 || isNew {
		t.Errorf("mapping of a file first seen as an fd: %d %v, want its id", id, isNew)
	}
	if id := f.unique(); id != 3 {
		t.Errorf("cwd: %d, want 3", id)
	}
	if id, isNew := f.forFile(exe); id != 1 || isNew {
		t.Errorf("exe again: %d %v", id, isNew)
	}
}

func TestNsIDs(t *testing.T) {
	n := newNsIDs()
	n.seed("net", 100, 2)
	n.seed("mnt", 200, 6)
	if got := n.id("net", 100); got != 2 {
		t.Errorf("seeded net: %d", got)
	}
	if got := n.id("net", 101); got != 7 {
		t.Errorf("new net: %d, want 7 (after the largest seeded id)", got)
	}
	if got := n.id("user", 5); got != 8 {
		t.Errorf("new user: %d, want 8", got)
	}
}

func TestRseqDecide(t *testing.T) {
	cs := rseqCS{ptr: 0x1000, startIP: 0x400100, postCommit: 0x20, abortIP: 0x400200}
	for _, c := range []struct {
		ip          uint64
		abort, keep bool
	}{{0x4000ff, false, false}, {0x400100, true, false}, {0x40011f, true, false}, {0x400120, false, false}} {
		if a, k := cs.decide(c.ip); a != c.abort || k != c.keep {
			t.Errorf("ip %#x: abort %v keep %v, want %v %v", c.ip, a, k, c.abort, c.keep)
		}
	}
	cs.flags = rseqCSFlagNoRestartOnSignal
	if a, k := cs.decide(0x400100); a || !k {
		t.Errorf("no-restart section: abort %v keep %v, want the pointer kept", a, k)
	}
	if a, k := (rseqCS{}).decide(0x400100); a || k {
		t.Error("a thread outside any section was touched")
	}
}

// TestPagePlanParent: pages the parent holds become PE_PARENT holes,
// merged across what would be buffers, written before the pages that
// follow them; pages not to dump at all stay out even inside a hole span.
func TestPagePlanParent(t *testing.T) {
	m := anonMapping(0x10000, 8)
	pme := []uint64{present(1), present(2), 0, present(4), present(5), present(6), present(7), present(8)}
	at := func(i uint64) uint64 { return m.Start + i*pageSize }
	inParent := []proc.Span{{Start: at(1), End: at(4)}, {Start: at(5), End: at(7)}}
	p := newPagePlan(2)
	p.addRangeParent(m, m.Start, pme, 0, nil, inParent)
	type ent struct {
		addr, nr uint64
		flags    uint32
	}
	want := []ent{
		{at(0), 1, images.PeLazy | images.PePresent},
		{at(1), 1, images.PeParent}, // page 2 is never touched: no entry
		{at(3), 1, images.PeParent},
		{at(4), 1, images.PeLazy | images.PePresent},
		{at(5), 2, images.PeParent},
		{at(7), 1, images.PeLazy | images.PePresent},
	}
	es := p.entries()
	if len(es) != len(want) {
		t.Fatalf("entries %v, want %v", es, want)
	}
	for i, e := range es {
		if (ent{e.GetVaddr(), e.GetNrPages(), e.GetFlags()}) != want[i] {
			t.Errorf("entry %d: %v, want %+v", i, e, want[i])
		}
	}
	if p.written != 3 || p.parent != 4 || p.scanned != 8 {
		t.Errorf("written %d, parent %d, scanned %d; want 3, 4, 8", p.written, p.parent, p.scanned)
	}
}

func cmpInt(a, b int) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// TestKidTreeOrdered: the objects of a generation are found by binary
// search in kcmp's order, a few comparisons each however many there are,
// and objects kcmp cannot order are still found.
func TestKidTreeOrdered(t *testing.T) {
	compared := 0
	k := newKidTree(func(p1, p2, _, _ int) (int, bool, error) {
		compared++
		return cmpInt(p1%500, p2%500), false, nil // pid p and p+500 share the object
	})
	for p := 0; p < 1000; p++ {
		id, isNew, err := k.id(p, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		if want := uint32(p%500 + 1); id != want || isNew != (p < 500) {
			t.Fatalf("pid %d: id %d new %v, want %d %v", p, id, isNew, want, p < 500)
		}
	}
	if compared > 1000*11 {
		t.Errorf("%d comparisons for 1000 objects, want at most %d", compared, 1000*11)
	}
	u := newKidTree(func(p1, p2, _, _ int) (int, bool, error) {
		if p1%3 == p2%3 {
			return 0, false, nil
		}
		return 1, true, nil
	})
	for p := 0; p < 9; p++ {
		if id, _, err := u.id(p, 0, 0); err != nil || id != uint32(p%3+1) {
			t.Fatalf("unordered: pid %d id %d err %v", p, id, err)
		}
	}
}
