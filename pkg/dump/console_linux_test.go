package dump

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// TestDumpConsoleCttyRefused dumps console with a virtual console (tty1)
// as the controlling terminal of the program (a session leader) beside
// another one (tty0): CRIU's images keep one entry for both, which could
// not say which one the session's is, so the dump is refused naming the
// terminal and the pid, and the program runs on with it.
func TestDumpConsoleCttyRefused(t *testing.T) {
	p := testProgramIn(t, "console", "env", "CONSOLE_CTTY=1")
	imgs := filepath.Join(t.TempDir(), "img")
	seizeDir(t, p.pid, imgs)
	_, err := Dump(context.Background(), Options{Dir: imgs})
	if !errors.Is(err, ErrNotSupported) || !strings.Contains(err.Error(), "controlling terminal") ||
		!strings.Contains(err.Error(), fmt.Sprintf("pid %d", p.pid)) {
		t.Fatalf("dump: %v, want the controlling terminal of pid %d refused", err, p.pid)
	}
	t.Log(err)
	if got := p.finishRepeat(t); got != "PASS" {
		t.Errorf("after the refused dump: %s", got)
	}
}
