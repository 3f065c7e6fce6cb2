package testutil

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"testing"
)

// CompileC runs gcc with args (flags and sources) to build out. It is
// for builds done once per test binary (under a sync.Once); tests use
// BuildC or TestProgram.
func CompileC(out string, args ...string) error {
	gcc, err := exec.LookPath("gcc")
	if err != nil {
		return fmt.Errorf("build %s: %w", filepath.Base(out), err)
	}
	if b, err := exec.Command(gcc, append([]string{"-o", out}, args...)...).CombinedOutput(); err != nil {
		return fmt.Errorf("build %s: %v: %s", filepath.Base(out), err, b)
	}
	return nil
}

// BuildC builds out from C sources with gcc and args (flags, then the
// sources). It skips the test when there is no gcc, and fails it when the
// build fails.
func BuildC(t testing.TB, out string, args ...string) {
	t.Helper()
	if _, err := exec.LookPath("gcc"); err != nil {
		t.Skipf("gcc not found: cannot build %s", filepath.Base(out))
	}
	if err := CompileC(out, args...); err != nil {
		t.Fatal(err)
	}
}

// TestProgram builds the C/R test program test/programs/name.c, with the
// harness's crtest.c and flags (static, threads), into dir and returns
// its path.
func TestProgram(t testing.TB, dir, name string) string {
	t.Helper()
	root, ok := RepoRoot()
	if !ok {
		t.Skip("not in the repository: no test/programs")
	}
	src := filepath.Join(root, "test", "programs")
	out := filepath.Join(dir, name)
	BuildC(t, out, "-O2", "-static", "-pthread", filepath.Join(src, name+".c"), filepath.Join(src, "crtest.c"))
	return out
}
