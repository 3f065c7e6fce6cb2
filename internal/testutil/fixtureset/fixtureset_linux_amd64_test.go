package fixtureset

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/criugo/criugo/images"
	"github.com/criugo/criugo/internal/testutil"
	"github.com/criugo/criugo/pkg/image"
	"github.com/criugo/criugo/pkg/imgtool"
	"github.com/criugo/criugo/pkg/x86"
)

func shippedDir(t *testing.T, name string) string {
	return filepath.Join(testutil.FixturesDir(t), "criu-4.2", "images", name)
}

// rootFds lists the fds of a set's root task as "fd type", in fdinfo order.
func rootFds(t *testing.T, dir string) []string {
	t.Helper()
	root, _ := Pids(t, dir)
	ids, err := image.ReadFile(dir, fmt.Sprintf("ids-%d.img", root))
	if err != nil {
		t.Fatal(err)
	}
	fdinfo, err := image.ReadFile(dir, fmt.Sprintf("fdinfo-%d.img", ids.Entries[0].Msg.(*images.TaskKobjIdsEntry).GetFilesId()))
	if err != nil {
		t.Fatal(err)
	}
	var fds []string
	for _, e := range fdinfo.Entries {
		fi := e.Msg.(*images.FdinfoEntry)
		fds = append(fds, fmt.Sprintf("%d %v", fi.GetFd(), fi.GetType()))
	}
	return fds
}

func shape(t *testing.T, dir string) *imgtool.Shape {
	t.Helper()
	set, err := imgtool.LoadDir(dir, imgtool.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sh, err := imgtool.ShapeOf(set)
	if err != nil {
		t.Fatal(err)
	}
	return sh
}

// TestRestorable: every set Restorable gives can run on this CPU. Where
// the shipped one can, it is a copy of it; where it cannot, the set made
// here has the shipped one's shape (but for the xsave components this
// CPU lacks), its root has the same fds, and its PIDs are free.
func TestRestorable(t *testing.T) {
	for _, name := range []string{"loop", "state", "tree"} {
		t.Run(name, func(t *testing.T) {
			dir := Restorable(t, name)
			if lacks, err := Lacks(dir); err != nil || len(lacks) != 0 {
				t.Fatalf("the set cannot run here: %v %v", lacks, err)
			}
			src := shippedDir(t, name)
			if lacks, err := Lacks(src); err != nil {
				t.Fatal(err)
			} else if len(lacks) == 0 {
				for _, f := range []string{"pstree.img", "inventory.img"} {
					want, err := os.ReadFile(filepath.Join(src, f))
					if err != nil {
						t.Fatal(err)
					}
					if got, err := os.ReadFile(filepath.Join(dir, f)); err != nil || string(got) != string(want) {
						t.Errorf("%s: copy differs (%v)", f, err)
					}
				}
				return
			}
			t.Logf("the shipped set needs %v: made here", lacksOf(t, src))
			for _, d := range imgtool.CompareShapes(shape(t, dir), shape(t, src)) {
				if !OtherCPUField(d) {
					t.Errorf("made here (A) and shipped (B) differ: %v", d)
				}
			}
			if got, want := strings.Join(rootFds(t, dir), ", "), strings.Join(rootFds(t, src), ", "); got != want {
				t.Errorf("the root's fds: %s; shipped: %s", got, want)
			}
			_, ids := Pids(t, dir)
			for _, id := range ids {
				if _, err := os.Stat("/proc/" + strconv.Itoa(id)); err == nil {
					t.Errorf("pid %d of the set made here is still in use", id)
				}
			}
		})
	}
	if _, err := os.Stat(filepath.Join(testutil.FixtureRunDir, "loop.cnt")); err != nil {
		t.Errorf("setup.sh did not install loop.cnt: %v", err)
	}
}

func lacksOf(t *testing.T, dir string) x86.Features {
	lacks, err := Lacks(dir)
	if err != nil {
		t.Fatal(err)
	}
	var f x86.Features
	for _, l := range lacks {
		f |= l.Missing
	}
	return f
}

// TestLacks: every thread of the shipped state set holds AVX-512 state
// (xstate_bv 0xa2); a CPU without it lacks it for each of them.
func TestLacks(t *testing.T) {
	lacks, err := Lacks(shippedDir(t, "state"))
	if err != nil {
		t.Fatal(err)
	}
	const need = x86.Features(0xa2)
	missing := need &^ x86.HostFeatures()
	if missing == 0 {
		if len(lacks) != 0 {
			t.Errorf("this CPU has %v, yet %v", x86.HostFeatures(), lacks)
		}
		return
	}
	var got []string
	for _, l := range lacks {
		got = append(got, l.Core)
		if l.Missing != missing || !strings.Contains(l.Err.Error(), missing.String()) {
			t.Errorf("%s: missing %v (%v), want %v", l.Core, l.Missing, l.Err, missing)
		}
	}
	if want := "core-16227.img core-16234.img core-16235.img core-16236.img"; strings.Join(got, " ") != want {
		t.Errorf("lacking: %v, want %s", got, want)
	}
}

func TestPids(t *testing.T) {
	root, all := Pids(t, shippedDir(t, "tree"))
	if root != 16228 || fmt.Sprint(all) != "[16228 16230 16231 16232 16233]" {
		t.Errorf("tree: root %d, all %v", root, all)
	}
	root, all = Pids(t, shippedDir(t, "state"))
	if root != 16227 || fmt.Sprint(all) != "[16227 16234 16235 16236]" {
		t.Errorf("state: root %d, all %v", root, all)
	}
}

func TestOtherCPUField(t *testing.T) {
	host := x86.HostFeatures()
	for _, c := range []struct {
		d    imgtool.ShapeDiff
		want bool
	}{
		{imgtool.ShapeDiff{Kind: "CORE", Path: xsavePath + "hi16_zmm"}, host&(1<<7) == 0},
		{imgtool.ShapeDiff{Kind: "CORE", Path: xsavePath + "ymmh_space"}, host&(1<<2) == 0},
		{imgtool.ShapeDiff{Kind: "CORE", Path: xsavePath + "hi16_zmm", InA: true}, host&(1<<7) != 0},
		{imgtool.ShapeDiff{Kind: "CORE", Path: xsavePath + "pkru", InA: true}, host&(1<<9) != 0},
		{imgtool.ShapeDiff{Kind: "CORE", Path: xsavePath + "xstate_bv"}, false},
		{imgtool.ShapeDiff{Kind: "CORE", Path: "core_entry.thread_core.creds"}, false},
		{imgtool.ShapeDiff{Kind: "FILES", Path: xsavePath + "hi16_zmm"}, false},
	} {
		if got := OtherCPUField(c.d); got != c.want {
			t.Errorf("OtherCPUField(%v) = %v, want %v (host %v)", c.d, got, c.want, host)
		}
	}
}

func TestFindCRIU(t *testing.T) {
	t.Setenv(CRIUEnv, filepath.Join(t.TempDir(), "none"))
	if _, err := findCRIU(); err == nil || !strings.Contains(err.Error(), "$"+CRIUEnv) {
		t.Errorf("findCRIU with $%s missing: %v", CRIUEnv, err)
	}
	f := filepath.Join(t.TempDir(), "criu")
	if err := os.WriteFile(f, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv(CRIUEnv, f)
	if _, err := findCRIU(); err == nil {
		t.Error("findCRIU took a file that is not executable")
	}
	if err := os.Chmod(f, 0o755); err != nil {
		t.Fatal(err)
	}
	if got, err := findCRIU(); err != nil || got != f {
		t.Errorf("findCRIU = %q, %v; want %s", got, err, f)
	}
}
