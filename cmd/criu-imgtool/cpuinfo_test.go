package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/criugo/criugo/images"
	"github.com/criugo/criugo/internal/testutil"
	"github.com/criugo/criugo/pkg/cpuinfo"
)

func TestCpuinfoDumpCheck(t *testing.T) {
	dir := t.TempDir()
	if _, errs, err := run(t, nil, "cpuinfo", "dump", "-D", dir); err != nil {
		t.Fatalf("cpuinfo dump: %v\n%s", err, errs)
	}
	st, err := os.Stat(filepath.Join(dir, "cpuinfo.img"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("cpuinfo.img: %v (mode %v), want a 0600 file", err, st.Mode())
	}
	if _, _, err := run(t, nil, "cpuinfo", "dump", "-D", dir); !errors.Is(err, os.ErrExist) || exitStatus(err) != 1 {
		t.Errorf("dump over an existing cpuinfo.img: %v, want it refused", err)
	}
	for _, args := range [][]string{nil, {"--cpu-cap", "all"}, {"--cpu-cap", "none"}, {"--cpu-cap=^ins"}} {
		out, errs, err := run(t, nil, append([]string{"cpuinfo", "check", "-D", dir}, args...)...)
		if err != nil || !strings.Contains(out, "this CPU matches") {
			t.Errorf("check %v: %v %q %s", args, err, out, errs)
		}
	}
	if _, _, err := run(t, nil, "cpuinfo", "check", "-D", dir, "--cpu-cap", "avx"); !errors.Is(err, cpuinfo.ErrBadCaps) {
		t.Errorf("--cpu-cap avx: %v", err)
	}
	if _, _, err := run(t, nil, "cpuinfo", "check"); err == nil || !strings.Contains(err.Error(), "-D") {
		t.Errorf("check without -D: %v", err)
	}
	if _, _, err := run(t, nil, "cpuinfo", "check", "-D", t.TempDir()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("check of a directory without cpuinfo.img: %v", err)
	}

	// The same image needing AVX-512 state is refused, the state named.
	e, err := cpuinfo.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if e.GetXfeaturesMask()&0xe0 != 0 {
		t.Skip("this CPU has AVX-512")
	}
	*e.XfeaturesMask |= 0xe0
	edited := t.TempDir()
	if err := cpuinfo.WriteDir(edited, e); err != nil {
		t.Fatal(err)
	}
	_, _, err = run(t, nil, "cpuinfo", "check", "-D", edited, "--cpu-cap", "fpu")
	if !errors.Is(err, cpuinfo.ErrCPUFeature) || exitStatus(err) != 1 {
		t.Fatalf("check of an image with AVX-512 state: %v, want ErrCPUFeature", err)
	}
	for _, w := range []string{filepath.Join(edited, "cpuinfo.img") + ": ", "AVX-512 opmask", "0xe0"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("%q does not say %q", err, w)
		}
	}
}

// TestCpuinfoCheckFixture: the cpuinfo.img CRIU 4.2 wrote on the fixtures'
// AVX-512 CPU names its AVX-512 instructions under --cpu-cap ins.
func TestCpuinfoCheckFixture(t *testing.T) {
	dir := filepath.Join(testutil.FixturesDir(t), "criu-4.2-zoo", "images", "cpuinfo")
	e, err := cpuinfo.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	h, err := cpuinfo.Host()
	if err != nil {
		t.Fatal(err)
	}
	if h.GetCapability()[9]&(1<<16) != 0 || e.GetVendorId() != images.CpuinfoX86Entry_AMD {
		t.Skip("this CPU has avx512f")
	}
	_, _, err = run(t, nil, "cpuinfo", "check", "-D", dir, "--cpu-cap=^fpu")
	if !errors.Is(err, cpuinfo.ErrCPUFeature) || !strings.Contains(err.Error(), "needs avx512f, avx512dq") {
		t.Errorf("ins check of the fixture: %v", err)
	}
}
