package cpuinfo

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/criugo/criugo/images"
	"github.com/criugo/criugo/internal/testutil"
	"github.com/criugo/criugo/pkg/crit"
	"github.com/criugo/criugo/pkg/image"
)

// criuRun runs CRIU's criu with args, its log in dir; it returns its
// output and the log's error lines, and how it failed.
func criuRun(t *testing.T, criu, dir string, args ...string) (string, error) {
	t.Helper()
	log := filepath.Join(dir, "criu.log")
	os.Remove(log)
	cmd := exec.Command(criu, append(args, "-D", dir, "-o", log, "-v4")...)
	out, err := cmd.CombinedOutput()
	b, _ := os.ReadFile(log)
	var errs []string
	for _, l := range bytes.Split(b, []byte("\n")) {
		if bytes.Contains(l, []byte("Error")) {
			errs = append(errs, string(l))
		}
	}
	return fmt.Sprintf("%s%q", out, errs), err
}

// critJSON is what our crit decode --pretty prints for an image file.
func critJSON(t *testing.T, dir string) string {
	t.Helper()
	img, err := image.ReadFile(dir, FileName)
	if err != nil {
		t.Fatal(err)
	}
	n, err := crit.ImageToNode(img, true, false)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := crit.WriteJSON(&b, n, true); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestInteropCRIU: on this CPU our cpuinfo.img is the one CRIU 4.2.1's
// `criu cpuinfo dump` writes, field by field and byte for byte; CRIU's
// `cpuinfo check` passes ours and our check passes CRIU's.
func TestInteropCRIU(t *testing.T) {
	testutil.RequireRoot(t)
	criu := testutil.CRIU(t)
	theirs, ours := t.TempDir(), t.TempDir()
	if log, err := criuRun(t, criu, theirs, "cpuinfo", "dump"); err != nil {
		t.Fatalf("criu cpuinfo dump: %v %s", err, log)
	}
	if err := DumpDir(ours); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(filepath.Join(ours, FileName)); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("our cpuinfo.img: %v, mode %v, want 0600", err, st.Mode())
	}
	if err := DumpDir(ours); !errors.Is(err, os.ErrExist) {
		t.Errorf("a second dump into the same directory: %v, want it refused (O_EXCL)", err)
	}
	a, err := ReadDir(ours)
	if err != nil {
		t.Fatal(err)
	}
	b, err := ReadDir(theirs)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range fieldDiffs(a, b) {
		t.Errorf("field %s", d)
	}
	if ja, jb := critJSON(t, ours), critJSON(t, theirs); ja != jb {
		t.Errorf("crit decode differs:\nours:\n%s\nCRIU's:\n%s", ja, jb)
	}
	ba, _ := os.ReadFile(filepath.Join(ours, FileName))
	bb, _ := os.ReadFile(filepath.Join(theirs, FileName))
	if !bytes.Equal(ba, bb) {
		t.Errorf("cpuinfo.img bytes differ:\n ours % x\n criu % x", ba, bb)
	}
	for _, cp := range []string{"", "all"} {
		args := []string{"cpuinfo", "check"}
		if cp != "" {
			args = append(args, "--cpu-cap="+cp)
		}
		if log, err := criuRun(t, criu, ours, args...); err != nil {
			t.Errorf("criu %v refuses our cpuinfo.img: %v %s", args, err, log)
		}
	}
	if err := CheckDir(theirs, CapAll); err != nil {
		t.Errorf("our check refuses CRIU's cpuinfo.img: %v", err)
	}
}

// TestInteropCRIUVerdicts: for images edited in each way a check can
// notice, with each --cpu-cap, our check passes exactly when CRIU's
// `cpuinfo check` does.
func TestInteropCRIUVerdicts(t *testing.T) {
	testutil.RequireRoot(t)
	criu := testutil.CRIU(t)
	host, err := Host()
	if err != nil {
		t.Fatal(err)
	}
	edits := map[string]func(*images.CpuinfoX86Entry){
		"unchanged":     func(*images.CpuinfoX86Entry) {},
		"avx-512 state": func(e *images.CpuinfoX86Entry) { *e.XfeaturesMask |= 0xe0 },
		"avx512f":       func(e *images.CpuinfoX86Entry) { e.Capability[word7EBX] |= 1 << 16 },
		"xsaves":        func(e *images.CpuinfoX86Entry) { e.Capability[wordD1EAX] |= 1 << 3 },
		"xsave size":    func(e *images.CpuinfoX86Entry) { *e.XsaveSize += 64 },
		"xsave max":     func(e *images.CpuinfoX86Entry) { *e.XsaveSizeMax += 64 },
		"fewer bits":    func(e *images.CpuinfoX86Entry) { e.Capability[word1ECX] &^= 1 << 0 },
		"unnamed bit":   func(e *images.CpuinfoX86Entry) { e.Capability[word7EBX] |= 1 << 13 },
		"version 1": func(e *images.CpuinfoX86Entry) {
			*e.CapabilityVer = 1
			e.Capability = e.Capability[:wordsV1]
		},
		"no xsave fields": func(e *images.CpuinfoX86Entry) { e.XfeaturesMask, e.XsaveSize, e.XsaveSizeMax = nil, nil, nil },
		"intel":           func(e *images.CpuinfoX86Entry) { e.VendorId = images.CpuinfoX86Entry_INTEL.Enum() },
		"bad version":     func(e *images.CpuinfoX86Entry) { *e.CapabilityVer = 7 },
		"19 words of v1":  func(e *images.CpuinfoX86Entry) { *e.CapabilityVer = 1 },
	}
	refused := map[bool]int{}
	defer func() { t.Logf("CRIU passed %d checks and refused %d; ours agreed", refused[false], refused[true]) }()
	capArgs := []string{"", "fpu", "ins", "cpu", "all", "none", "^ins", "^fpu", "fpu,^ins", "^all"}
	for name, edit := range edits {
		dir := t.TempDir()
		img := proto.Clone(host).(*images.CpuinfoX86Entry)
		edit(img)
		if err := WriteDir(dir, img); err != nil {
			t.Fatal(err)
		}
		for _, arg := range capArgs {
			args := []string{"cpuinfo", "check"}
			caps := CapDefault
			if arg != "" {
				args = append(args, "--cpu-cap="+arg)
				if caps, err = ParseCaps(arg); err != nil {
					t.Fatal(err)
				}
			}
			log, criuErr := criuRun(t, criu, dir, args...)
			ourErr := CheckDir(dir, caps)
			if name == "unchanged" && criuErr != nil {
				t.Fatalf("CRIU refuses its own CPU: --cpu-cap=%q: %v %s", arg, criuErr, log)
			}
			refused[criuErr != nil]++
			if (criuErr == nil) != (ourErr == nil) {
				t.Errorf("%s, --cpu-cap=%q: CRIU %v %s, ours %v", name, arg, criuErr, log, ourErr)
			}
		}
	}
}
