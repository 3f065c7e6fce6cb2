package fixtureset

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/criugo/criugo/images"
	"github.com/criugo/criugo/internal/testutil"
	"github.com/criugo/criugo/pkg/image"
	"github.com/criugo/criugo/pkg/imgtool"
	"github.com/criugo/criugo/pkg/x86"
)

// Shipped prepares fixture set name (loop, state, tree) as CRIU 4.2 wrote
// it: it requires root, holds testutil.FixtureLock until the test ends,
// runs the fixtures' setup.sh (which installs the programs and the files
// they had open) and returns a copy of the set's images in a temporary
// directory.
func Shipped(t testing.TB, name string) string {
	t.Helper()
	testutil.RequireRoot(t)
	base := filepath.Join(testutil.FixturesDir(t), "criu-4.2")
	testutil.LockFixtures(t)
	if out, err := exec.Command("sh", filepath.Join(base, "setup.sh")).CombinedOutput(); err != nil {
		t.Fatalf("setup.sh: %v\n%s", err, out)
	}
	return testutil.CopyDir(t, filepath.Join(base, "images", name))
}

// Restorable prepares fixture set name for a restore on this machine:
// the shipped set (Shipped) when this CPU enables every xsave feature its
// threads' FPU state holds, else an equivalent set CRIU dumps here and now
// (makeSet). When the set needs features this CPU lacks and no CRIU binary
// is there to make one, the test is skipped saying both. The caller
// checks that the set's PIDs are free (Pids, testutil.SkipIfPidsTaken).
func Restorable(t testing.TB, name string) string {
	t.Helper()
	dir := Shipped(t, name)
	lacks, err := Lacks(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(lacks) == 0 {
		return dir
	}
	criu, err := findCRIU()
	if err != nil {
		t.Skipf("fixture set %s: %s %v, and CRIU 4.2.1 is not built to make an equivalent set here (%v)", name, lacks[0].Core, lacks[0].Err, err)
	}
	return makeSet(t, criu, name)
}

// Lack is a thread of an image set whose FPU state this CPU cannot hold.
type Lack struct {
	Core    string       // the thread's core file, core-<tid>.img
	Missing x86.Features // the xsave features it holds that this CPU does not enable
	Err     error        // what x86.CheckFeatures said (ErrCPUFeature), naming them
}

// Lacks reads every core-*.img of the image directory dir and lists, in
// file name order, the threads whose FPU state holds xsave features this
// CPU does not enable (x86.HostFeatures). A set none lacks can run here.
func Lacks(dir string) ([]Lack, error) {
	cores, err := filepath.Glob(filepath.Join(dir, "core-*.img"))
	if err != nil {
		return nil, err
	}
	sort.Strings(cores)
	host := x86.HostFeatures()
	var lacks []Lack
	for _, p := range cores {
		name := filepath.Base(p)
		img, err := image.ReadFile(dir, name)
		if err != nil {
			return nil, err
		}
		if len(img.Entries) != 1 {
			return nil, fmt.Errorf("%s: %d entries, want 1", name, len(img.Entries))
		}
		core, ok := img.Entries[0].Msg.(*images.CoreEntry)
		if !ok {
			return nil, fmt.Errorf("%s holds a %T", name, img.Entries[0].Msg)
		}
		// A zombie's core has no thread_info: its FPU state is x87 and SSE.
		need := x86.FpregsFeatures(core.GetThreadInfo().GetFpregs())
		if err := x86.CheckFeatures(need, host); err != nil {
			lacks = append(lacks, Lack{Core: name, Missing: need &^ host, Err: err})
		}
	}
	return lacks, nil
}

// Pids reads pstree.img of the image directory dir: the root's PID, and
// every PID and TID the set's tasks take. A zombie counts by its PID
// alone: CRIU lists it with one thread id that it never sets.
func Pids(t testing.TB, dir string) (root int, all []int) {
	t.Helper()
	img, err := image.ReadFile(dir, "pstree.img")
	if err != nil {
		t.Fatal(err)
	}
	if len(img.Entries) == 0 {
		t.Fatalf("%s/pstree.img lists no task", dir)
	}
	for i, e := range img.Entries {
		p := e.Msg.(*images.PstreeEntry)
		pid := int(p.GetPid())
		if i == 0 {
			root = pid
		}
		all = append(all, pid)
		th := p.GetThreads()
		if len(th) == 1 && int(th[0]) != pid {
			continue // a zombie
		}
		for _, tid := range th {
			if int(tid) != pid {
				all = append(all, int(tid))
			}
		}
	}
	return root, all
}

// xsavePath is the field path of a core's xsave components in a shape
// (imgtool.FieldPaths).
const xsavePath = "core_entry.thread_info.fpregs.xsave."

// OtherCPUField tells whether d, a difference between the shape of a set
// dumped here (A) and one dumped on another machine (B, a shipped set),
// is a field of the cores that holds an xsave component one of the two
// CPUs enables and the other does not: a field only B has, for a
// component this CPU lacks (no dump made here can have it), or a field
// only A has, for a component this CPU enables (B's CPU did not: CRIU
// dumps every component its CPU enables, as we do).
func OtherCPUField(d imgtool.ShapeDiff) bool {
	if d.Kind != "CORE" || !strings.HasPrefix(d.Path, xsavePath) {
		return false
	}
	f, ok := x86.XsaveFieldFeature(strings.TrimPrefix(d.Path, xsavePath))
	if !ok {
		return false
	}
	if d.InA {
		return f&^x86.HostFeatures() == 0
	}
	return f&^x86.HostFeatures() != 0
}

// CRIUEnv names the environment variable that gives the CRIU binary
// Restorable dumps with; without it, build/criu-4.2.1/criu under the
// repository root, where scripts/build-criu.sh builds it.
const CRIUEnv = "CRIU"

// findCRIU returns the CRIU binary to make sets with, or why there is none.
func findCRIU() (string, error) {
	if p := os.Getenv(CRIUEnv); p != "" {
		if err := executable(p); err != nil {
			return "", fmt.Errorf("$%s: %w", CRIUEnv, err)
		}
		return p, nil
	}
	root, ok := testutil.RepoRoot()
	if !ok {
		return "", fmt.Errorf("no $%s, and no repository root above the working directory", CRIUEnv)
	}
	p := filepath.Join(root, "build", "criu-4.2.1", "criu")
	if err := executable(p); err != nil {
		return "", fmt.Errorf("no $%s, and %w", CRIUEnv, err)
	}
	return p, nil
}

func executable(p string) error {
	st, err := os.Stat(p)
	if err != nil {
		return err
	}
	if !st.Mode().IsRegular() || st.Mode().Perm()&0o111 == 0 {
		return fmt.Errorf("%s is not an executable file", p)
	}
	return nil
}
