package restore

import (
	"errors"
	"testing"

	"github.com/criugo/criugo/images"
)

func TestPlanMMFixture(t *testing.T) {
	p, err := planMM(fixtureImages(t, "state"), 16227)
	if err != nil {
		t.Fatal(err)
	}
	if p.vdso == nil || p.vdso.start() != 0x7f7004cb3000 || p.vvar == nil || p.vvar.size() != 6*pageSize {
		t.Errorf("vdso %v vvar %v", p.vdso, p.vvar)
	}
	if p.pagesID != 2 {
		t.Errorf("pages id %d, want 2", p.pagesID)
	}
	kinds := map[uint64]vmaKind{
		0x400000:           vmaKindFile,
		0x4bd000:           vmaKindAnon,
		0x7f7004c69000:     vmaKindFile, // the shared anonymous mapping, dumped as a memfd
		0xffffffffff600000: vmaKindSkip,
	}
	for addr, k := range kinds {
		if v := p.vmaAt(addr); v == nil || v.kind != k {
			t.Errorf("vma at %#x: %+v, want kind %d", addr, v, k)
		}
	}
	// The data segment of the binary gets pages: mapped writable first,
	// then made read-only; the guard page gets none.
	if v := p.vmaAt(0x4b6000); !v.pages || v.mapProt() != protRead|protWrite || v.e.GetProt() != protRead {
		t.Errorf("relro vma: pages %v prot %#x", v.pages, v.mapProt())
	}
	if v := p.vmaAt(0x7f7003465000); v.pages || v.mapProt() != 0 {
		t.Errorf("guard vma: pages %v prot %#x", v.pages, v.mapProt())
	}
	if v := p.vmaAt(0x7f7004c69000); v.mapFlags()&mapAnonymous != 0 || v.mapFlags()&mapShared == 0 || v.mapFlags()&mapFixedNoRep == 0 {
		t.Errorf("memfd vma flags %#x", v.mapFlags())
	}
}

func TestMarkPages(t *testing.T) {
	vm := func(start, end uint64, status uint32) *vma {
		return &vma{e: &images.VmaEntry{Start: &start, End: &end, Status: &status}, kind: vmaKindAnon}
	}
	p := &mmPlan{vmas: []*vma{vm(0x1000, 0x3000, images.VmaAnonPrivate), vm(0x3000, 0x4000, images.VmaAnonPrivate), vm(0x8000, 0x9000, images.VmaAnonPrivate)}}
	p.runs = []pageRun{{vaddr: 0x2000, nr: 2, present: true}}
	if err := p.markPages(); err != nil {
		t.Fatal(err)
	}
	if !p.vmas[0].pages || !p.vmas[1].pages || p.vmas[2].pages {
		t.Errorf("pages marks %v %v %v", p.vmas[0].pages, p.vmas[1].pages, p.vmas[2].pages)
	}
	p.runs = []pageRun{{vaddr: 0x3000, nr: 2, present: true}}
	if err := p.markPages(); !errors.Is(err, ErrBadImage) {
		t.Errorf("run into a hole: %v", err)
	}
	p.runs = []pageRun{{vaddr: 0x5000, nr: 1, present: false}}
	if err := p.markPages(); err != nil {
		t.Errorf("absent run in a hole: %v", err)
	}
}

func TestFindFreeAndGaps(t *testing.T) {
	used := []span{{0x10000, 0x20000}, {0x21000, 0x30000}, {0x100000000, 0x100010000}}
	addr, ok := findFree(used, 0x10000, 0x1000)
	if !ok || addr != 0x31000 {
		t.Errorf("findFree: %#x %v, want 0x31000 (a guard page after 0x30000)", addr, ok)
	}
	addr, ok = findFree(used, 1<<32, 0x1000)
	if !ok || addr != 0x100011000 {
		t.Errorf("findFree above 4G: %#x %v", addr, ok)
	}
	if _, ok := findFree(nil, taskSize-0x1000, 0x2000); ok {
		t.Error("findFree past the end of user space")
	}
	g := gaps([]span{{0x5000, 0x6000}, {0x1000, 0x2000}}, 0, 0x10000)
	want := []span{{0, 0x1000}, {0x2000, 0x5000}, {0x6000, 0x10000}}
	if len(g) != len(want) {
		t.Fatalf("gaps %v, want %v", g, want)
	}
	for i := range g {
		if g[i] != want[i] {
			t.Errorf("gaps %v, want %v", g, want)
		}
	}
}

func TestPlanMMRefuses(t *testing.T) {
	set := fixtureImages(t, "loop")
	mm, err := single[*images.MmEntry](set, "mm-16226.img")
	if err != nil {
		t.Fatal(err)
	}
	sock := uint32(images.VmaAreaRegular | images.VmaAreaSocket)
	mm.Vmas[5].Status = &sock
	if _, err := planMM(set, 16226); !errors.Is(err, ErrNotSupported) {
		t.Errorf("socket vma: %v", err)
	}
	anon := uint32(images.VmaAreaRegular | images.VmaAnonPrivate)
	mm.Vmas[5].Status = &anon
	end := mm.Vmas[4].GetStart()
	mm.Vmas[5].Start = &end
	if _, err := planMM(set, 16226); !errors.Is(err, ErrBadImage) {
		t.Errorf("overlapping vmas: %v", err)
	}
}

// TestPlanMMGuards reads guard regions listed after the vmas, as CRIU 4.2
// writes them, and refuses misplaced ones.
func TestPlanMMGuards(t *testing.T) {
	guard := func(start, end uint64) *images.VmaEntry {
		st := uint32(images.VmaAreaGuard)
		return &images.VmaEntry{Start: &start, End: &end, Status: &st}
	}
	try := func(gs ...*images.VmaEntry) (*mmPlan, error) {
		set := fixtureImages(t, "loop")
		mm, err := single[*images.MmEntry](set, "mm-16226.img")
		if err != nil {
			t.Fatal(err)
		}
		mm.Vmas = append(mm.Vmas, gs...)
		return planMM(set, 16226)
	}
	set := fixtureImages(t, "loop")
	mm, _ := single[*images.MmEntry](set, "mm-16226.img")
	var anon *images.VmaEntry // a private anonymous vma of two pages or more
	for _, v := range mm.GetVmas() {
		if v.GetStatus()&images.VmaAnonPrivate != 0 && v.GetStatus()&(images.VmaAreaVdso|images.VmaAreaVvar) == 0 && v.GetEnd()-v.GetStart() >= 2*pageSize {
			anon = v
			break
		}
	}
	if anon == nil {
		t.Fatal("no anonymous vma in the loop fixture")
	}
	s := anon.GetStart()
	p, err := try(guard(s, s+pageSize), guard(s+pageSize, s+2*pageSize))
	if err != nil {
		t.Fatalf("guards: %v", err)
	}
	if len(p.guards) != 2 || p.guards[0] != (span{s, s + pageSize}) || len(p.vmas) != len(mm.GetVmas()) {
		t.Errorf("guards %v, %d vmas", p.guards, len(p.vmas))
	}
	for name, gs := range map[string][]*images.VmaEntry{
		"unaligned":    {guard(s+1, s+pageSize)},
		"out of order": {guard(s+pageSize, s+2*pageSize), guard(s, s+pageSize)},
		"in no vma":    {guard(0x1000, 0x2000)},
		"vma after it": {guard(s, s+pageSize), mm.GetVmas()[0]},
	} {
		if _, err := try(gs...); !errors.Is(err, ErrBadImage) {
			t.Errorf("%s: %v, want ErrBadImage", name, err)
		}
	}
}
