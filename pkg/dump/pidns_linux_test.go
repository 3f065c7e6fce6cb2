package dump

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

// TestDumpNestedPidNsSetns: a task whose children go to a pid namespace
// it joined with setns (and a child of it there, not that namespace's
// init) cannot be cloned again by a restore: the dump refuses it, naming
// it, and the tree runs on.
func TestDumpNestedPidNsSetns(t *testing.T) {
	p := testProgramIn(t, "pidnsnest", "env", "PIDNSNEST_SETNS=1")
	imgs := filepath.Join(t.TempDir(), "img")
	seizeDir(t, p.pid, imgs)
	_, err := Dump(context.Background(), Options{Dir: imgs})
	if !errors.Is(err, ErrNotSupported) || !strings.Contains(err.Error(), "PID namespace") {
		t.Fatalf("dump: %v, want the task that joined the nested pid namespace refused", err)
	}
	t.Log(err)
	if got := p.finishRepeat(t); got != "PASS" {
		t.Errorf("after the refused dump: %s", got)
	}
}
