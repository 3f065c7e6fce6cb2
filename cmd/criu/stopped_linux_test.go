package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/criugo/criugo/internal/testutil"
)

// waitStopped waits until pid is in state T (stopped), failing after 5 s.
func waitStopped(t *testing.T, pid int) {
	t.Helper()
	var st string
	for start := time.Now(); time.Since(start) < 5*time.Second; time.Sleep(10 * time.Millisecond) {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil {
			t.Fatal(err)
		}
		f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
		if st = f[0]; st == "T" {
			return
		}
	}
	t.Fatalf("pid %d in state %s, not stopped", pid, st)
}

// TestLeaveStopped: criu dump -s leaves the tree alive and stopped (not
// killed), criu restore -d -s leaves the restored tree stopped; each runs
// on after SIGCONT, and the program passes.
func TestLeaveStopped(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.LockFixtures(t)
	prog := testutil.BuildProgram(t, "loop")
	work := t.TempDir()
	pid := testutil.StartProgram(t, prog, work)
	p := strconv.Itoa(pid)
	for _, d := range []string{"a", "b"} {
		if err := os.Mkdir(filepath.Join(work, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := run([]string{"criu", "dump", "-t", p, "-D", filepath.Join(work, "a"), "-s"}, &bytes.Buffer{}, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	waitStopped(t, pid)
	unix.Kill(pid, unix.SIGCONT)
	if _, err := run([]string{"criu", "dump", "-t", p, "-D", filepath.Join(work, "b")}, &bytes.Buffer{}, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	testutil.WaitGone(t, []int{pid})
	if _, err := run([]string{"criu", "restore", "-d", "-D", filepath.Join(work, "b"), "--leave-stopped"}, &bytes.Buffer{}, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	waitStopped(t, pid)
	unix.Kill(pid, unix.SIGCONT)
	if v := testutil.Verdict(t, pid, work); v != "PASS" {
		t.Errorf("restored program: %s", v)
	}
}
