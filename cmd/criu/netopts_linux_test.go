package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/criugo/criugo/internal/testutil"
)

// TestEmptyNetNs: criu dump --empty-ns net records nothing of the tree's
// network namespace (no netdev image) where a dump without it records its
// links; both leave the netns program running, and it passes.
func TestEmptyNetNs(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.LockFixtures(t)
	prog := testutil.BuildProgram(t, "netns")
	work := t.TempDir()
	pid := testutil.StartProgram(t, prog, work)
	for _, c := range []struct {
		dir    string
		args   []string
		netdev bool
	}{
		{"full", nil, true},
		{"empty", []string{"--empty-ns", "net"}, false},
	} {
		dir := filepath.Join(work, c.dir)
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		args := append([]string{"criu", "dump", "-t", strconv.Itoa(pid), "-D", dir, "-R", "--tcp-established"}, c.args...)
		if _, err := run(args, &bytes.Buffer{}, &bytes.Buffer{}); err != nil {
			t.Fatalf("%q: %v", args, err)
		}
		m, _ := filepath.Glob(filepath.Join(dir, "netdev-*.img"))
		if (len(m) > 0) != c.netdev {
			t.Errorf("%q: netdev images %q, want some: %v", args, m, c.netdev)
		}
	}
	if v := testutil.Verdict(t, pid, work); v != "PASS" {
		t.Errorf("program after the dumps: %s", v)
	}
}
