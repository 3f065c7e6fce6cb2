package dump

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// TestDumpAsyncRingsRefused dumps vmaflags holding an io_uring instance
// with its rings mapped, and one held by its fd alone: neither is
// restored (AIO contexts are: the aio program), so each dump is refused
// naming the pid and what it holds, and the program runs on with its
// instance intact.
func TestDumpAsyncRingsRefused(t *testing.T) {
	for _, c := range []struct{ name, env, want string }{
		{"uring", "VMAFLAGS_URING=1", "io_uring"},
		{"uring-fd", "VMAFLAGS_URING=fd", "io_uring"},
	} {
		// Not named by c.env: env(1) would take the program's path,
		// which holds the test's name, for an assignment.
		t.Run(c.name, func(t *testing.T) {
			p := testProgramIn(t, "vmaflags", "env", c.env)
			imgs := filepath.Join(t.TempDir(), "img")
			seizeDir(t, p.pid, imgs)
			_, err := Dump(context.Background(), Options{Dir: imgs})
			if !errors.Is(err, ErrNotSupported) || !strings.Contains(err.Error(), c.want) ||
				!strings.Contains(err.Error(), fmt.Sprintf("pid %d", p.pid)) {
				t.Fatalf("dump: %v, want %q of pid %d refused", err, c.want, p.pid)
			}
			t.Log(err)
			if got := p.finishRepeat(t); got != "PASS" {
				t.Errorf("after the refused dump: %s", got)
			}
		})
	}
}
