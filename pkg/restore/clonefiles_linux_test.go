package restore

import (
	"errors"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/criugo/criugo/internal/testutil"
)

// TestCheckCloneFiles dumps clonefiles with --leave-running, once as it
// is (a child and grandchild sharing the root's fd table: the images
// check) and once with CLONEFILES_SIBLING=1 (a child sharing its
// sibling's table, which no task can clone for it: refused, naming the
// pid); the program passes after each.
func TestCheckCloneFiles(t *testing.T) {
	testutil.RequireRoot(t)
	bin, prog := dumpTools(t, "clonefiles")
	for _, sibling := range []bool{false, true} {
		work := t.TempDir()
		env := "CLONEFILES_NONE=1"
		if sibling {
			env = "CLONEFILES_SIBLING=1"
		}
		p := startChainProgram(t, prog, work, "env", env)
		set := filepath.Join(work, "set")
		cmd := exec.Command("/bin/sh", "-c", `"$0"/criu-seize -t "$1" | "$0"/criu-parasite --leave-running -D "$2"`, bin, strconv.Itoa(p.pid), set)
		if out, err := cmd.CombinedOutput(); err != nil {
			syscall.Kill(-p.pid, syscall.SIGKILL)
			t.Fatalf("dump: %v: %s", err, out)
		}
		err := Check(Options{Dir: set})
		switch {
		case !sibling && err != nil:
			t.Errorf("check of a table shared with the parent: %v", err)
		case sibling && (!errors.Is(err, ErrNotSupported) || !strings.Contains(err.Error(), "CLONE_FILES")):
			t.Errorf("check of a table shared with a sibling: %v, want it refused", err)
		case sibling:
			t.Log(err)
		}
		if got := p.result(t); got != "PASS" {
			t.Errorf("sibling %v: after the dump: %s", sibling, got)
		}
		syscall.Kill(-p.pid, syscall.SIGKILL)
	}
}
