package image

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/criugo/criugo/images"
)

func TestDirFiles(t *testing.T) {
	dir := t.TempDir()
	img := &Image{Kind: Pstree, Entries: []Entry{{Msg: &images.PstreeEntry{Pid: proto.Uint32(42), Ppid: proto.Uint32(0), Pgid: proto.Uint32(42), Sid: proto.Uint32(42)}}}}
	if err := WriteFile(dir, "pstree.img", img); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(filepath.Join(dir, "pstree.img"))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", st.Mode().Perm())
	}
	got, err := ReadFile(dir, "pstree.img")
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(got.Entries[0].Msg, img.Entries[0].Msg) {
		t.Errorf("read back %v", got.Entries[0].Msg)
	}
	if err := WriteFile(dir, "pstree.img", img); !errors.Is(err, os.ErrExist) {
		t.Errorf("second WriteFile: got %v, want ErrExist", err)
	}
	// A refused image leaves no file behind.
	bad := &Image{Kind: Core, Entries: []Entry{{Msg: &images.PstreeEntry{}}}}
	if err := WriteFile(dir, "core-1.img", bad); !errors.Is(err, ErrBadEntry) {
		t.Errorf("bad image: %v", err)
	}
	if _, err := os.Lstat(filepath.Join(dir, "core-1.img")); !os.IsNotExist(err) {
		t.Errorf("partial file left behind: %v", err)
	}
	for _, name := range []string{"", ".", "..", "../pstree.img", "a/b.img"} {
		if _, err := CreateFile(dir, name); !errors.Is(err, ErrBadName) {
			t.Errorf("CreateFile(%q): %v", name, err)
		}
		if _, err := OpenFile(dir, name); !errors.Is(err, ErrBadName) {
			t.Errorf("OpenFile(%q): %v", name, err)
		}
	}
}

func TestDirRefusesSymlinks(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(t.TempDir(), "target")
	if err := os.WriteFile(target, []byte("secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, filepath.Join(dir, "core-1.img")); err != nil {
		t.Skipf("no symlinks here: %v", err)
	}
	if _, err := OpenFile(dir, "core-1.img"); !errors.Is(err, ErrNotRegular) {
		t.Errorf("OpenFile through symlink: got %v, want ErrNotRegular", err)
	}
	if _, err := CreateFile(dir, "core-1.img"); err == nil {
		t.Error("CreateFile over a symlink succeeded")
	}
	if b, _ := os.ReadFile(target); string(b) != "secret" {
		t.Error("symlink target was written")
	}
	// A dangling symlink: O_EXCL must not create its target.
	dangling := filepath.Join(t.TempDir(), "created-through-link")
	if err := os.Symlink(dangling, filepath.Join(dir, "mm-1.img")); err != nil {
		t.Fatal(err)
	}
	if _, err := CreateFile(dir, "mm-1.img"); err == nil {
		t.Error("CreateFile over a dangling symlink succeeded")
	}
	if _, err := os.Lstat(dangling); !os.IsNotExist(err) {
		t.Error("CreateFile created the dangling symlink's target")
	}
	if _, err := ListDir(dir); !errors.Is(err, ErrNotRegular) {
		t.Errorf("ListDir with a symlinked image: got %v, want ErrNotRegular", err)
	}
}

func TestListDir(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"pstree.img", "dump.log", "core-1.img", "pages-1.img", "inventory.img"} {
		if err := os.WriteFile(filepath.Join(dir, n), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	names, err := ListDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"core-1.img", "inventory.img", "pages-1.img", "pstree.img"}
	if !slicesEqual(names, want) {
		t.Errorf("ListDir = %v, want %v", names, want)
	}
}

func statsImage(restored uint64) *Image {
	return &Image{Kind: Stats, Entries: []Entry{{Msg: &images.StatsEntry{Restore: &images.RestoreStatsEntry{
		PagesCompared: proto.Uint64(0), PagesSkippedCow: proto.Uint64(0),
		ForkingTime: proto.Uint32(1), RestoreTime: proto.Uint32(2), PagesRestored: proto.Uint64(restored),
	}}}}}
}

// readRestored reads pages_restored back from stats-restore in dir.
func readRestored(t *testing.T, dir string) uint64 {
	t.Helper()
	img, err := ReadFile(dir, "stats-restore")
	if err != nil {
		t.Fatal(err)
	}
	return img.Entries[0].Msg.(*images.StatsEntry).GetRestore().GetPagesRestored()
}

// onlyFiles fails unless dir holds exactly names (no temporary file left).
func onlyFiles(t *testing.T, dir string, names ...string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range ents {
		got = append(got, e.Name())
	}
	if len(got) != len(names) {
		t.Fatalf("%s holds %q, want %q", dir, got, names)
	}
	for i := range names {
		if got[i] != names[i] {
			t.Fatalf("%s holds %q, want %q", dir, got, names)
		}
	}
}

func TestReplaceFile(t *testing.T) {
	dir := t.TempDir()
	if err := ReplaceFile(dir, "stats-restore", statsImage(7)); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(filepath.Join(dir, "stats-restore"))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", st.Mode().Perm())
	}
	if got := readRestored(t, dir); got != 7 {
		t.Errorf("pages_restored %d, want 7", got)
	}
	// A second write replaces the first.
	if err := ReplaceFile(dir, "stats-restore", statsImage(9)); err != nil {
		t.Fatal(err)
	}
	if got := readRestored(t, dir); got != 9 {
		t.Errorf("after replacing: pages_restored %d, want 9", got)
	}
	onlyFiles(t, dir, "stats-restore")

	// A refused image leaves the old file as it was and no temporary.
	bad := &Image{Kind: Stats, Entries: []Entry{{Msg: &images.PstreeEntry{}}}}
	if err := ReplaceFile(dir, "stats-restore", bad); !errors.Is(err, ErrBadEntry) {
		t.Errorf("bad image: %v", err)
	}
	if got := readRestored(t, dir); got != 9 {
		t.Errorf("after a failed replace: pages_restored %d, want 9", got)
	}
	onlyFiles(t, dir, "stats-restore")

	for _, name := range []string{"", ".", "..", "../stats-restore", "a/b"} {
		if err := ReplaceFile(dir, name, statsImage(1)); !errors.Is(err, ErrBadName) {
			t.Errorf("ReplaceFile(%q): %v", name, err)
		}
	}
}

func TestReplaceFileSymlinkAndDir(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(t.TempDir(), "target")
	if err := os.WriteFile(target, []byte("secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, filepath.Join(dir, "stats-restore")); err != nil {
		t.Skipf("no symlinks here: %v", err)
	}
	// The symlink itself is replaced; its target is never written.
	if err := ReplaceFile(dir, "stats-restore", statsImage(3)); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(target); string(b) != "secret" {
		t.Error("symlink target was written")
	}
	if got := readRestored(t, dir); got != 3 {
		t.Errorf("pages_restored %d, want 3", got)
	}
	// A directory in the way is an error that leaves nothing behind.
	other := t.TempDir()
	if err := os.MkdirAll(filepath.Join(other, "stats-restore", "x"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := ReplaceFile(other, "stats-restore", statsImage(3)); err == nil {
		t.Error("ReplaceFile over a directory succeeded")
	}
	onlyFiles(t, other, "stats-restore")
}
