package dump

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/criugo/criugo/images"
	"github.com/criugo/criugo/pkg/image"
	"github.com/criugo/criugo/pkg/proc"
)

// BenchmarkPagePlan1GiB plans the pages of a 1 GiB mapping with every
// page present: the per-page work of a dump before any memory is read.
func BenchmarkPagePlan1GiB(b *testing.B) {
	const pages = 1 << 18
	m := anonMapping(0x7f0000000000, pages)
	pme := make([]uint64, pages)
	for i := range pme {
		pme[i] = present(uint64(1000 + i))
	}
	b.SetBytes(pages * pageSize)
	for b.Loop() {
		p := newPagePlan(256)
		p.addMapping(m, pme, 7, nil)
		if p.pages() != pages {
			b.Fatalf("%d pages planned", p.pages())
		}
	}
}

// BenchmarkPagemapImage encodes the pagemap image of 1 GiB in 1 MiB page
// pipes (1024 entries, as a dump without CAP_SYS_RESOURCE writes it) and
// decodes it again.
func BenchmarkPagemapImage(b *testing.B) {
	const pages = 1 << 18
	m := anonMapping(0x7f0000000000, pages)
	pme := make([]uint64, pages)
	for i := range pme {
		pme[i] = present(uint64(1000 + i))
	}
	p := newPagePlan(256)
	p.addMapping(m, pme, 7, nil)
	encode := func() ([]byte, error) {
		return encodeImage(image.Pagemap, append(
			[]image.Entry{{Msg: &images.PagemapHead{PagesId: ptr(uint32(1))}}},
			msgs(p.entries()...)...)...)
	}
	b.Run("encode", func(b *testing.B) {
		for b.Loop() {
			img, err := encode()
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(img)))
		}
	})
	b.Run("decode", func(b *testing.B) {
		img, err := encode()
		if err != nil {
			b.Fatal(err)
		}
		b.SetBytes(int64(len(img)))
		for b.Loop() {
			r, err := image.NewReader(bytes.NewReader(img), "pagemap-1.img")
			if err != nil {
				b.Fatal(err)
			}
			n := 0
			for ; ; n++ {
				if _, err := r.Next(); err == io.EOF {
					break
				} else if err != nil {
					b.Fatal(err)
				}
			}
			if n != len(p.runs)+1 {
				b.Fatalf("decoded %d entries, want %d", n, len(p.runs))
			}
		}
	})
}

// bigAnon finds the single mapping of at least mib MiB of pid (bigmem's).
func bigAnon(t testing.TB, pid, mib int) proc.VMA {
	t.Helper()
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/maps")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	vmas, err := proc.ParseMaps(f)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vmas {
		if v.Kind == proc.VMAAnon && v.End-v.Start >= uint64(mib)<<20 {
			return v
		}
	}
	t.Fatalf("pid %d has no anonymous mapping of %d MiB", pid, mib)
	return proc.VMA{}
}

// BenchmarkPagesWrite256MiB reads 256 MiB of another process's memory
// and writes it as a pages image into tmpfs, as a dump into a directory
// does: the data path alone, without attaching or planning.
func BenchmarkPagesWrite256MiB(b *testing.B) {
	const mib = 256
	p := bigmem(b, mib)
	v := bigAnon(b, p.pid, mib)
	dir := shmDir(b)
	runs := []pageRun{{addr: v.Start, nr: mib << 20 / pageSize}}
	for i := 0; b.Loop(); i++ {
		mem := &taskMem{pid: p.pid}
		rp := newRunPages(mem, runs)
		f, err := os.Create(filepath.Join(dir, "pages-"+strconv.Itoa(i)+".img"))
		if err != nil {
			b.Fatal(err)
		}
		err = rp.writeTo(f)
		f.Close()
		mem.close()
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		os.Remove(f.Name())
		b.StartTimer()
		b.SetBytes(mib << 20)
	}
}

// TestPagesWriteContents checks the data path the benchmark measures:
// the pages image holds the memory, in order, across chunk boundaries.
func TestPagesWriteContents(t *testing.T) {
	const mib = 9 // two full chunks and a part
	p := bigmem(t, mib)
	v := bigAnon(t, p.pid, mib)
	// Three runs: the first 5 MiB, a hole of 16 pages, the rest.
	first := uint64(5<<20) / pageSize
	total := uint64(mib<<20) / pageSize
	runs := []pageRun{{addr: v.Start, nr: first}, {addr: v.Start + (first+16)*pageSize, nr: total - first - 16}}
	for _, stream := range []bool{false, true} {
		mem := &taskMem{pid: p.pid}
		rp := newRunPages(mem, runs)
		var got []byte
		if stream {
			var buf bytes.Buffer
			if _, err := buf.ReadFrom(rp.reader()); err != nil {
				t.Fatal(err)
			}
			got = buf.Bytes()
		} else {
			f, err := os.Create(filepath.Join(t.TempDir(), "pages-1.img"))
			if err != nil {
				t.Fatal(err)
			}
			if err := rp.writeTo(f); err != nil {
				t.Fatal(err)
			}
			f.Close()
			if got, err = os.ReadFile(f.Name()); err != nil {
				t.Fatal(err)
			}
		}
		mem.close()
		if int64(len(got)) != rp.size() || uint64(len(got)) != (total-16)*pageSize {
			t.Fatalf("stream %v: %d bytes, want %d", stream, len(got), (total-16)*pageSize)
		}
		// bigmem fills page i of its mapping with byte i*13+1.
		for i := uint64(0); i < total-16; i++ {
			pg := i
			if i >= first {
				pg = i + 16
			}
			want := byte(pg*13 + 1)
			if b := got[i*pageSize : (i+1)*pageSize]; b[0] != want || b[pageSize-1] != want {
				t.Fatalf("stream %v: page %d of the image holds %#x, want page %d (%#x)", stream, i, b[0], pg, want)
			}
		}
	}
	if got := p.finish(t); got != "PASS" {
		t.Errorf("bigmem after the reads: %s", got)
	}
}
