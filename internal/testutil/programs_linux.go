package testutil

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// BuildProgram builds the C/R test program test/programs/NAME.c (static,
// as test/Makefile does) into a temporary directory and returns its path;
// it skips the test without gcc.
func BuildProgram(t testing.TB, name string) string {
	t.Helper()
	gcc, err := exec.LookPath("gcc")
	if err != nil {
		t.Skipf("gcc not found: %v", err)
	}
	root, ok := RepoRoot()
	if !ok {
		t.Fatal("repository root not found")
	}
	src := filepath.Join(root, "test", "programs")
	prog := filepath.Join(t.TempDir(), name)
	if out, err := exec.Command(gcc, "-O2", "-static", "-pthread", "-o", prog,
		filepath.Join(src, name+".c"), filepath.Join(src, "crtest.c")).CombinedOutput(); err != nil {
		t.Fatalf("build %s: %v: %s", name, err, out)
	}
	return prog
}

// StartProgram starts a C/R test program in its own session, with
// --pidfile, --outfile and --workdir in work, and returns its pid once it
// is ready (ARCHITECTURE.md's protocol). The program is not the test's
// child. The test's cleanup kills it, or whatever has its pid then.
func StartProgram(t testing.TB, prog, work string) int {
	t.Helper()
	pidfile := filepath.Join(work, "pid")
	if out, err := exec.Command("/bin/sh", "-c", `setsid "$0" "$@" </dev/null >/dev/null 2>&1 &`,
		prog, "--pidfile", pidfile, "--outfile", filepath.Join(work, "out"), "--workdir", work).CombinedOutput(); err != nil {
		t.Fatalf("start %s: %v: %s", prog, err, out)
	}
	var pid int
	for start := time.Now(); pid == 0; time.Sleep(5 * time.Millisecond) {
		if b, err := os.ReadFile(pidfile); err == nil {
			pid, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		}
		if time.Since(start) > 10*time.Second {
			t.Fatalf("%s wrote no pid file", prog)
		}
	}
	t.Cleanup(func() {
		unix.Kill(pid, unix.SIGKILL)
		WaitGone(t, []int{pid})
	})
	return pid
}

// Verdict sends SIGTERM to a C/R test program until it writes its verdict
// to work/out, and returns it ("PASS" or "FAIL: ...").
func Verdict(t testing.TB, pid int, work string) string {
	t.Helper()
	outfile := filepath.Join(work, "out")
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		unix.Kill(pid, unix.SIGTERM)
		for range 20 {
			if b, err := os.ReadFile(outfile); err == nil && bytes.HasSuffix(b, []byte("\n")) {
				return strings.TrimSpace(string(b))
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return "(no verdict)"
}
