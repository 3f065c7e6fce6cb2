package crit

import (
	"bytes"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/criugo/criugo/internal/testutil"
)

// explore.json holds what Debian's crit printed for crit x on every fixture
// set (gen-explore.py), and whether it got to the end.
type exploreCase struct {
	Out      string `json:"out"`
	Complete bool   `json:"complete"`
}

func TestExploreMatchesCrit(t *testing.T) {
	data, err := os.ReadFile("testdata/explore.json")
	if err != nil {
		t.Fatal(err)
	}
	var cases map[string]exploreCase
	if err := json.Unmarshal(data, &cases); err != nil {
		t.Fatal(err)
	}
	base := testutil.FixturesDir(t)
	if len(cases) < 4*40 {
		t.Fatalf("explore.json holds %d cases", len(cases))
	}
	for key, c := range cases {
		parts := strings.Split(key, "/") // tree/set/what
		dir := filepath.Join(base, parts[0], "images", parts[1])
		var out bytes.Buffer
		if err := Explore(&out, DirSource(dir), parts[2]); err != nil {
			t.Errorf("%s: %v", key, err)
			continue
		}
		got := out.String()
		switch {
		case c.Complete && got != c.Out:
			t.Errorf("%s: output differs from crit's, %s", key, firstLineDiff([]byte(got), []byte(c.Out)))
		case !c.Complete && !strings.HasPrefix(got, c.Out):
			t.Errorf("%s: output does not start with what crit printed before it failed, %s",
				key, firstLineDiff([]byte(got), []byte(c.Out)))
		}
	}
}

// TestExploreZombie: where crit fails on a zombie (no ids, mm or fs image),
// the explorers print its pid and go on.
func TestExploreZombie(t *testing.T) {
	dir := filepath.Join(testutil.FixturesDir(t), "criu-4.2", "images", "tree")
	for _, what := range []string{"fds", "mems", "rss"} {
		var out bytes.Buffer
		if err := Explore(&out, DirSource(dir), what); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if !strings.HasSuffix(out.String(), "\n16233\n") {
			t.Errorf("%s: output does not end with the zombie's pid line:\n%s", what, out.String())
		}
	}
	var out bytes.Buffer
	dir = filepath.Join(testutil.FixturesDir(t), "criu-4.2-zoo", "images", "pidfd_self")
	if err := Explore(&out, DirSource(dir), "fds"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), ": PIDFD.") {
		t.Errorf("pidfd_self fds shows no PIDFD file:\n%s", out.String())
	}
}

func TestExploreErrors(t *testing.T) {
	base := testutil.FixturesDir(t)
	var out bytes.Buffer
	err := Explore(&out, DirSource(filepath.Join(base, "criu-4.2-zoo", "images", "cpuinfo")), "ps")
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "pstree.img") {
		t.Errorf("explore of a set without pstree.img: %v", err)
	}
	err = Explore(&out, DirSource(filepath.Join(base, "criu-4.2", "images", "loop")), "bogus")
	if err == nil || !strings.Contains(err.Error(), "unknown report") {
		t.Errorf("explore bogus: %v", err)
	}
}
