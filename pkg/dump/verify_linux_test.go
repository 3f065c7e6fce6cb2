package dump

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
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
	_, err := Dump(context.Background(), Options{Stdin: bytes.NewReader(in), Dir: dir, Verify: func(d string) error {
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

// The guard holds for a stream too: Verify sees the stream's images in a
// directory of its own, and the tree runs on when it refuses.
func TestDumpVerifyRefusalStream(t *testing.T) {
	p := startProgram(t, "state")
	in := seizeStream(t, p.pid)
	refused := errors.New("this set would not restore")
	var saw []string
	var out bytes.Buffer
	_, err := Dump(context.Background(), Options{Stdin: bytes.NewReader(in), Stdout: &out, Verify: func(d string) error {
		ents, _ := os.ReadDir(d)
		for _, e := range ents {
			saw = append(saw, e.Name())
		}
		return refused
	}})
	if !errors.Is(err, refused) {
		t.Fatalf("dump with a refusing Verify: %v", err)
	}
	have := map[string]bool{}
	for _, n := range saw {
		have[n] = true
	}
	for _, n := range []string{"inventory.img", "pstree.img", "core-" + strconv.Itoa(p.pid) + ".img", "pages-1.img"} {
		if !have[n] {
			t.Errorf("Verify's directory lacks %s (has %v)", n, saw)
		}
	}
	runsOn(t, p)
}

// PostDump comes with the set complete and the tree frozen; a failure
// there (a post-dump notification answered with an error) fails the dump
// and the tree runs on.
func TestDumpPostDumpFails(t *testing.T) {
	p := startProgram(t, "state")
	in := seizeStream(t, p.pid)
	dir := filepath.Join(t.TempDir(), "images")
	refused := errors.New("post-dump refused")
	frozen := false
	_, err := Dump(context.Background(), Options{Stdin: bytes.NewReader(in), Dir: dir, PostDump: func() error {
		st := procState(t, p.pid)
		frozen = st == 't' || st == 'T'
		return refused
	}})
	if !errors.Is(err, refused) {
		t.Fatalf("dump with a failing PostDump: %v", err)
	}
	if !frozen {
		t.Error("the tree was not frozen when PostDump ran")
	}
	runsOn(t, p)
}
