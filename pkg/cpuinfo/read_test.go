package cpuinfo

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/criugo/criugo/images"
	"github.com/criugo/criugo/internal/testutil"
	"github.com/criugo/criugo/pkg/image"
)

var update = flag.Bool("update", false, "record this CPU into testdata/host: its CPUID answers, and CRIU's cpuinfo.img of it")

// fakeCPU answers CPUID from a table; a query it has no answer for gets
// zeros and is remembered, so a test can tell that Read asked something
// the recording lacks.
type fakeCPU struct {
	leaves map[[2]uint32][4]uint32
	unseen [][2]uint32
}

func (f *fakeCPU) cpuid(leaf, sub uint32) (uint32, uint32, uint32, uint32) {
	r, ok := f.leaves[[2]uint32{leaf, sub}]
	if !ok {
		f.unseen = append(f.unseen, [2]uint32{leaf, sub})
	}
	return r[0], r[1], r[2], r[3]
}

func (f *fakeCPU) set(leaf, sub, eax, ebx, ecx, edx uint32) {
	f.leaves[[2]uint32{leaf, sub}] = [4]uint32{eax, ebx, ecx, edx}
}

// readCPUIDFile reads a recording: "leaf sub eax ebx ecx edx" (0x hex), a
// query a line.
func readCPUIDFile(t *testing.T, path string) *fakeCPU {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cpu := &fakeCPU{leaves: map[[2]uint32][4]uint32{}}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		var v [6]uint32
		if _, err := fmt.Sscanf(line, "%v %v %v %v %v %v", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5]); err != nil {
			t.Fatalf("%s: %q: %v", path, line, err)
		}
		cpu.set(v[0], v[1], v[2], v[3], v[4], v[5])
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return cpu
}

// hostCPUID is the CPUID instruction, where there is one (x86_64).
var hostCPUID CPUID

// record writes testdata/host from this CPU: the CPUID queries Read
// makes with their answers, and CRIU's `cpuinfo dump` of it.
func record(t *testing.T, dir string) {
	if hostCPUID == nil {
		t.Fatal("-update needs an x86_64 CPU")
	}
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "# CPUID queries of cpuinfo.Read and this CPU's answers: leaf sub eax ebx ecx edx\n")
	seen := map[[2]uint32]bool{}
	if _, err := Read(func(leaf, sub uint32) (uint32, uint32, uint32, uint32) {
		a, b, c, d := hostCPUID(leaf, sub)
		if !seen[[2]uint32{leaf, sub}] {
			seen[[2]uint32{leaf, sub}] = true
			fmt.Fprintf(&buf, "%#x %#x %#08x %#08x %#08x %#08x\n", leaf, sub, a, b, c, d)
		}
		return a, b, c, d
	}); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "cpuid.txt"), buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	criu := testutil.CRIU(t)
	tmp := t.TempDir()
	if out, err := exec.Command(criu, "cpuinfo", "dump", "-D", tmp).CombinedOutput(); err != nil {
		t.Fatalf("criu cpuinfo dump: %v\n%s", err, out)
	}
	b, err := os.ReadFile(filepath.Join(tmp, FileName))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, FileName), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestReadRecorded: from the CPUID answers of a recorded CPU, Read gives
// the entry CRIU 4.2.1 wrote on that CPU, and it encodes to the same bytes.
func TestReadRecorded(t *testing.T) {
	dir := filepath.Join("testdata", "host")
	if *update {
		record(t, dir)
	}
	cpu := readCPUIDFile(t, filepath.Join(dir, "cpuid.txt"))
	got, err := Read(cpu.cpuid)
	if err != nil {
		t.Fatal(err)
	}
	if cpu.unseen != nil {
		t.Errorf("Read asked for leaves the recording does not have: %x", cpu.unseen)
	}
	want, err := ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range fieldDiffs(got, want) {
		t.Errorf("field %s", d)
	}
	var ours bytes.Buffer
	if err := image.WriteImage(&ours, Image(got)); err != nil {
		t.Fatal(err)
	}
	criu, err := os.ReadFile(filepath.Join(dir, FileName))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(ours.Bytes(), criu) {
		t.Errorf("our cpuinfo.img differs from CRIU's:\n ours % x\n criu % x", ours.Bytes(), criu)
	}
}

// fieldDiffs lists the fields of an x86 entry where a and b differ, with
// both values ("ours" a, "criu" b).
func fieldDiffs(a, b *images.CpuinfoX86Entry) []string {
	var out []string
	ra, rb := a.ProtoReflect(), b.ProtoReflect()
	fields := ra.Descriptor().Fields()
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		if ra.Has(fd) != rb.Has(fd) {
			out = append(out, fmt.Sprintf("%s: set %v in ours, %v in CRIU's", fd.Name(), ra.Has(fd), rb.Has(fd)))
			continue
		}
		va, vb := ra.Get(fd), rb.Get(fd)
		if fd.IsList() {
			la, lb := va.List(), vb.List()
			if la.Len() != lb.Len() {
				out = append(out, fmt.Sprintf("%s: %d values in ours, %d in CRIU's", fd.Name(), la.Len(), lb.Len()))
				continue
			}
			for j := 0; j < la.Len(); j++ {
				if !la.Get(j).Equal(lb.Get(j)) {
					out = append(out, fmt.Sprintf("%s[%d]: ours %v, CRIU's %v", fd.Name(), j, la.Get(j), lb.Get(j)))
				}
			}
			continue
		}
		if !va.Equal(vb) {
			out = append(out, fmt.Sprintf("%s: ours %v, CRIU's %v", fd.Name(), va, vb))
		}
	}
	return out
}

// newFake is a CPU with the given vendor and leaf 1 signature, basic
// leaves up to level and extended ones up to ext, with x87, FXSR and SSE.
func newFake(vendor string, level, ext, sig uint32) *fakeCPU {
	f := &fakeCPU{leaves: map[[2]uint32][4]uint32{}}
	v := []byte(vendor)
	le := binary.LittleEndian
	f.set(0, 0, level, le.Uint32(v[0:]), le.Uint32(v[8:]), le.Uint32(v[4:]))
	f.set(1, 0, sig, 0, 0, 1<<0|1<<24|1<<25)
	f.set(0x80000000, 0, ext, 0, 0, 0)
	return f
}

func (f *fakeCPU) brand(s string) {
	var b [48]byte
	copy(b[:], s)
	le := binary.LittleEndian
	for i := uint32(0); i < 3; i++ {
		p := b[16*i:]
		f.set(0x80000002+i, 0, le.Uint32(p[0:]), le.Uint32(p[4:]), le.Uint32(p[8:]), le.Uint32(p[12:]))
	}
}

func (f *fakeCPU) or(leaf, sub uint32, reg int, bits uint32) {
	r := f.leaves[[2]uint32{leaf, sub}]
	r[reg] |= bits
	f.leaves[[2]uint32{leaf, sub}] = r
}

const (
	eax = iota
	ebx
	ecx
	edx
)

func word(e *images.CpuinfoX86Entry, w int) uint32 { return e.GetCapability()[w] }

func TestReadIntel(t *testing.T) {
	// Family 6, extended model 5, model 5, stepping 4: a Skylake server.
	f := newFake("GenuineIntel", 0x16, 0x80000008, 0x00050654)
	f.brand("   Intel(R) Xeon(R) Gold")
	f.or(1, 0, ecx, 1<<26|1<<27|1<<28) // xsave osxsave avx
	f.set(7, 0, 0, 1<<16|1<<9, 0, 1<<2)
	f.set(0xd, 0, 0xe7, 0xa88, 0xa88, 0)
	f.set(0xd, 1, 0xf, 0, 0, 0)
	f.set(0x80000001, 0, 0, 0, 1, 1<<29)
	f.set(0xf, 0, 0, 0, 0, 1<<1) // cqm_llc: leaf 0xf.1 is read
	f.set(0xf, 1, 0, 0, 0, 0x7)
	e, err := Read(f.cpuid)
	if err != nil {
		t.Fatal(err)
	}
	if e.GetVendorId() != images.CpuinfoX86Entry_INTEL || e.GetCpuFamily() != 6 || e.GetModel() != 0x55 || e.GetStepping() != 4 {
		t.Errorf("vendor %v family %d model %#x stepping %d, want INTEL 6 0x55 4", e.GetVendorId(), e.GetCpuFamily(), e.GetModel(), e.GetStepping())
	}
	if e.GetModelId() != "Intel(R) Xeon(R) Gold" {
		t.Errorf("model_id %q: the leading blanks stay", e.GetModelId())
	}
	if w := word(e, wordLinux1); w != 1<<16|1<<20|1<<25 {
		t.Errorf("linux word %#x, want rep_good nopl cpuid", w)
	}
	if word(e, wordF1EDX) != 7 || word(e, word7EDX) != 4 || word(e, wordD1EAX) != 0xf || word(e, word80000001EDX) != 1<<29 {
		t.Errorf("words %x", e.GetCapability())
	}
	// AVX-512 is there (avx512f), so only compel's mask (no SSE, see the
	// package doc) changes 0xe7.
	if e.GetXfeaturesMask() != 0xe5 || e.GetXsaveSize() != 0xa88 || e.GetXsaveSizeMax() != 0xa88 {
		t.Errorf("xfeatures %#x sizes %d %d", e.GetXfeaturesMask(), e.GetXsaveSize(), e.GetXsaveSizeMax())
	}
	if len(e.GetCapability()) != NumWords || e.GetCapabilityVer() != CapabilityVer {
		t.Errorf("%d words of version %d", len(e.GetCapability()), e.GetCapabilityVer())
	}

	// The same CPU without avx512f in leaf 7: no AVX-512 state.
	f.set(7, 0, 0, 1<<9, 0, 0)
	if e, err = Read(f.cpuid); err != nil {
		t.Fatal(err)
	} else if e.GetXfeaturesMask() != 0x5 {
		t.Errorf("xfeatures %#x without avx512f, want 0x5", e.GetXfeaturesMask())
	}

	// Family 15 (a Pentium 4) loses rep_good and erms; basic leaves below
	// 0xd lose xsave, and with it every xsave field is 0.
	f = newFake("GenuineIntel", 0xb, 0x80000004, 0x00000f41)
	f.or(1, 0, ecx, 1<<26)
	f.set(7, 0, 0, 1<<9, 0, 0)
	f.brand("")
	e, err = Read(f.cpuid)
	if err != nil {
		t.Fatal(err)
	}
	if e.GetCpuFamily() != 15 || word(e, word7EBX) != 0 || word(e, wordLinux1)&(1<<16) != 0 || word(e, word1ECX) != 0 {
		t.Errorf("family %d, words %x", e.GetCpuFamily(), e.GetCapability())
	}
	if e.ModelId != nil {
		t.Errorf("an empty brand string gives model_id %q, want none", e.GetModelId())
	}
	if e.XfeaturesMask == nil || e.GetXfeaturesMask() != 0 || e.GetXsaveSize() != 0 || e.XsaveSizeMax == nil {
		t.Errorf("without xsave: %v", e)
	}
	for _, q := range f.unseen {
		if q[0] == 0xd {
			t.Errorf("leaf 0xd read below level 0xd")
		}
	}
}

func TestReadAMD(t *testing.T) {
	for _, c := range []struct {
		vendor  string
		sig     uint32
		family  uint32
		repGood bool
	}{
		{"AuthenticAMD", 0x00a00f11, 0x19, true}, // Zen 3
		{"HygonGenuine", 0x00900f01, 0x18, true},
		{"AuthenticAMD", 0x00000f48, 0xf, true}, // K8 rev C
		{"AuthenticAMD", 0x00000f50, 0xf, false},
		{"AuthenticAMD", 0x00000f58, 0xf, true},
	} {
		f := newFake(c.vendor, 0x10, 0x80000021, c.sig)
		f.or(1, 0, edx, 1<<31)
		f.set(0x80000007, 0, 0, 0x5, 0, 0)
		f.set(0x8000000a, 0, 0, 0, 0, 0x1)
		f.set(0x80000008, 0, 0, 0x1, 0, 0)
		f.set(6, 0, 0x4, 0, 0, 0)
		f.brand("AMD EPYC")
		e, err := Read(f.cpuid)
		if err != nil {
			t.Fatal(err)
		}
		if e.GetVendorId() != images.CpuinfoX86Entry_AMD || e.GetCpuFamily() != c.family {
			t.Errorf("%s %#x: vendor %v family %#x", c.vendor, c.sig, e.GetVendorId(), e.GetCpuFamily())
		}
		if got := word(e, wordLinux1)&(1<<16) != 0; got != c.repGood {
			t.Errorf("%s %#x: rep_good %v, want %v", c.vendor, c.sig, got, c.repGood)
		}
		if word(e, word1EDX)&(1<<31) != 0 {
			t.Errorf("%s: bit 31 of leaf 1 edx kept", c.vendor)
		}
		if word(e, word80000007EBX) != 5 || word(e, word8000000AEDX) != 1 || word(e, word80000008EBX) != 1 || word(e, word6EAX) != 4 {
			t.Errorf("%s: words %x", c.vendor, e.GetCapability())
		}
		if e.GetModelId() != "AMD EPYC" {
			t.Errorf("model_id %q", e.GetModelId())
		}
	}
}

func TestReadRefuses(t *testing.T) {
	f := newFake("CentaurHauls", 0xd, 0x80000008, 0x6f0)
	if _, err := Read(f.cpuid); !errors.Is(err, ErrNotSupported) || !strings.Contains(err.Error(), "CentaurHauls") {
		t.Errorf("VIA: %v", err)
	}
	f = newFake("AuthenticAMD", 0xd, 0x80000008, 0xa00f11)
	f.set(1, 0, 0xa00f11, 0, 0, 1)
	if _, err := Read(f.cpuid); !errors.Is(err, ErrNotSupported) {
		t.Errorf("no fxsr: %v", err)
	}
	f = newFake("AuthenticAMD", 0xd, 0x80000008, 0xa00f11)
	f.or(1, 0, ecx, 1<<26)
	f.set(0xd, 0, 0x1, 0, 0, 0)
	if _, err := Read(f.cpuid); !errors.Is(err, ErrNotSupported) {
		t.Errorf("xsave without sse state: %v", err)
	}
}

// TestInsMask: the words of the ins check are CRIU 4.2.1's
// x86_ins_capability_mask, as its criu binary holds it.
func TestInsMask(t *testing.T) {
	want := [NumWords]uint32{
		0x07888911, 0xc8400800, 0, 0x00110000, 0x7ed8220b, 0, 0x002109e0, 0, 0,
		0xfc8f4b39, 0x00000007, 0x00407f42, 0, 0x00000001, 0, 0, 0, 0, 0x0000000c,
	}
	if insMask != want {
		t.Errorf("ins mask\n got  %08x\n want %08x", insMask, want)
	}
}

func TestFeatureNames(t *testing.T) {
	for f, want := range map[Feature]string{
		feat(word1EDX, 25):  "sse",
		feat(word1ECX, 0):   "pni",
		feat(word1ECX, 19):  "sse4_1",
		feat(word7EBX, 16):  "avx512f",
		feat(word7EBX, 30):  "avx512bw",
		feat(word7ECX, 14):  "avx512_vpopcntdq",
		feat(wordD1EAX, 3):  "xsaves",
		feat(word7EDX, 4):   "fsrm",
		feat(word7EBX, 13):  "cpuid 0x7.0 ebx bit 13",
		feat(wordLinux2, 0): "linux word 7 bit 0",
	} {
		if got := f.String(); got != want {
			t.Errorf("feature %d: %q, want %q", f, got, want)
		}
	}
	// A name says one bit.
	seen := map[string]Feature{}
	for w, bits := range names {
		for b, n := range bits {
			if f, dup := seen[n]; dup {
				t.Errorf("%q names both %d and %d", n, f, feat(w, b))
			}
			seen[n] = feat(w, b)
		}
	}
}
