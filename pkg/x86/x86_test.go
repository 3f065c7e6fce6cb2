package x86

import (
	"encoding/binary"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/criugo/criugo/images"
	"github.com/criugo/criugo/internal/testutil"
	"github.com/criugo/criugo/pkg/image"
	"github.com/criugo/criugo/pkg/ptrace"
	"google.golang.org/protobuf/proto"
)

func TestRestartRule(t *testing.T) {
	for _, c := range []struct {
		name           string
		ax, orig, ip   uint64
		wantAx, wantIP uint64
	}{
		{"ERESTARTNOHAND (pause)", negErrno(erestartNoHand), 34, 0x1002, 34, 0x1000},
		{"ERESTARTSYS", negErrno(erestartSys), 0, 0x1002, 0, 0x1000},
		{"ERESTARTNOINTR", negErrno(erestartNoIntr), 61, 0x1002, 61, 0x1000},
		{"ERESTART_RESTARTBLOCK (nanosleep)", negErrno(erestartRestartBlock), 230, 0x1002, negErrno(eintr), 0x1002},
		{"not in a syscall", negErrno(erestartSys), ^uint64(0), 0x1002, negErrno(erestartSys), 0x1002},
		{"a finished syscall", 5, 1, 0x1002, 5, 0x1002},
	} {
		g := GpregsFromRegs(ptrace.Regs{Rax: c.ax, OrigRax: c.orig, Rip: c.ip, Cs: 0x33})
		if g.GetAx() != c.wantAx || g.GetIp() != c.wantIP || g.GetOrigAx() != c.orig {
			t.Errorf("%s: dump: ax %#x ip %#x, want ax %#x ip %#x", c.name, g.GetAx(), g.GetIp(), c.wantAx, c.wantIP)
		}
		if g.Mode == nil || g.GetMode() != images.UserX86RegsMode_NATIVE {
			t.Errorf("%s: mode %v, want NATIVE set", c.name, g.Mode)
		}
		// Restore applies the rule to raw images too, and to ours it
		// changes nothing more.
		raw := &images.UserX86RegsEntry{Ax: ptr(c.ax), OrigAx: ptr(c.orig), Ip: ptr(c.ip), Mode: images.UserX86RegsMode_NATIVE.Enum()}
		for _, in := range []*images.UserX86RegsEntry{raw, g} {
			r, err := RegsFromGpregs(in)
			if err != nil {
				t.Fatal(err)
			}
			if r.Rax != c.wantAx || r.Rip != c.wantIP || r.OrigRax != ^uint64(0) {
				t.Errorf("%s: restore: ax %#x ip %#x orig %#x, want ax %#x ip %#x orig -1", c.name, r.Rax, r.Rip, r.OrigRax, c.wantAx, c.wantIP)
			}
		}
	}
	if _, err := RegsFromGpregs(&images.UserX86RegsEntry{Mode: images.UserX86RegsMode_COMPAT.Enum()}); !errors.Is(err, ErrNotSupported) {
		t.Errorf("compat registers: %v", err)
	}
	if _, err := RegsFromGpregs(nil); !errors.Is(err, ErrBadImage) {
		t.Errorf("no registers: %v", err)
	}
}

func TestGpregsRoundTrip(t *testing.T) {
	in := ptrace.Regs{R15: 1, R14: 2, R13: 3, R12: 4, Rbp: 5, Rbx: 6, R11: 7, R10: 8, R9: 9, R8: 10,
		Rax: 11, Rcx: 12, Rdx: 13, Rsi: 14, Rdi: 15, OrigRax: ^uint64(0), Rip: 16, Cs: 0x33, Eflags: 0x246,
		Rsp: 17, Ss: 0x2b, FsBase: 18, GsBase: 19, Ds: 20, Es: 21, Fs: 22, Gs: 23}
	out, err := RegsFromGpregs(GpregsFromRegs(in))
	if err != nil {
		t.Fatal(err)
	}
	if *out != in {
		t.Errorf("round trip changed the registers:\n got  %+v\n want %+v", *out, in)
	}
}

// zen4 is the standard layout of an AMD Zen 4: opmask right after AVX.
func zen4() *Layout {
	var l Layout
	l.Off[featYMM], l.Size[featYMM] = 576, 256
	l.Off[featOpmask], l.Size[featOpmask] = 832, 64
	l.Off[featZMMHi256], l.Size[featZMMHi256] = 896, 512
	l.Off[featHi16ZMM], l.Size[featHi16ZMM] = 1408, 1024
	l.Off[featPKRU], l.Size[featPKRU] = 2432, 8
	return &l
}

func fixtureFpregs(t *testing.T) *images.UserX86FpregsEntry {
	dir := filepath.Join(testutil.FixturesDir(t), "criu-4.2", "images", "loop")
	img, err := image.ReadFile(dir, "core-16226.img")
	if err != nil {
		t.Fatal(err)
	}
	return img.Entries[0].Msg.(*images.CoreEntry).GetThreadInfo().GetFpregs()
}

// TestXsaveRoundTrip fills an area from CRIU's image and reads it back.
func TestXsaveRoundTrip(t *testing.T) {
	fp := fixtureFpregs(t)
	buf := make([]byte, 2440)
	binary.LittleEndian.PutUint64(buf[xcr0Offset:], 0xe7) // x87 SSE AVX opmask zmm_hi256 hi16_zmm
	if err := FillXsave(buf, fp, zen4()); err != nil {
		t.Fatal(err)
	}
	le := binary.LittleEndian
	if got := le.Uint64(buf[832:]); got != fp.GetXsave().GetOpmaskReg()[0] {
		t.Errorf("k0 at the Zen 4 offset: %#x, want %#x", got, fp.GetXsave().GetOpmaskReg()[0])
	}
	back, err := FpregsFromXsave(buf, zen4())
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(back, fp) {
		t.Errorf("xsave round trip differs:\n got  %v\n want %v", back, fp)
	}
	// A CPU without AVX-512 cannot take this state.
	le.PutUint64(buf[xcr0Offset:], 0x7)
	if err := FillXsave(buf, fp, zen4()); !errors.Is(err, ErrNotSupported) {
		t.Errorf("AVX-512 state on an AVX2 CPU: %v", err)
	}
}

func TestFpregsFromXsaveErrors(t *testing.T) {
	if _, err := FpregsFromXsave(make([]byte, 500), zen4()); !errors.Is(err, ErrBadArea) {
		t.Errorf("short area: %v, want ErrBadArea", err)
	}
	xs := make([]byte, 1000)
	binary.LittleEndian.PutUint64(xs[xcr0Offset:], 0xe7)
	if _, err := FpregsFromXsave(xs, zen4()); !errors.Is(err, ErrBadArea) {
		t.Errorf("components beyond the area: %v, want ErrBadArea", err)
	}
	bad := *zen4()
	bad.Size[featYMM] = 128
	if _, err := FpregsFromXsave(make([]byte, 2440), &bad); err != nil {
		t.Errorf("XCR0 without AVX must not look at its layout: %v", err)
	}
}

func TestCPULayout(t *testing.T) {
	l := CPULayout()
	if l.Size[featYMM] != 0 && (l.Size[featYMM] != 256 || l.Off[featYMM] != 576) {
		t.Errorf("AVX component at %d+%d, the standard format puts it at 576+256", l.Off[featYMM], l.Size[featYMM])
	}
}

func TestTLSDesc(t *testing.T) {
	var b [UserDescSize]byte
	binary.LittleEndian.PutUint32(b[0:], GDTEntryTLSMin)
	b[12] = 1<<0 | 1<<2 | 1<<6 // 32-bit, contents 2, usable
	d := TLSDesc(b[:])
	if d.GetEntryNumber() != GDTEntryTLSMin || !d.GetSeg_32Bit() || !d.GetContentsH() || d.GetContentsL() || !d.GetUsable() || d.GetReadExecOnly() {
		t.Errorf("bits: %v", d)
	}
}

func TestHostFeatures(t *testing.T) {
	h := HostFeatures()
	if h&legacyFeatures != legacyFeatures {
		t.Fatalf("host features %#x (%s) lack x87 or SSE", uint64(h), h)
	}
	t.Logf("host xsave features %#x: %s", uint64(h), h)
	// The kernel reports the same mask in every thread's xsave area.
	if l := CPULayout(); h&(1<<featYMM) != 0 && l.Size[featYMM] != 256 {
		t.Errorf("AVX enabled but its component is %d bytes", l.Size[featYMM])
	}
}

func TestCheckFeatures(t *testing.T) {
	if err := CheckFeatures(0x7, 0x7); err != nil {
		t.Fatal(err)
	}
	err := CheckFeatures(0xe7, 0x7)
	if !errors.Is(err, ErrCPUFeature) {
		t.Fatalf("CheckFeatures(0xe7, 0x7) = %v, want ErrCPUFeature", err)
	}
	for _, want := range []string{"AVX-512 opmask", "AVX-512 ZMM_Hi256", "AVX-512 Hi16_ZMM", "0xe0"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %q", err, want)
		}
	}
	if got := Features(1 << 40).String(); got != "xsave feature 40" {
		t.Errorf("unknown feature named %q", got)
	}
}

func TestXsaveFieldFeature(t *testing.T) {
	for field, want := range map[string]Features{"ymmh_space": 1 << 2, "opmask_reg": 1 << 5, "zmm_upper": 1 << 6, "hi16_zmm": 1 << 7, "pkru": 1 << 9} {
		if got, ok := XsaveFieldFeature(field); !ok || got != want {
			t.Errorf("XsaveFieldFeature(%q) = %#x, %v; want %#x", field, uint64(got), ok, uint64(want))
		}
	}
	for _, field := range []string{"xstate_bv", "cet", "nonsense"} {
		if got, ok := XsaveFieldFeature(field); ok {
			t.Errorf("XsaveFieldFeature(%q) = %#x, want none", field, uint64(got))
		}
	}
}
