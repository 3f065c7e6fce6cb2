package cpuinfo

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/criugo/criugo/internal/testutil"
	"github.com/criugo/criugo/pkg/image"
)

// FuzzCheck feeds arbitrary cpuinfo.img bytes to the check a restore
// makes. It must never panic, and whatever it refuses it refuses as a
// bad image or a mismatch.
func FuzzCheck(f *testing.F) {
	if b, err := os.ReadFile(filepath.Join("testdata", "host", FileName)); err == nil {
		f.Add(b)
	}
	if dir, ok := testutil.LookupFixturesDir(); ok {
		if b, err := os.ReadFile(filepath.Join(dir, "criu-4.2-zoo", "images", "cpuinfo", FileName)); err == nil {
			f.Add(b)
		}
	}
	host, err := ReadDir(filepath.Join("testdata", "host"))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		img, err := image.ReadImage(bytes.NewReader(data), FileName)
		if err != nil {
			return
		}
		e, err := FromImage(img)
		if err != nil {
			if !errors.Is(err, ErrBadImage) {
				t.Fatalf("FromImage: %v is not ErrBadImage", err)
			}
			return
		}
		for _, c := range []Caps{CapFPU, CapINS, CapCPU, CapAll} {
			err := Check(e, host, c)
			var m *Mismatch
			if err != nil && !errors.Is(err, ErrBadImage) && !errors.As(err, &m) {
				t.Fatalf("Check %v: %v is neither ErrBadImage nor a Mismatch", c, err)
			}
		}
	})
}

// FuzzParseCaps: any --cpu-cap argument is a set of the three checks or
// ErrBadCaps.
func FuzzParseCaps(f *testing.F) {
	for _, s := range []string{"", "fpu", "^ins", "fpu,^ins", "none", "^none", "cpuall", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseCaps(s)
		if err != nil && !errors.Is(err, ErrBadCaps) {
			t.Fatal(err)
		}
		if c&^CapAll != 0 {
			t.Fatalf("ParseCaps(%q) = %#x", s, uint(c))
		}
	})
}
