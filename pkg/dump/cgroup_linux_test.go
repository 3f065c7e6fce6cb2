package dump

import (
	"testing"
)

// TestCgTree checks CRIU's dir_name convention: heads without their
// leading "/", the root head as "", children by their own names.
func TestCgTree(t *testing.T) {
	dirs := map[string]*cgDir{}
	for _, p := range []string{"/a/b", "/a/b/c", "/a/b/c/d", "/a/b-x", "/q"} {
		dirs[p] = &cgDir{path: p}
	}
	heads := cgTree(dirs)
	var got []string
	for _, h := range heads {
		got = append(got, h.GetDirName())
		for _, c := range h.GetChildren() {
			got = append(got, h.GetDirName()+">"+c.GetDirName())
			for _, g := range c.GetChildren() {
				got = append(got, c.GetDirName()+">"+g.GetDirName())
			}
		}
	}
	want := []string{"a/b", "a/b>c", "c>d", "a/b-x", "q"}
	if len(got) != len(want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("got %q, want %q", got, want)
		}
	}
	root := cgTree(map[string]*cgDir{"/": {path: "/"}, "/x": {path: "/x"}})
	if len(root) != 1 || root[0].GetDirName() != "" || len(root[0].GetChildren()) != 1 || root[0].GetChildren()[0].GetDirName() != "x" {
		t.Fatalf("root tree: %v", root)
	}
}
