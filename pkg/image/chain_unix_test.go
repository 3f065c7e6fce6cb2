//go:build unix

package image

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// mkChain makes directories names under a new temporary directory and
// links each to the next with a relative parent link, as CRIU's
// --prev-images-dir=../<name> does.
func mkChain(t *testing.T, names ...string) string {
	t.Helper()
	root := t.TempDir()
	for i, n := range names {
		if err := os.Mkdir(filepath.Join(root, n), 0o700); err != nil {
			t.Fatal(err)
		}
		if i > 0 {
			if err := os.Symlink("../"+n, filepath.Join(root, names[i-1], ParentLink)); err != nil {
				t.Fatal(err)
			}
		}
	}
	root, err := filepath.EvalSymlinks(root)
	if err != nil {
		t.Fatal(err)
	}
	return root
}

func TestChainFollowsRelativeLinks(t *testing.T) {
	root := mkChain(t, "d3", "d2", "d1")
	got, err := Chain(filepath.Join(root, "d3"))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{filepath.Join(root, "d3"), filepath.Join(root, "d2"), filepath.Join(root, "d1")}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("chain %v, want %v", got, want)
	}
	// Files are read through the followed link, never through a link in
	// the parent itself.
	if err := os.WriteFile(filepath.Join(root, "d1", "core-1.img"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("core-1.img", filepath.Join(root, "d2", "core-1.img")); err != nil {
		t.Fatal(err)
	}
	p, err := ParentDir(filepath.Join(root, "d3"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := OpenFile(p, "core-1.img"); !errors.Is(err, ErrNotRegular) {
		t.Errorf("open a symlink in a parent: %v, want ErrNotRegular", err)
	}
	if _, err := ParentDir(filepath.Join(root, "d1")); !errors.Is(err, ErrNoParent) {
		t.Errorf("parent of the chain's end: %v, want ErrNoParent", err)
	}
}

func TestChainErrors(t *testing.T) {
	t.Run("dangling", func(t *testing.T) {
		root := mkChain(t, "d2", "d1")
		if err := os.Remove(filepath.Join(root, "d1")); err != nil {
			t.Fatal(err)
		}
		_, err := Chain(filepath.Join(root, "d2"))
		if !errors.Is(err, ErrParentMissing) || !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("got %v, want ErrParentMissing and fs.ErrNotExist", err)
		}
	})
	t.Run("file", func(t *testing.T) {
		root := mkChain(t, "d2")
		if err := os.WriteFile(filepath.Join(root, "d2", ParentLink), nil, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := Chain(filepath.Join(root, "d2")); !errors.Is(err, ErrParentMissing) {
			t.Errorf("got %v, want ErrParentMissing", err)
		}
	})
	t.Run("loop", func(t *testing.T) {
		root := mkChain(t, "d3", "d2", "d1")
		if err := os.Symlink("../d3", filepath.Join(root, "d1", ParentLink)); err != nil {
			t.Fatal(err)
		}
		_, err := Chain(filepath.Join(root, "d3"))
		if !errors.Is(err, ErrChainLoop) {
			t.Fatalf("got %v, want ErrChainLoop", err)
		}
		want := strings.Join([]string{"d3", "d2", "d1", "d3"}, " -> "+root+"/")
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q does not name the chain %q", err, want)
		}
	})
	t.Run("self", func(t *testing.T) {
		root := mkChain(t, "d1")
		if err := os.Symlink(".", filepath.Join(root, "d1", ParentLink)); err != nil {
			t.Fatal(err)
		}
		if _, err := Chain(filepath.Join(root, "d1")); !errors.Is(err, ErrChainLoop) {
			t.Errorf("got %v, want ErrChainLoop", err)
		}
	})
	t.Run("deep", func(t *testing.T) {
		names := make([]string, MaxChainDepth+2)
		for i := range names {
			names[i] = "d" + strings.Repeat("x", i)
		}
		root := mkChain(t, names...)
		if _, err := Chain(filepath.Join(root, names[0])); !errors.Is(err, ErrChainTooDeep) {
			t.Errorf("got %v, want ErrChainTooDeep", err)
		}
		if got, err := Chain(filepath.Join(root, names[1])); err != nil || len(got) != MaxChainDepth+1 {
			t.Errorf("chain of %d parents: %d dirs, %v", MaxChainDepth, len(got), err)
		}
	})
}
