package restore

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/criugo/criugo/images"
	"github.com/criugo/criugo/pkg/image"
)

// pagemapPages counts the present pages of the tasks' pagemaps in dir
// (pagemap-<pid>.img; shared memory's are not a task's).
func pagemapPages(t *testing.T, dir string) uint64 {
	t.Helper()
	names, err := image.ListDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var n uint64
	for _, name := range names {
		if image.KindForFile(name) != image.Pagemap {
			continue
		}
		img, err := image.ReadFile(dir, name)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range img.Entries[1:] {
			pe := e.Msg.(*images.PagemapEntry)
			if pe.GetFlags()&images.PePresent == 0 {
				continue
			}
			nr, err := image.PagemapNrPages(pe)
			if err != nil {
				t.Fatal(err)
			}
			n += nr
		}
	}
	return n
}

// readStats reads stats-restore back from dir.
func readStats(t *testing.T, dir string) *images.RestoreStatsEntry {
	t.Helper()
	img, err := image.ReadFile(dir, "stats-restore")
	if err != nil {
		t.Fatal(err)
	}
	if len(img.Entries) != 1 {
		t.Fatalf("stats-restore has %d entries", len(img.Entries))
	}
	se := img.Entries[0].Msg.(*images.StatsEntry)
	if se.Dump != nil || se.Restore == nil {
		t.Fatalf("stats-restore: %v, want the restore part alone", se)
	}
	return se.Restore
}

// TestRestoreStats restores sets with children, a zombie, threads and
// shared memory from a directory and checks what stats-restore says.
func TestRestoreStats(t *testing.T) {
	for _, name := range []string{"state", "tree"} {
		t.Run(name, func(t *testing.T) {
			dir := fixtureSet(t, name)
			var warnings []error
			res, err := Restore(context.Background(), Options{Dir: dir, Detach: true, Warn: func(err error) { warnings = append(warnings, err) }})
			if err != nil {
				t.Fatal(err)
			}
			defer killTree(t, res)
			if len(warnings) > 0 {
				t.Errorf("warnings: %v", warnings)
			}
			st := readStats(t, dir)
			t.Logf("stats-restore: %v", st)
			if st.PagesRestored == nil {
				t.Error("pages_restored is not set")
			}
			// As CRIU counts them: a page of a child found equal to what
			// it holds from its parent is skipped, not restored.
			if want := pagemapPages(t, dir); st.GetPagesRestored()+st.GetPagesSkippedCow() != want {
				t.Errorf("pages_restored %d + pages_skipped_cow %d, want %d (the present pages of the tasks' pagemaps)", st.GetPagesRestored(), st.GetPagesSkippedCow(), want)
			}
			if st.GetPagesSkippedCow() > st.GetPagesCompared() {
				t.Errorf("pages compared %d, skipped COW %d: more skipped than compared", st.GetPagesCompared(), st.GetPagesSkippedCow())
			}
			// The tree's children were forked without exec: they share
			// pages with their parent.
			if name == "tree" && st.GetPagesSkippedCow() == 0 {
				t.Errorf("pages compared %d, skipped COW %d: the children share no page with their parent", st.GetPagesCompared(), st.GetPagesSkippedCow())
			}
			if st.GetForkingTime() == 0 || st.GetRestoreTime() < st.GetForkingTime() {
				t.Errorf("forking_time %d us, restore_time %d us: want 0 < forking <= restore", st.GetForkingTime(), st.GetRestoreTime())
			}
			// The steps up to the tree's release took restore_time, give
			// or take the clock reads in between.
			var steps int64
			for _, tm := range res.Timings {
				steps += tm.Took.Microseconds()
			}
			if r := int64(st.GetRestoreTime()); r > steps+1000 || r < steps-1000 {
				t.Errorf("restore_time %d us, but the steps took %d us", r, steps)
			}
			fi, err := os.Stat(filepath.Join(dir, "stats-restore"))
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != 0o600 {
				t.Errorf("stats-restore mode %v, want 0600", fi.Mode().Perm())
			}
			ents, _ := os.ReadDir(dir)
			for _, e := range ents {
				if strings.HasPrefix(e.Name(), ".") {
					t.Errorf("temporary file %s left in the image directory", e.Name())
				}
			}
		})
	}
}

// TestRestoreStatsUnwritable: a stats-restore that cannot be written once
// the tree runs is a warning; the restore succeeds and the tree runs.
func TestRestoreStatsUnwritable(t *testing.T) {
	dir := fixtureSet(t, "loop")
	// A non-empty directory under the name: the rename over it fails.
	if err := os.MkdirAll(filepath.Join(dir, "stats-restore", "x"), 0o700); err != nil {
		t.Fatal(err)
	}
	var warnings []error
	res, err := Restore(context.Background(), Options{Dir: dir, Detach: true, Warn: func(err error) { warnings = append(warnings, err) }})
	if err != nil {
		t.Fatalf("restore failed for stats-restore: %v", err)
	}
	defer killTree(t, res)
	if len(warnings) != 1 || !strings.Contains(warnings[0].Error(), "write stats-restore") {
		t.Errorf("warnings %v, want one about stats-restore", warnings)
	}
	if err := unix.Kill(res.Root, 0); err != nil {
		t.Errorf("the tree is not running: %v", err)
	}
}
