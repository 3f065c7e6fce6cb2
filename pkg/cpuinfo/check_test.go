package cpuinfo

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/criugo/criugo/images"
	"github.com/criugo/criugo/internal/testutil"
)

func TestParseCaps(t *testing.T) {
	// What CRIU 4.2.1 makes of each (criu cpuinfo check --cpu-cap=...).
	for in, want := range map[string]Caps{
		"":          CapAll,
		"fpu":       CapFPU | CapINS,
		"ins":       CapFPU | CapINS,
		"cpu":       CapAll,
		"all":       CapAll,
		"none":      CapNone,
		"^none":     CapAll,
		"^ins":      CapFPU,
		"^fpu":      CapINS,
		"fpu,^ins":  CapFPU,
		"^fpu,^ins": CapNone,
		"^fpu,ins":  CapINS,
		"^fpuins":   CapNone,
		"^all":      CapNone,
		"none,cpu":  CapCPU,
		"fpucpu":    CapAll,
	} {
		got, err := ParseCaps(in)
		if err != nil || got != want {
			t.Errorf("ParseCaps(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"xsave", "fpux", "fpu;ins", "FPU"} {
		if c, err := ParseCaps(in); !errors.Is(err, ErrBadCaps) {
			t.Errorf("ParseCaps(%q) = %v, %v; want ErrBadCaps", in, c, err)
		}
	}
	if s := (CapFPU | CapCPU).String(); s != "fpu,cpu" {
		t.Errorf("String %q", s)
	}
	if s := CapNone.String(); s != "none" {
		t.Errorf("String %q", s)
	}
}

// recorded is the recorded CPU of testdata/host, as CRIU described it.
func recorded(t *testing.T) *images.CpuinfoX86Entry {
	t.Helper()
	e, err := ReadDir(filepath.Join("testdata", "host"))
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestCheck(t *testing.T) {
	host := recorded(t)
	avx512 := feat(word7EBX, 16)
	arat := feat(word6EAX, 2)
	for _, c := range []struct {
		name string
		edit func(e *images.CpuinfoX86Entry)
		// fails[i] says whether the check with caps[i] fails.
		fails [4]bool
		// want are words the message of the failing fpu,ins check (or,
		// when it passes, all) has.
		want []string
	}{
		{"same", func(*images.CpuinfoX86Entry) {}, [4]bool{}, nil},
		{"avx-512 state", func(e *images.CpuinfoX86Entry) { *e.XfeaturesMask |= 0xe0 },
			[4]bool{true, false, true, true},
			[]string{"AVX-512 opmask, AVX-512 ZMM_Hi256, AVX-512 Hi16_ZMM", "0xe0", "which this CPU (0x5) lacks"}},
		{"avx512f avx512bw", func(e *images.CpuinfoX86Entry) { e.Capability[word7EBX] |= 1<<16 | 1<<30 },
			[4]bool{false, true, true, true}, []string{"needs avx512f, avx512bw, which this CPU lacks"}},
		{"a bigger xsave area", func(e *images.CpuinfoX86Entry) { *e.XsaveSize = 2432; *e.XsaveSizeMax = 2440 },
			[4]bool{true, false, true, true},
			[]string{"xsave area of 2432 bytes, this CPU's is 832", "largest xsave area of 2440 bytes, this CPU's is 832"}},
		{"arat missing in the image", func(e *images.CpuinfoX86Entry) { e.Capability[word6EAX] &^= 1 << 2 },
			[4]bool{false, false, false, true}, []string{"this CPU has arat, which the image lacks"}},
		{"a bit nobody names", func(e *images.CpuinfoX86Entry) { e.Capability[word7EBX] |= 1 << 13 },
			[4]bool{false, false, false, true}, []string{"needs cpuid 0x7.0 ebx bit 13, which this CPU lacks"}},
		{"version 1", func(e *images.CpuinfoX86Entry) {
			*e.CapabilityVer = 1
			e.Capability = e.Capability[:wordsV1]
		}, [4]bool{}, nil},
		{"no xsave fields", func(e *images.CpuinfoX86Entry) {
			e.XfeaturesMask, e.XsaveSize, e.XsaveSizeMax = nil, nil, nil
		}, [4]bool{}, nil},
		{"another vendor", func(e *images.CpuinfoX86Entry) { e.VendorId = images.CpuinfoX86Entry_INTEL.Enum() }, [4]bool{}, nil},
	} {
		caps := [4]Caps{CapFPU, CapINS, CapDefault, CapAll}
		for i, cp := range caps {
			img := proto.Clone(host).(*images.CpuinfoX86Entry)
			c.edit(img)
			err := Check(img, host, cp)
			if (err != nil) != c.fails[i] {
				t.Errorf("%s, %v: %v, want failure %v", c.name, cp, err, c.fails[i])
				continue
			}
			if err == nil {
				continue
			}
			var m *Mismatch
			if !errors.As(err, &m) || !errors.Is(err, ErrCPUFeature) {
				t.Errorf("%s, %v: %v is not a Mismatch wrapping ErrCPUFeature", c.name, cp, err)
			}
			if cp == CapDefault || (cp == CapAll && !c.fails[2]) {
				for _, w := range c.want {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("%s, %v: %q does not say %q", c.name, cp, err, w)
					}
				}
			}
		}
	}
	// The named bits are the Missing ones, in order.
	img := proto.Clone(host).(*images.CpuinfoX86Entry)
	img.Capability[word7EBX] |= 1<<30 | 1<<16
	img.Capability[word6EAX] &^= 1 << 2
	var m *Mismatch
	if err := Check(img, host, CapAll); !errors.As(err, &m) {
		t.Fatal(err)
	}
	if len(m.Missing) != 2 || m.Missing[0] != avx512 || m.Missing[1] != feat(word7EBX, 30) || len(m.Extra) != 1 || m.Extra[0] != arat {
		t.Errorf("missing %v extra %v", m.Missing, m.Extra)
	}
	// The fpu check names the FPU bits the host lacks.
	noXsaves := proto.Clone(host).(*images.CpuinfoX86Entry)
	noXsaves.Capability[wordD1EAX] &^= 1 << 3
	if err := Check(host, noXsaves, CapFPU); err == nil || !strings.Contains(err.Error(), "needs xsaves, which") {
		t.Errorf("xsaves missing on the host: %v", err)
	}
	if err := Check(host, noXsaves, CapINS); err != nil {
		t.Errorf("xsaves is not an ins bit: %v", err)
	}
}

func TestCheckBadImage(t *testing.T) {
	host := recorded(t)
	for name, edit := range map[string]func(*images.CpuinfoX86Entry){
		"vendor 3":                       func(e *images.CpuinfoX86Entry) { e.VendorId = images.CpuinfoX86EntryVendor(3).Enum() },
		"vendor unknown":                 func(e *images.CpuinfoX86Entry) { e.VendorId = images.CpuinfoX86Entry_UNKNOWN.Enum() },
		"capability_ver 3":               func(e *images.CpuinfoX86Entry) { *e.CapabilityVer = 3 },
		"18 words":                       func(e *images.CpuinfoX86Entry) { e.Capability = e.Capability[:18] },
		"version 1 with 19 words":        func(e *images.CpuinfoX86Entry) { *e.CapabilityVer = 1 },
		"version 2 with 20 words":        func(e *images.CpuinfoX86Entry) { e.Capability = append(e.Capability, 0) },
		"version 2 with no words at all": func(e *images.CpuinfoX86Entry) { e.Capability = nil },
	} {
		img := proto.Clone(host).(*images.CpuinfoX86Entry)
		edit(img)
		if err := Check(img, host, CapFPU); !errors.Is(err, ErrBadImage) {
			t.Errorf("%s: %v, want ErrBadImage", name, err)
		}
		if err := Check(img, host, CapNone); err != nil {
			t.Errorf("%s with no checks: %v", name, err)
		}
	}
}

// TestCheckFixture: CRIU 4.2's cpuinfo.img of the AMD Zen 4 the fixtures
// were dumped on needs AVX-512, which the recorded CPU lacks.
func TestCheckFixture(t *testing.T) {
	e, err := ReadDir(filepath.Join(testutil.FixturesDir(t), "criu-4.2-zoo", "images", "cpuinfo"))
	if err != nil {
		t.Fatal(err)
	}
	err = Check(e, recorded(t), CapDefault)
	var m *Mismatch
	if !errors.As(err, &m) {
		t.Fatalf("%v, want a Mismatch", err)
	}
	if m.Xfeatures != 0xe0 {
		t.Errorf("xfeatures %v", m.Xfeatures)
	}
	for _, w := range []string{"avx512f", "avx512bw", "avx512vl", "AVX-512 Hi16_ZMM", "xsave area of 2432 bytes"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("%q does not say %q", err, w)
		}
	}
	t.Log(err)
}
