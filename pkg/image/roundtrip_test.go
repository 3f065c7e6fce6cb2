package image

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/criugo/criugo/internal/testutil"
)

// TestRoundTripFixtures decodes every image CRIU 4.2 wrote in both fixture
// trees and encodes it again: the bytes must come back identical.
func TestRoundTripFixtures(t *testing.T) {
	seen := map[string]int{}
	total := 0
	for _, set := range testutil.ImageSets(t) {
		ents, err := os.ReadDir(set)
		if err != nil {
			t.Fatal(err)
		}
		for _, de := range ents {
			name := de.Name()
			k := KindForFile(name)
			if k == nil {
				t.Errorf("%s/%s: no kind for this file name", filepath.Base(set), name)
				continue
			}
			if k.Raw() {
				continue
			}
			p := filepath.Join(set, name)
			data, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			img, err := ReadImage(bytes.NewReader(data), name)
			if err != nil {
				t.Errorf("%s: %v", p, err)
				continue
			}
			var out bytes.Buffer
			if err := WriteImage(&out, img); err != nil {
				t.Errorf("%s: re-encode: %v", p, err)
				continue
			}
			if !bytes.Equal(out.Bytes(), data) {
				t.Errorf("%s: re-encoded %d bytes differ from the %d read (first difference at %d)",
					p, out.Len(), len(data), firstDiff(out.Bytes(), data))
				continue
			}
			seen[img.Kind.Name]++
			total++
		}
	}
	t.Logf("%d images of %d kinds round-tripped byte for byte", total, len(seen))
	if total < 680 {
		t.Errorf("only %d images round-tripped; the fixtures hold over 680", total)
	}
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}
