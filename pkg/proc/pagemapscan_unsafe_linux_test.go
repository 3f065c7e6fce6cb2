package proc

import (
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

func TestGuardRegions(t *testing.T) {
	ps := uint64(os.Getpagesize())
	mem, base := mmapAnon(t, 8, unix.PROT_READ|unix.PROT_WRITE)
	// Guards at pages 1-2 and 5; page 0 touched.
	mem[0] = 1
	const madvGuardInstall = 102
	for _, r := range [][2]uint64{{1, 2}, {5, 1}} {
		if err := unix.Madvise(mem[r[0]*ps:(r[0]+r[1])*ps], madvGuardInstall); err != nil {
			t.Skipf("MADV_GUARD_INSTALL: %v (kernel before 6.13)", err)
		}
	}
	pm, err := FS{}.OpenPagemap(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	defer pm.Close()
	regions, ok, err := pm.GuardRegions(0x7ffffffff000)
	if err != nil {
		t.Fatal(err)
	}
	if !ok {
		t.Skip("PAGEMAP_SCAN does not know guard regions here")
	}
	var mine []Span
	for _, r := range regions {
		if r.Start >= base && r.End <= base+8*ps {
			mine = append(mine, Span{(r.Start - base) / ps, (r.End - base) / ps})
		}
	}
	if len(mine) != 2 || mine[0] != (Span{1, 3}) || mine[1] != (Span{5, 6}) {
		t.Errorf("guard regions of the test mapping (in pages) %v, want [{1 3} {5 6}]", mine)
	}
	// The pagemap entries agree.
	ents := make([]PagemapEntry, 8)
	if err := pm.Read(base, ents); err != nil {
		t.Fatal(err)
	}
	for i, e := range ents {
		want := i == 1 || i == 2 || i == 5
		if e.Guard() != want {
			t.Errorf("page %d: %v, guard want %v", i, e, want)
		}
	}
}
