package restore

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/criugo/criugo/internal/testutil"
	"github.com/criugo/criugo/pkg/cpuinfo"
	"github.com/criugo/criugo/pkg/image"
	"github.com/criugo/criugo/pkg/x86"
)

// criuDumpSleep dumps a sleep(1) with CRIU's own criu, --cpu-cap making
// it write cpuinfo.img, and returns the image directory and the pid.
func criuDumpSleep(t *testing.T) (string, int) {
	t.Helper()
	testutil.RequireRoot(t)
	criu := testutil.CRIU(t)
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Skip(err)
	}
	cmd := exec.Command(sleep, "600")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	dir := t.TempDir()
	out, err := exec.Command(criu, "dump", "-t", strconv.Itoa(pid), "-D", dir, "--cpu-cap", "-o", "dump.log", "-v4").CombinedOutput()
	if err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		log, _ := os.ReadFile(filepath.Join(dir, "dump.log"))
		t.Fatalf("criu dump: %v\n%s\n%s", err, out, log)
	}
	cmd.Wait()
	testutil.WaitGone(t, []int{pid})
	if _, err := os.Stat(filepath.Join(dir, cpuinfo.FileName)); err != nil {
		t.Fatalf("criu dump --cpu-cap wrote no cpuinfo.img: %v", err)
	}
	return dir, pid
}

// TestRestoreCPUInfo: a set whose cpuinfo.img needs AVX-512 state, which
// this CPU lacks, is refused from a directory and from a stream before
// any task is created, naming the file and the feature; the same set as
// CRIU wrote it restores.
func TestRestoreCPUInfo(t *testing.T) {
	if x86.HostFeatures()&0xe0 != 0 {
		t.Skip("this CPU has AVX-512")
	}
	dir, pid := criuDumpSleep(t)
	edited := testutil.CopyDir(t, dir)
	e, err := cpuinfo.ReadDir(edited)
	if err != nil {
		t.Fatal(err)
	}
	*e.XfeaturesMask |= 0xe0
	if err := os.Remove(filepath.Join(edited, cpuinfo.FileName)); err != nil {
		t.Fatal(err)
	}
	if err := cpuinfo.WriteDir(edited, e); err != nil {
		t.Fatal(err)
	}
	var stream bytes.Buffer
	if err := image.PackDir(edited, &stream, false); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		opts Options
	}{
		{"directory", Options{Dir: edited, Detach: true}},
		{"stream", Options{Stdin: &stream, Detach: true}},
	} {
		res, err := Restore(context.Background(), c.opts)
		if err == nil {
			killTree(t, res)
			t.Fatalf("%s: restored a set that needs AVX-512", c.name)
		}
		if !errors.Is(err, ErrCPUFeature) || !errors.Is(err, x86.ErrCPUFeature) {
			t.Errorf("%s: %v, want ErrCPUFeature", c.name, err)
		}
		for _, w := range []string{"cpuinfo.img: ", "AVX-512 opmask", "0xe0"} {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: %q does not say %q", c.name, err, w)
			}
		}
		if _, err := os.Stat("/proc/" + strconv.Itoa(pid)); err == nil {
			t.Errorf("%s: pid %d exists after the refusal", c.name, pid)
		}
		t.Logf("%s: %v", c.name, err)
	}

	res, err := Restore(context.Background(), Options{Dir: dir, Detach: true})
	if err != nil {
		t.Fatalf("restore of the set as CRIU wrote it: %v", err)
	}
	defer killTree(t, res)
	if res.Root != pid {
		t.Errorf("root %d, want %d", res.Root, pid)
	}
}

// TestRestoreCPUInfoBad: a cpuinfo.img no check can read is ErrBadImage.
func TestRestoreCPUInfoBad(t *testing.T) {
	h, err := cpuinfo.Host()
	if err != nil {
		t.Fatal(err)
	}
	h.Capability = h.Capability[:5]
	err = checkCPUInfoImage(cpuinfo.Image(h))
	if !errors.Is(err, ErrBadImage) || !errors.Is(err, cpuinfo.ErrBadImage) || !strings.HasPrefix(err.Error(), "cpuinfo.img: ") {
		t.Errorf("5 capability words: %v", err)
	}
	h, _ = cpuinfo.Host()
	if err := checkCPUInfoImage(cpuinfo.Image(h)); err != nil {
		t.Errorf("this CPU: %v", err)
	}
}
