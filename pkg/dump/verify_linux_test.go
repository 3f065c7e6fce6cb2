package dump

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// The last guard before a kill: a set Options.Verify refuses (as
// criu-parasite's restore.Check refuses what criu-restore would) fails
// the dump, and the tree runs on. Verify sees the complete set.
func TestDumpVerifyRefusal(t *testing.T) {
	p := startProgram(t, "state")
	in := seizeStream(t, p.pid)
	dir := filepath.Join(t.TempDir(), "images")
	refused := errors.New("this set would not restore")
	var sawPstree bool
	err := Dump(context.Background(), Options{Stdin: bytes.NewReader(in), Dir: dir, Verify: func(d string) error {
		_, err := os.Stat(filepath.Join(d, "stats-dump"))
		sawPstree = d == dir && err == nil
		return refused
	}})
	if !errors.Is(err, refused) {
		t.Fatalf("dump with a refusing Verify: %v", err)
	}
	if !sawPstree {
		t.Error("Verify did not see the complete set in the image directory")
	}
	runsOn(t, p)
}
