package image

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/criugo/criugo/internal/testutil"
)

func fixture(t *testing.T, set, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testutil.FixturesDir(t), "criu-4.2", "images", set, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func le32(v ...uint32) []byte {
	var b []byte
	for _, x := range v {
		b = binary.LittleEndian.AppendUint32(b, x)
	}
	return b
}

func TestReadErrors(t *testing.T) {
	core := fixture(t, "loop", "core-16226.img")
	cases := []struct {
		name     string
		file     string
		data     []byte
		sentinel error
		text     string // must appear in the message
	}{
		{"empty", "core-1.img", nil, ErrTruncated, "read core-1.img at offset 0: header"},
		{"half magic", "core-1.img", []byte{0x19, 0x43}, ErrTruncated, "at offset 0"},
		{"no kind magic", "core-1.img", le32(ImgCommonMagic), ErrTruncated, "at offset 4"},
		{"bad set magic", "core-1.img", le32(0xdeadbeef, Core.Magic), ErrBadMagic, "magic 0xdeadbeef"},
		{"unknown magic", "", le32(ImgCommonMagic, 0x12345678), ErrUnknownMagic, "read image at offset 4: magic 0x12345678"},
		{"service magic on core", "", le32(ImgServiceMagic, Core.Magic), ErrBadMagic, "CORE image after set magic"},
		{"common magic on stats", "", le32(ImgCommonMagic, Stats.Magic), ErrBadMagic, "STATS image"},
		{"name mismatch", "mm-1.img", core, ErrBadMagic, "file name is for MM, magic is CORE"},
		{"raw by name", "pages-1.img", le32(ImgCommonMagic, Core.Magic), ErrRawImage, "PAGES"},
		{"cut size", "core-42.img", core[:10], ErrTruncated, "read core-42.img at offset 8: entry size"},
		{"cut message", "core-42.img", core[:100], ErrTruncated, "read core-42.img at offset 8: entry of"},
		{"huge size", "core-42.img", append(le32(ImgCommonMagic, Core.Magic), 0xff, 0xff, 0xff, 0xff),
			ErrTooLarge, "read core-42.img at offset 8: entry size 4294967295 exceeds limit 67108864"},
		{"garbage message", "core-42.img", append(le32(ImgCommonMagic, Core.Magic, 3), 0xff, 0xff, 0xff),
			ErrCorrupt, "read core-42.img at offset 8: decode criu.core_entry"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ReadImage(bytes.NewReader(c.data), c.file)
			if !errors.Is(err, c.sentinel) {
				t.Fatalf("got %v, want %v", err, c.sentinel)
			}
			if !strings.Contains(err.Error(), c.text) {
				t.Errorf("error %q does not say %q", err, c.text)
			}
			if c.sentinel == ErrTruncated && !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Errorf("truncation %v does not match io.ErrUnexpectedEOF", err)
			}
		})
	}
}

// TestTruncatedEverywhere cuts a fixture at every length: only the cut
// right after the header or after a whole entry reads cleanly; all others
// are ErrTruncated.
func TestTruncatedEverywhere(t *testing.T) {
	for _, name := range []string{"pagemap-16226.img", "core-16226.img", "inventory.img"} {
		data := fixture(t, "loop", name)
		bounds := entryBoundaries(t, data, name)
		for n := 0; n < len(data); n++ {
			img, err := ReadImage(bytes.NewReader(data[:n]), name)
			if bounds[n] {
				if err != nil {
					t.Errorf("%s cut at entry boundary %d: %v", name, n, err)
				} else if len(img.Entries) == 0 && n > 8 {
					t.Errorf("%s cut at %d: no entries", name, n)
				}
				continue
			}
			if !errors.Is(err, ErrTruncated) {
				t.Fatalf("%s cut at %d: got %v, want ErrTruncated", name, n, err)
			}
		}
	}
}

// entryBoundaries returns the offsets where a header or an entry ends.
func entryBoundaries(t *testing.T, data []byte, name string) map[int]bool {
	rd, err := NewReader(bytes.NewReader(data), name)
	if err != nil {
		t.Fatal(err)
	}
	b := map[int]bool{int(rd.Offset()): true}
	for {
		if _, err := rd.Next(); err == io.EOF {
			return b
		} else if err != nil {
			t.Fatal(err)
		}
		b[int(rd.Offset())] = true
	}
}

// TestReaderStreams reads a pagemap entry by entry and checks the offsets
// and the sticky end.
func TestReaderStreams(t *testing.T) {
	data := fixture(t, "loop", "pagemap-16226.img")
	rd, err := NewReader(bytes.NewReader(data), "pagemap-16226.img")
	if err != nil {
		t.Fatal(err)
	}
	if rd.Kind() != Pagemap || rd.Offset() != 8 {
		t.Fatalf("kind %v offset %d", rd.Kind().Name, rd.Offset())
	}
	head, err := rd.Next()
	if err != nil {
		t.Fatal(err)
	}
	if id, err := PagemapPagesID(head.Msg); err != nil || id != 1 {
		t.Fatalf("pages_id %d, %v", id, err)
	}
	var pages uint64
	for {
		e, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		n, err := PagemapNrPages(e.Msg)
		if err != nil {
			t.Fatal(err)
		}
		pages += n
	}
	if rd.Offset() != int64(len(data)) {
		t.Errorf("offset %d at end of %d bytes", rd.Offset(), len(data))
	}
	if _, err := rd.Next(); err != io.EOF {
		t.Errorf("Next after end: %v", err)
	}
	// pages-1.img holds exactly the pages the pagemap lists.
	st, err := os.Stat(filepath.Join(testutil.FixturesDir(t), "criu-4.2", "images", "loop", "pages-1.img"))
	if err != nil {
		t.Fatal(err)
	}
	if int64(pages)*4096 != st.Size() {
		t.Errorf("pagemap lists %d pages, pages-1.img has %d bytes", pages, st.Size())
	}
}

func TestReadHeaderKinds(t *testing.T) {
	for _, c := range []struct {
		set, file string
		kind      *Kind
	}{
		{"loop", "inventory.img", Inventory},
		{"loop", "stats-dump", Stats},
		{"state", "pagemap-shmem-18420.img", Pagemap},
		{"state", "memfd.img", MemfdInode},
	} {
		img, err := ReadImage(bytes.NewReader(fixture(t, c.set, c.file)), c.file)
		if err != nil {
			t.Fatalf("%s: %v", c.file, err)
		}
		if img.Kind != c.kind {
			t.Errorf("%s: kind %s, want %s", c.file, img.Kind.Name, c.kind.Name)
		}
	}
}
