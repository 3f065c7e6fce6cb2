package image

import (
	"bytes"
	"errors"
	"testing"

	"github.com/criugo/criugo/images"
)

func TestSet(t *testing.T) {
	dir := t.TempDir()
	if err := WriteFile(dir, "pagemap-1.img", pmImage(1, pmEntry(0x1000, 1, images.PePresent))); err != nil {
		t.Fatal(err)
	}
	s, err := OpenSet(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, ok := s.Recorded("pagemap-1.img"); ok {
		t.Error("recorded before it was read")
	}
	img, err := s.Lookup("pagemap-1.img")
	if err != nil || img == nil || len(img.Entries) != 2 {
		t.Fatalf("lookup: %v, %v", img, err)
	}
	if got, ok := s.Recorded("pagemap-1.img"); !ok || got != img {
		t.Error("not recorded after it was read")
	}
	if img, err := s.Lookup("pagemap-2.img"); img != nil || err != nil {
		t.Errorf("lookup of a missing file: %v, %v", img, err)
	}
	if c, err := s.Parents(); err != nil || len(c.Dirs()) != 1 {
		t.Errorf("parents of a set without one: %v, %v", c, err)
	}

	st := NewSet("stream")
	var b bytes.Buffer
	if err := WriteImage(&b, img); err != nil {
		t.Fatal(err)
	}
	if err := st.AddFrom("pagemap-1.img", &b); err != nil {
		t.Fatal(err)
	}
	if img, err := st.Lookup("pagemap-1.img"); err != nil || img == nil {
		t.Errorf("stream lookup: %v, %v", img, err)
	}
	if img, err := st.Lookup("mm-1.img"); img != nil || err != nil {
		t.Errorf("stream lookup of what did not come: %v, %v", img, err)
	}
	if _, err := st.Parents(); !errors.Is(err, ErrNoParent) {
		t.Errorf("parents of a stream: %v", err)
	}
	if _, err := OpenSet(dir + "/pagemap-1.img"); err == nil {
		t.Error("a file opened as a set")
	}
}
