package crit

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/criugo/criugo/internal/testutil"
)

// fixturePair is one fixture image and the JSON CRIU 4.2's crit printed for it.
type fixturePair struct {
	name string // "<tree>/<set>/<file>"
	img  string
	json string
}

// fixturePairs lists the image/JSON pairs of one fixture tree
// ("criu-4.2" or "criu-4.2-zoo"). Raw images have no JSON and are left out.
func fixturePairs(t *testing.T, tree string) []fixturePair {
	t.Helper()
	base := filepath.Join(testutil.FixturesDir(t), tree)
	sets, err := os.ReadDir(filepath.Join(base, "images"))
	if err != nil {
		t.Fatalf("fixture tree %s: %v", tree, err)
	}
	var pairs []fixturePair
	for _, set := range sets {
		if !set.IsDir() {
			continue
		}
		files, err := os.ReadDir(filepath.Join(base, "images", set.Name()))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			j := filepath.Join(base, "json", set.Name(), f.Name()+".json")
			if _, err := os.Stat(j); err != nil {
				continue
			}
			pairs = append(pairs, fixturePair{
				name: tree + "/" + set.Name() + "/" + f.Name(),
				img:  filepath.Join(base, "images", set.Name(), f.Name()),
				json: j,
			})
		}
	}
	return pairs
}

func readFile(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// decodeFile is crit decode [--pretty] -i FILE to stdout.
func decodeFile(t *testing.T, name string, pretty bool) []byte {
	t.Helper()
	var out bytes.Buffer
	if err := Decode(DecodeOptions{In: name, Pretty: pretty, Stdout: &out}); err != nil {
		t.Fatalf("decode %s: %v", name, err)
	}
	return out.Bytes()
}

func firstLineDiff(a, b []byte) string {
	al, bl := strings.Split(string(a), "\n"), strings.Split(string(b), "\n")
	for i := 0; i < len(al) && i < len(bl); i++ {
		if al[i] != bl[i] {
			return "line " + strconv.Itoa(i+1) + ":\n got  " + al[i] + "\n want " + bl[i]
		}
	}
	return "lengths differ: got " + strconv.Itoa(len(al)) + " lines, want " + strconv.Itoa(len(bl))
}

// TestDecodeGolden: our decode --pretty prints byte for byte what CRIU 4.2's
// crit printed for every fixture image, and the same JSON value.
func TestDecodeGolden(t *testing.T) {
	for _, tree := range []struct {
		name string
		min  int
	}{{"criu-4.2", 40}, {"criu-4.2-zoo", 680}} {
		pairs := fixturePairs(t, tree.name)
		if len(pairs) < tree.min {
			t.Fatalf("%s: %d image/JSON pairs, expected at least %d", tree.name, len(pairs), tree.min)
		}
		t.Logf("%s: %d images", tree.name, len(pairs))
		for _, p := range pairs {
			got := decodeFile(t, p.img, true)
			want := readFile(t, p.json)
			if !bytes.Equal(got, want) {
				t.Errorf("%s: output differs from crit's, %s", p.name, firstLineDiff(got, want))
				continue
			}
			var gv, wv any
			if err := json.Unmarshal(got, &gv); err != nil {
				t.Errorf("%s: our output is not JSON: %v", p.name, err)
			} else if err := json.Unmarshal(want, &wv); err != nil || !reflect.DeepEqual(gv, wv) {
				t.Errorf("%s: JSON values differ", p.name)
			}
		}
	}
}

// TestRoundTripGolden: encoding crit's JSON, and encoding our own decode
// (pretty and plain), gives back the image byte for byte.
func TestRoundTripGolden(t *testing.T) {
	for _, tree := range []string{"criu-4.2", "criu-4.2-zoo"} {
		for _, p := range fixturePairs(t, tree) {
			orig := readFile(t, p.img)
			for _, src := range []struct {
				what string
				json []byte
			}{
				{"crit's JSON", readFile(t, p.json)},
				{"our plain JSON", decodeFile(t, p.img, false)},
			} {
				got, err := EncodeJSON(src.json)
				if err != nil {
					t.Errorf("%s: encode %s: %v", p.name, src.what, err)
					continue
				}
				if !bytes.Equal(got, orig) {
					t.Errorf("%s: encode of %s differs from the image (%d vs %d bytes)", p.name, src.what, len(got), len(orig))
				}
			}
		}
	}
}
