package image

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/criugo/criugo/images"
)

const ps = images.PageSize

// pmEntry is a CRIU 4.x pagemap entry: nr_pages set, compat_nr_pages 0.
func pmEntry(vaddr, nr uint64, flags uint32) *images.PagemapEntry {
	return &images.PagemapEntry{Vaddr: proto.Uint64(vaddr), CompatNrPages: proto.Uint32(0), NrPages: proto.Uint64(nr), Flags: proto.Uint32(flags)}
}

func pmImage(pagesID uint32, es ...*images.PagemapEntry) *Image {
	img := &Image{Kind: Pagemap, Entries: []Entry{{Msg: &images.PagemapHead{PagesId: proto.Uint32(pagesID)}}}}
	for _, e := range es {
		img.Entries = append(img.Entries, Entry{Msg: e})
	}
	return img
}

func TestParsePagemap(t *testing.T) {
	pm, err := ParsePagemap(pmImage(7,
		pmEntry(0x1000, 2, images.PePresent),
		pmEntry(0x3000, 1, images.PeParent),
		pmEntry(0x5000, 1, images.PeLazy),
		pmEntry(0x6000, 3, images.PePresent|images.PeLazy),
		// CRIU before flags: in_parent, or present without flags.
		&images.PagemapEntry{Vaddr: proto.Uint64(0x10000), CompatNrPages: proto.Uint32(2), InParent: proto.Bool(true)},
		&images.PagemapEntry{Vaddr: proto.Uint64(0x20000), CompatNrPages: proto.Uint32(1), InParent: proto.Bool(false)},
	), "pm")
	if err != nil {
		t.Fatal(err)
	}
	want := []PageRun{
		{Vaddr: 0x1000, NrPages: 2, Present: true, Off: 0},
		{Vaddr: 0x3000, NrPages: 1, InParent: true, Off: 2 * ps},
		{Vaddr: 0x5000, NrPages: 1, Lazy: true, Off: 2 * ps},
		{Vaddr: 0x6000, NrPages: 3, Present: true, Lazy: true, Off: 2 * ps},
		{Vaddr: 0x10000, NrPages: 2, InParent: true, Off: 5 * ps},
		{Vaddr: 0x20000, NrPages: 1, Present: true, Off: 5 * ps},
	}
	if pm.PagesID != 7 || len(pm.Runs) != len(want) {
		t.Fatalf("got %+v", pm)
	}
	for i := range want {
		if pm.Runs[i] != want[i] {
			t.Errorf("run %d: %+v, want %+v", i, pm.Runs[i], want[i])
		}
	}
	if got := pm.PresentBytes(); got != 6*ps {
		t.Errorf("present bytes %d, want %d", got, 6*ps)
	}
	if err := pm.CheckPagesSize("pages-7.img", 6*ps-1); !errors.Is(err, ErrBadPagemap) {
		t.Errorf("short pages file: %v", err)
	}
	if i, ok := pm.Find(0x4000); ok || i != 2 {
		t.Errorf("find 0x4000: %d %v", i, ok)
	}
	if i, ok := pm.Find(0x7000); !ok || i != 3 {
		t.Errorf("find 0x7000: %d %v", i, ok)
	}
}

func TestParsePagemapRefuses(t *testing.T) {
	for name, img := range map[string]*Image{
		"no head":           {Kind: Pagemap},
		"no pages":          pmImage(1, pmEntry(0x1000, 0, images.PePresent)),
		"unaligned":         pmImage(1, pmEntry(0x1001, 1, images.PePresent)),
		"overflow":          pmImage(1, pmEntry(0xfffffffffffff000, 2, images.PePresent)),
		"too far":           pmImage(1, pmEntry(MaxPagemapEnd-ps, 2, images.PePresent)),
		"overlap":           pmImage(1, pmEntry(0x1000, 2, images.PePresent), pmEntry(0x2000, 1, images.PeParent)),
		"unordered":         pmImage(1, pmEntry(0x5000, 1, images.PePresent), pmEntry(0x1000, 1, images.PePresent)),
		"present in parent": pmImage(1, pmEntry(0x1000, 1, images.PePresent|images.PeParent)),
		"old present in parent": pmImage(1, &images.PagemapEntry{Vaddr: proto.Uint64(0x1000), CompatNrPages: proto.Uint32(1),
			InParent: proto.Bool(true), Flags: proto.Uint32(images.PePresent)}),
		"not an entry": {Kind: Pagemap, Entries: []Entry{{Msg: &images.PagemapHead{PagesId: proto.Uint32(1)}}, {Msg: &images.PagemapHead{}}}},
	} {
		if _, err := ParsePagemap(img, "pm"); !errors.Is(err, ErrBadPagemap) {
			t.Errorf("%s: %v, want ErrBadPagemap", name, err)
		}
	}
}

// writeLevel writes pagemap-1.img with pages file pages-<id>.img holding
// bytes tag+i for present page i.
func writeLevel(t *testing.T, dir string, id uint32, tag byte, es ...*images.PagemapEntry) {
	t.Helper()
	if err := WriteFile(dir, "pagemap-1.img", pmImage(id, es...)); err != nil {
		t.Fatal(err)
	}
	pm, err := ReadPagemapFile(dir, "pagemap-1.img")
	if err != nil {
		t.Fatal(err)
	}
	var b []byte
	for i := uint64(0); i < pm.PresentBytes()/ps; i++ {
		b = append(b, bytes.Repeat([]byte{tag + byte(i)}, ps)...)
	}
	if err := os.WriteFile(filepath.Join(dir, Pages.FileName(id)), b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestParentChain(t *testing.T) {
	root := t.TempDir()
	var dirs []string
	for _, d := range []string{"top", "p", "gp"} {
		dirs = append(dirs, filepath.Join(root, d))
		if err := os.Mkdir(dirs[len(dirs)-1], 0o700); err != nil {
			t.Fatal(err)
		}
	}
	writeLevel(t, dirs[1], 2, 0x20, pmEntry(0x1000, 1, images.PePresent), pmEntry(0x2000, 2, images.PeParent), pmEntry(0x4000, 1, images.PePresent))
	writeLevel(t, dirs[2], 3, 0x30, pmEntry(0x0, 4, images.PePresent), pmEntry(0x8000, 1, images.PeLazy))
	c := NewParentChain(dirs)
	defer c.Close()
	got, err := c.Resolve("pagemap-1.img", 0x1000, 4*ps)
	if err != nil {
		t.Fatal(err)
	}
	want := []PagePiece{
		{Vaddr: 0x1000, Len: ps, Level: 1, Off: 0},
		{Vaddr: 0x2000, Len: 2 * ps, Level: 2, Off: 2 * ps},
		{Vaddr: 0x4000, Len: ps, Level: 1, Off: ps},
	}
	if len(got) != len(want) {
		t.Fatalf("pieces %+v", got)
	}
	for i, w := range want {
		g := got[i]
		if g.Vaddr != w.Vaddr || g.Len != w.Len || g.Level != w.Level || g.Off != w.Off || g.File == nil || g.Path != filepath.Join(dirs[w.Level], filepath.Base(g.Path)) {
			t.Errorf("piece %d: %+v, want %+v", i, g, w)
		}
	}
	b := make([]byte, 1)
	if _, err := got[1].File.ReadAt(b, int64(got[1].Off)); err != nil || b[0] != 0x32 {
		t.Errorf("piece 1 reads %x, %v", b, err)
	}
	for _, tc := range []struct {
		vaddr, n uint64
		want     []error
	}{
		{0x5000, ps, []error{ErrNotInParent}},     // a gap in the parent
		{0x3000, 3 * ps, []error{ErrNotInParent}}, // runs into the gap
		{0x8000, ps, []error{ErrNotInParent}},     // not in the parent's map at all
	} {
		if _, err := c.Resolve("pagemap-1.img", tc.vaddr, tc.n); !errors.Is(err, tc.want[0]) {
			t.Errorf("resolve %#x+%d: %v, want %v", tc.vaddr, tc.n, err, tc.want)
		}
	}
	if _, err := c.Resolve("pagemap-2.img", 0x1000, ps); !errors.Is(err, ErrNotInParent) {
		t.Errorf("missing pagemap: %v", err)
	}
	held, err := c.Held("pagemap-1.img", 0, 16*ps)
	if err != nil || len(held) != 3 || held[0].Vaddr != 0x1000 || held[2].Vaddr != 0x4000 {
		t.Errorf("held: %+v, %v", held, err)
	}
	if held, err := c.Held("pagemap-2.img", 0, 16*ps); err != nil || len(held) != 0 {
		t.Errorf("held of a missing pagemap: %+v, %v", held, err)
	}
	// A grandparent whose pagemap says in the parent but has none.
	short := NewParentChain(dirs[:2])
	defer short.Close()
	if _, err := short.Resolve("pagemap-1.img", 0x2000, ps); !errors.Is(err, ErrNotInParent) || !errors.Is(err, ErrNoParent) {
		t.Errorf("chain end: %v", err)
	}
	// A pages file shorter than its pagemap.
	if err := os.Truncate(filepath.Join(dirs[2], Pages.FileName(3)), ps); err != nil {
		t.Fatal(err)
	}
	c2 := NewParentChain(dirs)
	defer c2.Close()
	if _, err := c2.Resolve("pagemap-1.img", 0x2000, ps); !errors.Is(err, ErrBadPagemap) {
		t.Errorf("short pages file: %v", err)
	}
}

// FuzzParsePagemap feeds arbitrary bytes to the pagemap reader: it must
// never panic, and what it accepts must be runs in order, each of pages,
// with offsets that fill the pages file in order.
func FuzzParsePagemap(f *testing.F) {
	var b bytes.Buffer
	if err := WriteImage(&b, pmImage(1, pmEntry(0x1000, 2, images.PePresent), pmEntry(0x3000, 1, images.PeParent),
		&images.PagemapEntry{Vaddr: proto.Uint64(0x10000), CompatNrPages: proto.Uint32(2), InParent: proto.Bool(true)})); err != nil {
		f.Fatal(err)
	}
	f.Add(b.Bytes())
	f.Fuzz(func(t *testing.T, data []byte) {
		pm, err := ReadPagemap(bytes.NewReader(data), "pagemap-1.img")
		if err != nil {
			return
		}
		var off, prevEnd uint64
		for i, r := range pm.Runs {
			if r.NrPages == 0 || r.Vaddr%ps != 0 || r.Vaddr < prevEnd || r.End() <= r.Vaddr || r.End() > MaxPagemapEnd || (r.Present && r.InParent) || r.Off != off {
				t.Fatalf("run %d accepted: %+v", i, r)
			}
			prevEnd = r.End()
			if r.Present {
				off += r.Len()
			}
		}
		if pm.PresentBytes() != off {
			t.Fatalf("present bytes %d, runs add up to %d", pm.PresentBytes(), off)
		}
	})
}
