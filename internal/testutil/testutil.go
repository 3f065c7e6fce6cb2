package testutil

import (
	"os"
	"path/filepath"
	"sort"
	"testing"
)

// FixturesEnv names an environment variable that, when set, overrides where
// FixturesDir looks for the shared fixtures.
const FixturesEnv = "CRIUGO_FIXTURES"

// FixturesDir returns the directory holding the shared CRIU fixtures
// (criu-4.2/, criu-4.2-zoo/). It looks at $CRIUGO_FIXTURES, then at
// ../shared/fixtures beside the repository root (the checkout's, found
// from the working directory), never at a path of one machine. When none
// exists the test is skipped with a message saying where it looked.
func FixturesDir(t testing.TB) string {
	t.Helper()
	d, tried := findFixtures()
	if d == "" {
		t.Skipf("fixtures not found (looked in %v; set %s)", tried, FixturesEnv)
	}
	return d
}

// LookupFixturesDir is FixturesDir for callers that go on without the
// fixtures, such as fuzz targets adding seeds: ok is false when none exist.
func LookupFixturesDir() (dir string, ok bool) {
	d, _ := findFixtures()
	return d, d != ""
}

func findFixtures() (dir string, tried []string) {
	var cands []string
	if d := os.Getenv(FixturesEnv); d != "" {
		cands = append(cands, d)
	}
	if root, ok := RepoRoot(); ok {
		cands = append(cands, filepath.Join(root, "..", "shared", "fixtures"))
	}
	for _, d := range cands {
		if isDir(d) {
			return d, nil
		}
		tried = append(tried, d)
	}
	return "", tried
}

// ImageSets returns every directory of fixture images: the restorable sets
// under criu-4.2/images and the zoo sets under criu-4.2-zoo/images, sorted.
// It fails the test when the fixtures exist but hold no image set.
func ImageSets(t testing.TB) []string {
	t.Helper()
	base := FixturesDir(t)
	var sets []string
	for _, tree := range []string{"criu-4.2", "criu-4.2-zoo"} {
		ents, err := os.ReadDir(filepath.Join(base, tree, "images"))
		if err != nil {
			continue
		}
		for _, e := range ents {
			if e.IsDir() {
				sets = append(sets, filepath.Join(base, tree, "images", e.Name()))
			}
		}
	}
	if len(sets) == 0 {
		t.Fatalf("no image sets under %s", base)
	}
	sort.Strings(sets)
	return sets
}

// CopyDir copies the files of src (image files: no subdirectories) into
// a new temporary directory, each with mode 0600, and returns it.
func CopyDir(t testing.TB, src string) string {
	t.Helper()
	dst := t.TempDir()
	CopyDirTo(t, src, dst)
	return dst
}

// CopyDirTo copies the regular files of directory src into the existing
// directory dst, each with mode 0600.
func CopyDirTo(t testing.TB, src, dst string) {
	t.Helper()
	ents, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// RequireRoot skips the test with a message when it does not run as root.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("test requires root")
	}
}

// RepoRoot walks up from the working directory (a test's is its package's
// directory) to the directory holding go.mod: the root of the checkout.
func RepoRoot() (string, bool) {
	dir, err := os.Getwd()
	if err != nil {
		return "", false
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, true
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", false
		}
		dir = parent
	}
}

func isDir(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}
