package imgtool

import (
	"bytes"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/criugo/criugo/images"
	"github.com/criugo/criugo/pkg/image"
)

// dedupRun is a pagemap entry for a dedup test: n pages at page index at.
type dedupRun struct {
	at, n uint64
	flags uint32
}

const dedupBase = 0x7f0000000000

// writeLevel writes pagemap-1.img and pages-<id>.img into dir: the
// present runs' pages, page i of the address space filled with fill+i.
func writeLevel(t *testing.T, dir string, id uint32, fill byte, runs []dedupRun) {
	t.Helper()
	img := &image.Image{Kind: image.Pagemap, Entries: []image.Entry{{Msg: &images.PagemapHead{PagesId: proto.Uint32(id)}}}}
	var pages []byte
	for _, r := range runs {
		img.Entries = append(img.Entries, image.Entry{Msg: &images.PagemapEntry{
			Vaddr: proto.Uint64(dedupBase + r.at*images.PageSize), CompatNrPages: proto.Uint32(0), NrPages: proto.Uint64(r.n), Flags: proto.Uint32(r.flags),
		}})
		if r.flags&images.PePresent != 0 {
			for i := r.at; i < r.at+r.n; i++ {
				pages = append(pages, bytes.Repeat([]byte{fill + byte(i)}, images.PageSize)...)
			}
		}
	}
	if err := image.WriteFile(dir, "pagemap-1.img", img); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, image.Pages.FileName(id)), pages, 0o600); err != nil {
		t.Fatal(err)
	}
}

// pagesOf returns the pages file of dir, page by page (its first byte).
func pagesOf(t *testing.T, dir string, id uint32) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, image.Pages.FileName(id)))
	if err != nil {
		t.Fatal(err)
	}
	var firsts []byte
	for i := 0; i+images.PageSize <= len(b); i += images.PageSize {
		if !bytes.Equal(b[i:i+images.PageSize], bytes.Repeat(b[i:i+1], images.PageSize)) {
			t.Fatalf("%s: page %d is not of one byte", dir, i/images.PageSize)
		}
		firsts = append(firsts, b[i])
	}
	return firsts
}

// TestDedup: a three-level chain. The grandparent holds pages 0-5, the
// parent holds page 3 and leaves the rest to it, the child holds pages
// 2-4 and leaves 0-1 to its parent. Dedup of the child frees page 2 in
// the grandparent (the parent says PE_PARENT there) and page 3 in the
// parent; page 4 of the grandparent too; pages 0, 1 and 5 stay, and so
// does the grandparent's page 3, which the parent's shadows.
func TestDedup(t *testing.T) {
	root := t.TempDir()
	gp, p, c := filepath.Join(root, "gp"), filepath.Join(root, "p"), filepath.Join(root, "c")
	for _, d := range []string{gp, p, c} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	writeLevel(t, gp, 1, 0x10, []dedupRun{{0, 6, images.PePresent}})
	writeLevel(t, p, 2, 0x20, []dedupRun{{0, 3, images.PeParent}, {3, 1, images.PePresent}, {4, 2, images.PeParent}})
	writeLevel(t, c, 3, 0x30, []dedupRun{{0, 2, images.PeParent}, {2, 3, images.PePresent}})
	for _, l := range [][2]string{{"../gp", p}, {"../p", c}} {
		if err := os.Symlink(l[0], filepath.Join(l[1], image.ParentLink)); err != nil {
			t.Fatal(err)
		}
	}
	before := verifyDir(t, c)

	st, err := Dedup(c)
	if err != nil {
		t.Fatal(err)
	}
	if st.Pages != 3 || st.Files != 2 {
		t.Errorf("dedup freed %d pages in %d files, want 3 in 2", st.Pages, st.Files)
	}
	if got, want := pagesOf(t, gp, 1), []byte{0x10, 0x11, 0, 0x13, 0, 0x15}; !bytes.Equal(got, want) {
		t.Errorf("grandparent pages %x, want %x", got, want)
	}
	if got, want := pagesOf(t, p, 2), []byte{0}; !bytes.Equal(got, want) {
		t.Errorf("parent pages %x, want %x", got, want)
	}
	if got, want := pagesOf(t, c, 3), []byte{0x32, 0x33, 0x34}; !bytes.Equal(got, want) {
		t.Errorf("child pages %x, want %x", got, want)
	}
	var fs syscall.Stat_t
	if err := syscall.Stat(filepath.Join(gp, "pages-1.img"), &fs); err != nil {
		t.Fatal(err)
	}
	if fs.Size != 6*images.PageSize || fs.Blocks*512 > 4*images.PageSize {
		t.Errorf("grandparent pages file: size %d, %d bytes allocated; want %d, at most %d", fs.Size, fs.Blocks*512, 6*images.PageSize, 4*images.PageSize)
	}
	if after := verifyDir(t, c); after != before {
		t.Errorf("verify after dedup:\n%s\nbefore:\n%s", after, before)
	}

	// Again: nothing is left to free, and punching twice harms nothing.
	if _, err := Dedup(c); err != nil {
		t.Fatal(err)
	}
	if got, want := pagesOf(t, gp, 1), []byte{0x10, 0x11, 0, 0x13, 0, 0x15}; !bytes.Equal(got, want) {
		t.Errorf("grandparent pages after a second dedup %x, want %x", got, want)
	}
}

// TestDedupNoParent: a set without a parent has nothing to free.
func TestDedupNoParent(t *testing.T) {
	d := t.TempDir()
	writeLevel(t, d, 1, 0x10, []dedupRun{{0, 2, images.PePresent}})
	st, err := Dedup(d)
	if err != nil || st != (DedupStats{}) {
		t.Errorf("dedup without a parent: %+v, %v", st, err)
	}
}

// TestDedupBadPagemap: entries out of order in a parent are refused with
// the file named; nothing is punched, the chain is read whole first.
func TestDedupBadPagemap(t *testing.T) {
	root := t.TempDir()
	p, c := filepath.Join(root, "p"), filepath.Join(root, "c")
	os.Mkdir(p, 0o700)
	os.Mkdir(c, 0o700)
	writeLevel(t, p, 1, 0x10, []dedupRun{{4, 1, images.PePresent}, {0, 1, images.PePresent}})
	writeLevel(t, c, 2, 0x20, []dedupRun{{0, 1, images.PePresent}})
	os.Symlink("../p", filepath.Join(c, image.ParentLink))
	_, err := Dedup(c)
	if err == nil || !bytes.Contains([]byte(err.Error()), []byte(filepath.Join(p, "pagemap-1.img"))) {
		t.Errorf("dedup with a parent pagemap out of order: %v, want an error naming it", err)
	}
	if got := pagesOf(t, p, 1); !bytes.Equal(got, []byte{0x14, 0x10}) {
		t.Errorf("parent pages after a refused dedup %x", got)
	}
}
