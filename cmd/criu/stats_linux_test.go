package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/criugo/criugo/images"
	"github.com/criugo/criugo/internal/testutil"
	"github.com/criugo/criugo/pkg/image"
)

// TestDisplayStats: criu dump and criu restore -d with --display-stats
// print CRIU's stats lines on standard output, with the numbers of the
// stats images they wrote.
func TestDisplayStats(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.LockFixtures(t)
	prog := testutil.BuildProgram(t, "loop")
	work := t.TempDir()
	pid := testutil.StartProgram(t, prog, work)
	dir := filepath.Join(work, "images")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	stats := func(which string) *images.StatsEntry {
		t.Helper()
		img, err := image.ReadFile(dir, image.Stats.FileName(which))
		if err != nil || len(img.Entries) != 1 {
			t.Fatalf("stats-%s: %v", which, err)
		}
		return img.Entries[0].Msg.(*images.StatsEntry)
	}
	var out bytes.Buffer
	if _, err := run([]string{"criu", "dump", "-t", strconv.Itoa(pid), "-D", dir, "--display-stats"}, &out, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	testutil.WaitGone(t, []int{pid})
	d := stats("dump").GetDump()
	for _, line := range []string{
		"Displaying dump stats:\n",
		fmt.Sprintf("Frozen time: %d us\n", d.GetFrozenTime()),
		fmt.Sprintf("Memory pages written: %d (%#x)\n", d.GetPagesWritten(), d.GetPagesWritten()),
	} {
		if !strings.Contains(out.String(), line) {
			t.Errorf("dump's output lacks %q:\n%s", line, out.String())
		}
	}
	out.Reset()
	if _, err := run([]string{"criu", "restore", "-d", "-D", dir, "--display-stats"}, &out, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	r := stats("restore").GetRestore()
	for _, line := range []string{
		"Displaying restore stats:\n",
		fmt.Sprintf("Pages restored: %d (%#x)\n", r.GetPagesRestored(), r.GetPagesRestored()),
		fmt.Sprintf("Forking time: %d us\n", r.GetForkingTime()),
	} {
		if !strings.Contains(out.String(), line) {
			t.Errorf("restore's output lacks %q:\n%s", line, out.String())
		}
	}
	if v := testutil.Verdict(t, pid, work); v != "PASS" {
		t.Errorf("restored program: %s", v)
	}
}
