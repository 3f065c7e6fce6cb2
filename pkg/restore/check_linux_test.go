package restore

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"

	"github.com/criugo/criugo/images"
	"github.com/criugo/criugo/internal/testutil"
	"github.com/criugo/criugo/pkg/image"
	"github.com/criugo/criugo/pkg/x86"
)

// Check takes a good set while its tree still runs (the PIDs in use), and
// refuses one Restore would refuse, creating nothing.
func TestCheck(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.LockFixtures(t)
	bin, prog := dumpTools(t, "threads")
	work := t.TempDir()
	p := startChainProgram(t, prog, work)
	defer func() {
		syscall.Kill(p.pid, syscall.SIGKILL)
		testutil.WaitGone(t, []int{p.pid})
	}()
	set := filepath.Join(work, "set")
	cmd := exec.Command("/bin/sh", "-c", `"$0"/criu-seize -t "$1" | "$0"/criu-parasite --leave-running -D "$2"`, bin, strconv.Itoa(p.pid), set)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("dump: %v: %s", err, out)
	}
	if err := Check(Options{Dir: set}); err != nil {
		t.Fatalf("Check of a good set whose tree runs: %v", err)
	}
	if _, err := Restore(context.Background(), Options{Dir: set, Detach: true}); !errors.Is(err, ErrPidInUse) {
		t.Fatalf("Restore while the tree runs: %v, want ErrPidInUse", err)
	}
	host := uint64(x86.HostFeatures())
	var add uint64
	for _, bit := range []uint{2, 5, 6, 7, 9} {
		if host&(1<<bit) == 0 {
			add = 1 << bit
			break
		}
	}
	if add == 0 {
		return
	}
	name := coreName(uint32(p.pid))
	img, err := image.ReadFile(set, name)
	if err != nil {
		t.Fatal(err)
	}
	*img.Entries[0].Msg.(*images.CoreEntry).GetThreadInfo().GetFpregs().GetXsave().XstateBv |= add
	if err := os.Remove(filepath.Join(set, name)); err != nil {
		t.Fatal(err)
	}
	if err := image.WriteFile(set, name, img); err != nil {
		t.Fatal(err)
	}
	if err := Check(Options{Dir: set}); !errors.Is(err, ErrCPUFeature) {
		t.Errorf("Check of a set needing a feature this CPU lacks: %v, want ErrCPUFeature", err)
	}
	if st, err := os.ReadFile("/proc/" + strconv.Itoa(p.pid) + "/stat"); err != nil || len(st) == 0 {
		t.Errorf("the dumped tree is gone: %v", err)
	}
}
