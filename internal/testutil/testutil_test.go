package testutil

import (
	"os"
	"path/filepath"
	"testing"
)

func TestFixturesDir(t *testing.T) {
	dir := FixturesDir(t)
	if d, ok := LookupFixturesDir(); !ok || d != dir {
		t.Errorf("LookupFixturesDir = %q, %v; FixturesDir = %q", d, ok, dir)
	}
	sets := ImageSets(t)
	for _, s := range sets {
		if _, err := os.Stat(filepath.Join(s, "..", "..", "json", filepath.Base(s))); err != nil {
			t.Errorf("image set %s has no JSON beside it: %v", s, err)
		}
	}
	if len(sets) < 3 {
		t.Errorf("%d image sets", len(sets))
	}
}

func TestFixturesEnv(t *testing.T) {
	dir := t.TempDir()
	t.Setenv(FixturesEnv, dir)
	if got := FixturesDir(t); got != dir {
		t.Errorf("FixturesDir with %s=%s: %s", FixturesEnv, dir, got)
	}
}
