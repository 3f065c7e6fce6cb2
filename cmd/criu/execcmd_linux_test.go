package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/criugo/criugo/internal/testutil"
)

// TestExecCmd: criu restore --exec-cmd -- CMD restores the tree, then
// becomes CMD, whose child the restored root is; with -d, or without a
// command, it is refused before anything is restored.
func TestExecCmd(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.LockFixtures(t)
	bin := criuBinary(t)
	prog := testutil.BuildProgram(t, "loop")
	work := t.TempDir()
	pid := testutil.StartProgram(t, prog, work)
	dir := filepath.Join(work, "images")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	p := strconv.Itoa(pid)
	criuRun(t, bin, "dump", "-t", p, "-D", dir, "-o", "dump.log")
	testutil.WaitGone(t, []int{pid})
	for _, args := range [][]string{
		{"restore", "-D", dir, "-d", "--exec-cmd", "--", "true"},
		{"restore", "-D", dir, "--exec-cmd"},
	} {
		out, err := exec.Command(bin, args...).CombinedOutput()
		if err == nil || !strings.Contains(string(out), "--exec-cmd") {
			t.Errorf("%q: %v, %s; want an error naming --exec-cmd", args, err, out)
		}
	}
	if _, err := os.Stat("/proc/" + p); err == nil {
		t.Fatal("a refused restore restored the tree")
	}
	// The command reports its own pid and the restored root's parent.
	out, err := exec.Command(bin, "restore", "-D", dir, "-o", "restore.log", "--exec-cmd", "--",
		"/bin/sh", "-c", "echo $$; grep ^PPid: /proc/"+p+"/status").CombinedOutput()
	if err != nil {
		t.Fatalf("restore --exec-cmd: %v\n%s", err, out)
	}
	f := strings.Fields(string(out))
	if len(f) != 3 || f[1] != "PPid:" || f[0] != f[2] {
		t.Errorf("command's pid and the root's parent: %q, want the same pid", out)
	}
	if v := testutil.Verdict(t, pid, work); v != "PASS" {
		t.Errorf("restored program: %s", v)
	}
}
