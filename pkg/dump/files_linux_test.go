package dump

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

// TestDumpGhostLimit dumps ghost with a deleted file of 2 MiB of data:
// over the default ghost limit the dump is refused, naming the file and
// the limit, and the program runs on; with a limit of 3 MiB it is dumped.
func TestDumpGhostLimit(t *testing.T) {
	p := testProgramIn(t, "ghost", "env", "GHOST_BIG=1")
	imgs := filepath.Join(t.TempDir(), "img")
	seizeDir(t, p.pid, imgs)
	_, err := Dump(context.Background(), Options{Dir: imgs})
	if !errors.Is(err, ErrNotSupported) || !strings.Contains(err.Error(), "ghost.big") ||
		!strings.Contains(err.Error(), "over the ghost limit of 1048576") {
		t.Fatalf("dump: %v, want ghost.big refused over the ghost limit", err)
	}
	t.Log(err)
	imgs = filepath.Join(t.TempDir(), "img")
	seizeDir(t, p.pid, imgs)
	limit, err := ParseSize("3M")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Dump(context.Background(), Options{Dir: imgs, GhostLimit: limit, LeaveRunning: true}); err != nil {
		t.Fatalf("dump with --ghost-limit 3M: %v", err)
	}
	if got := p.finishRepeat(t); got != "PASS" {
		t.Errorf("after the dumps: %s", got)
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]uint64{"0": 0, "4096": 4096, "1K": 1 << 10, "3M": 3 << 20, "2G": 2 << 30} {
		if got, err := ParseSize(in); err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "M", "1T", "-1", "1.5M", "99999999999999999999G"} {
		if _, err := ParseSize(in); !errors.Is(err, ErrOptions) {
			t.Errorf("ParseSize(%q): %v, want ErrOptions", in, err)
		}
	}
}

// TestDumpLinkRemapRefused dumps linkremap without LinkRemap: its
// deleted files are still linked elsewhere, so the dump is refused, as
// CRIU refuses it, naming the file and the option; no link is left and
// the program runs on. With LinkRemap and LeaveRunning the dump succeeds
// and removes the links it made.
func TestDumpLinkRemapRefused(t *testing.T) {
	p := testProgram(t, "linkremap")
	imgs := filepath.Join(t.TempDir(), "img")
	seizeDir(t, p.pid, imgs)
	_, err := Dump(context.Background(), Options{Dir: imgs})
	if !errors.Is(err, ErrNotSupported) || !strings.Contains(err.Error(), "linkremap.") ||
		!strings.Contains(err.Error(), "--link-remap") {
		t.Fatalf("dump: %v, want the deleted file refused without --link-remap", err)
	}
	t.Log(err)
	imgs = filepath.Join(t.TempDir(), "img")
	seizeDir(t, p.pid, imgs)
	if _, err := Dump(context.Background(), Options{Dir: imgs, LinkRemap: true, LeaveRunning: true}); err != nil {
		t.Fatalf("dump with --link-remap: %v", err)
	}
	if got := p.finishRepeat(t); got != "PASS" {
		t.Errorf("after the dumps: %s", got)
	}
}

// TestDumpSharedFsRefused dumps sharedfs with a child made with
// clone(CLONE_FS): the restore cannot share an fs again, so the dump is
// refused, as CRIU refuses it, and the program runs on.
func TestDumpSharedFsRefused(t *testing.T) {
	p := testProgramIn(t, "sharedfs", "env", "SHAREDFS_CLONE=FS")
	imgs := filepath.Join(t.TempDir(), "img")
	seizeDir(t, p.pid, imgs)
	_, err := Dump(context.Background(), Options{Dir: imgs})
	if !errors.Is(err, ErrNotSupported) || !strings.Contains(err.Error(), "CLONE_FS") {
		t.Fatalf("dump: %v, want the shared fs refused", err)
	}
	t.Log(err)
	if got := p.finishRepeat(t); got != "PASS" {
		t.Errorf("after the refused dump: %s", got)
	}
}
