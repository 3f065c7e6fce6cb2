package imgtool

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/criugo/criugo/images"
	"github.com/criugo/criugo/internal/testutil"
	"github.com/criugo/criugo/pkg/image"
)

// chainOfLoop copies the loop fixture set n times into one directory
// (d1 ... dn) and makes each later copy an incremental dump of the one
// before with every page in the parent, linked ../d<i-1>.
func chainOfLoop(t *testing.T, n int) []string {
	t.Helper()
	src := fixtureSet(t, "loop")
	root := t.TempDir()
	var dirs []string
	for i := 1; i <= n; i++ {
		d := filepath.Join(root, "d"+string(rune('0'+i)))
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
		testutil.CopyDirTo(t, src, d)
		if i > 1 {
			setPagemap(t, d, "pagemap-16226.img", images.PeParent)
			if err := os.Symlink("../"+filepath.Base(dirs[i-2]), filepath.Join(d, image.ParentLink)); err != nil {
				t.Fatal(err)
			}
		}
		dirs = append(dirs, d)
	}
	return dirs
}

// setPagemap gives every present entry of a pagemap the flags given and
// empties its pages file: the pages are in the parent (PE_PARENT) or
// nowhere.
func setPagemap(t *testing.T, dir, name string, flags uint32) {
	t.Helper()
	img, err := image.ReadFile(dir, name)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range img.Entries[1:] {
		pe := e.Msg.(*images.PagemapEntry)
		if pe.GetFlags()&images.PePresent != 0 {
			pe.Flags = proto.Uint32(flags)
		}
	}
	id, _ := image.PagemapPagesID(img.Entries[0].Msg)
	os.Remove(filepath.Join(dir, name))
	if err := image.WriteFile(dir, name, img); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(filepath.Join(dir, image.Pages.FileName(uint32(id))), 0); err != nil {
		t.Fatal(err)
	}
}

func verifyDir(t *testing.T, dir string) string {
	t.Helper()
	s, err := LoadDir(dir, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, p := range Verify(s) {
		b.WriteString(p.String() + "\n")
	}
	return b.String()
}

func TestVerifyChain(t *testing.T) {
	for _, n := range []int{2, 3} {
		dirs := chainOfLoop(t, n)
		if got := verifyDir(t, dirs[n-1]); got != "" {
			t.Errorf("chain of %d: %s", n, got)
		}
	}
	for _, tc := range []struct {
		name   string
		break_ func(t *testing.T, dirs []string)
		says   string
	}{
		{"no parent link", func(t *testing.T, dirs []string) {
			os.Remove(filepath.Join(dirs[1], image.ParentLink))
		}, "has no parent"},
		{"dangling", func(t *testing.T, dirs []string) {
			os.Rename(dirs[0], dirs[0]+".gone")
		}, "parent image directory missing"},
		{"loop", func(t *testing.T, dirs []string) {
			os.Symlink("../d3", filepath.Join(dirs[0], image.ParentLink))
		}, "parent chain loops"},
		{"parent pagemap missing", func(t *testing.T, dirs []string) {
			os.Remove(filepath.Join(dirs[0], "pagemap-16226.img"))
		}, "d1/pagemap-16226.img is missing"},
		{"parent does not cover", func(t *testing.T, dirs []string) {
			setPagemap(t, dirs[0], "pagemap-16226.img", images.PeLazy)
		}, "d1/pagemap-16226.img does not hold the page"},
		{"parent pages short", func(t *testing.T, dirs []string) {
			os.Truncate(filepath.Join(dirs[0], "pages-1.img"), 4096)
		}, "d1/pages-1.img: holds 4096 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dirs := chainOfLoop(t, 3)
			tc.break_(t, dirs)
			got := verifyDir(t, dirs[2])
			if !strings.Contains(got, tc.says) {
				t.Errorf("problems do not say %q:\n%s", tc.says, got)
			}
		})
	}
	t.Run("stream", func(t *testing.T) {
		dirs := chainOfLoop(t, 2)
		var b bytes.Buffer
		if err := image.PackDir(dirs[1], &b, false); err != nil {
			t.Fatal(err)
		}
		s, err := LoadStream(&b, LoadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		ps := Verify(s)
		if len(ps) != 1 || !strings.Contains(ps[0].String(), "a stream has no parent") {
			t.Errorf("problems %v, want one saying a stream has no parent", ps)
		}
	})
}
