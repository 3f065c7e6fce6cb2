package dump

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDumpUserNsRefused dumps test/programs/userns in the shapes of user
// namespace the restore cannot make again: each dump must be refused,
// naming what, and the program must run on.
func TestDumpUserNsRefused(t *testing.T) {
	for _, c := range []struct{ env, want string }{
		{"USERNS_NESTED", "tasks in different user namespaces are not supported"},
		{"USERNS_DENY", `setgroups is "deny"`},
		{"USERNS_UTS_FIRST", "its uts namespace"},
	} {
		// The name has no "=": env would take the program's path, under
		// the test's directory, for an assignment.
		t.Run(c.env, func(t *testing.T) {
			// The namespace's root (uid 100000 outside) must get through
			// the test's directory to the program's own, which it gets.
			if err := os.Chmod(filepath.Dir(t.TempDir()), 0o755); err != nil {
				t.Fatal(err)
			}
			p := testProgramIn(t, "userns", "env", c.env+"=1")
			imgs := filepath.Join(t.TempDir(), "img")
			seizeDir(t, p.pid, imgs)
			_, err := Dump(context.Background(), Options{Dir: imgs})
			if !errors.Is(err, ErrNotSupported) || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "pid ") {
				t.Fatalf("dump: %v, want it refused (%q)", err, c.want)
			}
			t.Log(err)
			if got := p.finishRepeat(t); got != "PASS" {
				t.Errorf("after the refused dump: %s", got)
			}
		})
	}
}
