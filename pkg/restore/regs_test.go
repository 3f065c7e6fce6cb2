package restore

import (
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/criugo/criugo/images"
	"github.com/criugo/criugo/internal/testutil"
)

func neg(e int64) uint64 { return uint64(-e) }

func TestFinalRegsRestart(t *testing.T) {
	cases := []struct {
		name           string
		ax, origAx, ip uint64
		wantAx, wantIP uint64
	}{
		{"ERESTARTNOHAND", neg(errRestartNoHand), 34, 0x1002, 34, 0x1000},
		{"ERESTARTSYS", neg(errRestartSys), 0, 0x1002, 0, 0x1000},
		{"ERESTARTNOINTR", neg(errRestartNoIntr), 61, 0x1002, 61, 0x1000},
		{"ERESTART_RESTARTBLOCK", neg(errRestartRestartBlock), 230, 0x1002, neg(errEINTR), 0x1002},
		{"not in a syscall", neg(errRestartSys), ^uint64(0), 0x1002, neg(errRestartSys), 0x1002},
		{"already adjusted (CRIU)", 34, 34, 0x1000, 34, 0x1000},
	}
	for _, c := range cases {
		mode := images.UserX86RegsMode_NATIVE
		g := &images.UserX86RegsEntry{Ax: &c.ax, OrigAx: &c.origAx, Ip: &c.ip, Mode: &mode}
		r, err := finalRegs(g)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if r.Rax != c.wantAx || r.Rip != c.wantIP || r.OrigRax != ^uint64(0) {
			t.Errorf("%s: ax %#x ip %#x orig_ax %#x, want ax %#x ip %#x orig_ax -1", c.name, r.Rax, r.Rip, r.OrigRax, c.wantAx, c.wantIP)
		}
	}
	compat := images.UserX86RegsMode_COMPAT
	if _, err := finalRegs(&images.UserX86RegsEntry{Mode: &compat}); !errors.Is(err, ErrNotSupported) {
		t.Errorf("compat registers: %v", err)
	}
}

func TestFillXsave(t *testing.T) {
	core, err := single[*images.CoreEntry](fixtureImages(t, "loop"), "core-16226.img")
	if err != nil {
		t.Fatal(err)
	}
	fp := core.GetThreadInfo().GetFpregs()
	// The AMD Zen 4 layout: opmask right after the AVX state.
	var l xsaveLayout
	l.off[xfeatYMM], l.size[xfeatYMM] = 576, 256
	l.off[xfeatOpmask], l.size[xfeatOpmask] = 832, 64
	l.off[xfeatZMMHi256], l.size[xfeatZMMHi256] = 896, 512
	l.off[xfeatHi16ZMM], l.size[xfeatHi16ZMM] = 1408, 1024
	buf := make([]byte, 2432)
	binary.LittleEndian.PutUint64(buf[fxswXfeaturesOff:], 0xe7)
	if err := fillXsave(buf, fp, &l); err != nil {
		t.Fatal(err)
	}
	le := binary.LittleEndian
	if le.Uint16(buf[0:]) != uint16(fp.GetCwd()) || le.Uint32(buf[24:]) != fp.GetMxcsr() {
		t.Errorf("legacy area: cwd %#x mxcsr %#x", le.Uint16(buf[0:]), le.Uint32(buf[24:]))
	}
	if got := le.Uint32(buf[160+4*6:]); got != fp.GetXmmSpace()[6] {
		t.Errorf("xmm word 6: %#x, want %#x", got, fp.GetXmmSpace()[6])
	}
	if got := le.Uint64(buf[512:]); got != fp.GetXsave().GetXstateBv() {
		t.Errorf("xstate_bv %#x, want %#x", got, fp.GetXsave().GetXstateBv())
	}
	if got := le.Uint64(buf[832:]); got != fp.GetXsave().GetOpmaskReg()[0] {
		t.Errorf("k0 %#x, want %#x", got, fp.GetXsave().GetOpmaskReg()[0])
	}
	if got := le.Uint64(buf[1408+8*8:]); got != fp.GetXsave().GetHi16Zmm()[8] {
		t.Errorf("hi16_zmm word 8 %#x, want %#x", got, fp.GetXsave().GetHi16Zmm()[8])
	}
	// A CPU without AVX-512 cannot take this state.
	binary.LittleEndian.PutUint64(buf[fxswXfeaturesOff:], 0x7)
	if err := fillXsave(buf, fp, &l); !errors.Is(err, ErrNotSupported) {
		t.Errorf("AVX-512 state on an AVX2 CPU: %v", err)
	}
}

func TestSameVdsoCode(t *testing.T) {
	pages, err := os.ReadFile(filepath.Join(testutil.FixturesDir(t), "criu-4.2", "images", "loop", "pages-1.img"))
	if err != nil {
		t.Fatal(err)
	}
	// pagemap-16226.img: 1+5+1+2 pages come before the 2 [vdso] pages.
	vdso := pages[9*pageSize : 11*pageSize]
	if vdso[0] != 0x7f || string(vdso[1:4]) != "ELF" {
		t.Fatal("no ELF header where the vdso pages should be")
	}
	if !sameVdsoCode(vdso, vdso) {
		t.Error("a vdso differs from itself")
	}
	other := append([]byte(nil), vdso...)
	other[0x604] ^= 0xff // in the build-id note
	if !sameVdsoCode(vdso, other) {
		t.Error("a different build id makes the code differ")
	}
	other = append([]byte(nil), vdso...)
	other[0x800] ^= 0xff // in .text
	if sameVdsoCode(vdso, other) {
		t.Error("different code passes")
	}
	if sameVdsoCode(vdso, make([]byte, len(vdso))) {
		t.Error("zeros pass for a vdso")
	}
}
