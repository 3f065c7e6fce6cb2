package restore

import (
	"bytes"
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/criugo/criugo/images"
	"github.com/criugo/criugo/internal/testutil"
	"github.com/criugo/criugo/pkg/image"
	"github.com/criugo/criugo/pkg/x86"
)

// A vDSO mismatch made on any kernel: test/programs/vdso is dumped, then
// the code of its dumped [vdso] is replaced by int3 instructions, so that
// the image's vDSO is no longer this kernel's (sameVdsoCode says so) and
// any call that runs the dumped code traps. The symbol table stays: the
// program's C library holds pointers to the dumped entry points, as a
// program dumped on another kernel does. The restore must proxy the
// entry points to this kernel's vDSO, and the program then checks every
// vDSO call against the system call.
func TestRestoreVdsoMismatch(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.LockFixtures(t)
	bin, prog := dumpTools(t, "vdso")
	p, set := dumpProgram(t, bin, prog)
	entries := editVdso(t, set, p.pid, poisonCode)
	t.Logf("poisoned the code of the dumped [vdso]; its entry points: %s", strings.Join(entries, " "))

	for _, stream := range []bool{false, true} {
		os.Remove(p.outfile)
		var log bytes.Buffer
		opts := Options{Dir: set, Detach: true, Log: &log}
		if stream {
			var b bytes.Buffer
			if err := image.PackDir(set, &b, true); err != nil {
				t.Fatal(err)
			}
			opts = Options{Stdin: &b, Detach: true, Log: &log}
		}
		res, err := Restore(context.Background(), opts)
		if err != nil {
			t.Fatalf("restore (stream %v): %v\n%s", stream, err, log.String())
		}
		if !strings.Contains(log.String(), "is not this kernel's: proxy") {
			t.Errorf("restore (stream %v) log does not say it proxied the vDSO:\n%s", stream, log.String())
		}
		if got := p.result(t); got != "PASS" {
			t.Errorf("restored program (stream %v): %s", stream, got)
		}
		testutil.WaitGone(t, res.Pids)
	}
}

// dumpProgram starts test program prog (built by dumpTools into bin) and
// dumps it with criu-seize | criu-parasite into a new set, which kills it.
func dumpProgram(t *testing.T, bin, prog string) (*chainProgram, string) {
	t.Helper()
	work := t.TempDir()
	p := startChainProgram(t, prog, work)
	set := filepath.Join(work, "set")
	cmd := exec.Command("/bin/sh", "-c", `"$0"/criu-seize -t "$1" | "$0"/criu-parasite -D "$2"`, bin, strconv.Itoa(p.pid), set)
	if out, err := cmd.CombinedOutput(); err != nil {
		syscall.Kill(p.pid, syscall.SIGKILL)
		testutil.WaitGone(t, []int{p.pid})
		t.Fatalf("dump: %v: %s", err, out)
	}
	testutil.WaitGone(t, []int{p.pid})
	return p, set
}

// poisonCode overwrites every executable section of a vDSO with int3.
func poisonCode(t *testing.T, f *elf.File, code []byte) {
	for _, s := range f.Sections {
		if s.Flags&elf.SHF_EXECINSTR != 0 {
			for i := s.Offset; i < s.Offset+s.Size; i++ {
				code[i] = 0xcc
			}
		}
	}
}

// touchAltinstr changes one byte of the vDSO's .altinstr_replacement, code
// the kernel copies over .text at boot and that never runs where it
// is: the vDSO compares as another kernel's and runs as this one.
func touchAltinstr(t *testing.T, f *elf.File, code []byte) {
	s := f.Section(".altinstr_replacement")
	if s == nil || s.Size == 0 || s.Flags&elf.SHF_EXECINSTR == 0 {
		t.Skip("this kernel's vDSO has no .altinstr_replacement to change")
	}
	code[s.Offset] ^= 0xff
}

// editVdso rewrites with edit the [vdso] that set holds for pid and
// returns the names of its entry points.
func editVdso(t *testing.T, set string, pid int, edit func(*testing.T, *elf.File, []byte)) []string {
	t.Helper()
	img, err := image.ReadFile(set, mmName(uint32(pid)))
	if err != nil {
		t.Fatal(err)
	}
	var vdso *images.VmaEntry
	for _, v := range img.Entries[0].Msg.(*images.MmEntry).GetVmas() {
		if v.GetStatus()&images.VmaAreaVdso != 0 {
			vdso = v
		}
	}
	if vdso == nil {
		t.Fatal("the dump has no [vdso]")
	}
	pm := readPagemapFile(t, set, pagemapName(uint32(pid)))
	var code []byte
	for a := vdso.GetStart(); a < vdso.GetEnd(); a += pageSize {
		pg := pm.page(a)
		if pg == nil {
			t.Fatalf("page %#x of the [vdso] is not in the dump", a)
		}
		code = append(code, pg...)
	}
	f, err := elf.NewFile(bytes.NewReader(code))
	if err != nil {
		t.Fatal(err)
	}
	edit(t, f, code)
	if sameVdsoCode(code, ownVdso(t)) {
		t.Fatal("the edited vDSO still compares as this kernel's")
	}
	funcs, err := vdsoFuncs(code)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, fn := range funcs {
		names = append(names, fn.name)
	}
	for a := vdso.GetStart(); a < vdso.GetEnd(); a += pageSize {
		copy(pm.page(a), code[a-vdso.GetStart():])
	}
	pm.write(t, set, pagemapName(uint32(pid)))
	return names
}

// proxyPlan on this kernel's own vDSO: every exported function gets a
// jump to itself at the host base, aliases one jump between them.
func TestProxyPlan(t *testing.T) {
	img := ownVdso(t)
	const base = 0x7f0000000000
	patched, patches, unmatched, err := proxyPlan(img, img, base)
	if err != nil {
		t.Fatal(err)
	}
	if len(unmatched) != 0 {
		t.Errorf("unmatched entry points %v", unmatched)
	}
	funcs, err := vdsoFuncs(img)
	if err != nil {
		t.Fatal(err)
	}
	offs := map[uint64]bool{}
	for _, f := range funcs {
		offs[f.off] = true
	}
	if len(patches) != len(offs) || len(patches) == 0 {
		t.Fatalf("%d jumps for %d entry points", len(patches), len(offs))
	}
	for _, p := range patches {
		if want := jumpTo(base + p.off); !bytes.Equal(patched[p.off:p.off+jumpLen], want) {
			t.Errorf("%v: %x, want %x", p.names, patched[p.off:p.off+jumpLen], want)
		}
		if !bytes.Equal(p.orig, img[p.off:p.off+jumpLen]) {
			t.Errorf("%v: original bytes not kept", p.names)
		}
	}
	if _, _, _, err := proxyPlan(img[:64], img, base); err == nil {
		t.Error("a cut vDSO image was taken")
	}
}

// ownVdso reads this process's [vdso].
func ownVdso(t *testing.T) []byte {
	t.Helper()
	maps, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	for _, l := range strings.Split(string(maps), "\n") {
		if !strings.HasSuffix(l, "[vdso]") {
			continue
		}
		var lo, hi uint64
		if _, err := fmt.Sscanf(l, "%x-%x", &lo, &hi); err != nil {
			t.Fatal(err)
		}
		f, err := os.Open("/proc/self/mem")
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		b := make([]byte, hi-lo)
		if _, err := f.ReadAt(b, int64(lo)); err != nil {
			t.Fatal(err)
		}
		return b
	}
	t.Skip("this process has no [vdso]")
	return nil
}

// A thread dumped inside the vDSO must not run the dumped code after a
// proxied restore (it would read the zeroed vvar, or land inside a jump):
// test/programs/vdso with VDSO_SPIN=1 calls the vDSO back to back, and its
// dumped vDSO is made to compare as another kernel's while running the
// same code. Rounds go on until a dump holds a thread whose ip is inside
// the [vdso] (12 at most; most rounds do): the restore must say it
// finished that thread's call, and the program's clock must never go back
// or read 0.
func TestRestoreVdsoThreadInside(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.LockFixtures(t)
	bin, prog := dumpTools(t, "vdso")
	t.Setenv("VDSO_SPIN", "1")
	for round := 0; ; round++ {
		if round == 12 {
			t.Fatal("no dump in 12 caught a thread inside the [vdso]")
		}
		p, set := dumpProgram(t, bin, prog)
		editVdso(t, set, p.pid, touchAltinstr)
		inside := threadsInVdso(t, set, p.pid)
		var log bytes.Buffer
		res, err := Restore(context.Background(), Options{Dir: set, Detach: true, Log: &log})
		if err != nil {
			t.Fatalf("restore: %v\n%s", err, log.String())
		}
		if !strings.Contains(log.String(), "is not this kernel's: proxy") {
			t.Errorf("the restore did not proxy the vDSO:\n%s", log.String())
		}
		for _, tid := range inside {
			if !strings.Contains(log.String(), fmt.Sprintf("vdso: tid %d was dumped inside the [vdso]", tid)) {
				t.Errorf("round %d: tid %d was dumped inside the [vdso]; the restore does not say it finished its call:\n%s", round, tid, log.String())
			}
		}
		if got := p.result(t); got != "PASS" {
			t.Errorf("round %d: restored program: %s\n%s", round, got, log.String())
		}
		testutil.WaitGone(t, res.Pids)
		if len(inside) > 0 {
			t.Logf("round %d caught tid %v inside the [vdso]", round, inside)
			return
		}
	}
}

// threadsInVdso lists the threads of pid whose dumped ip is in its [vdso].
func threadsInVdso(t *testing.T, set string, pid int) []int {
	t.Helper()
	img, err := image.ReadFile(set, mmName(uint32(pid)))
	if err != nil {
		t.Fatal(err)
	}
	var lo, hi uint64
	for _, v := range img.Entries[0].Msg.(*images.MmEntry).GetVmas() {
		if v.GetStatus()&images.VmaAreaVdso != 0 {
			lo, hi = v.GetStart(), v.GetEnd()
		}
	}
	names, err := image.ListDir(set)
	if err != nil {
		t.Fatal(err)
	}
	var out []int
	for _, n := range names {
		var tid int
		if _, err := fmt.Sscanf(n, "core-%d.img", &tid); err != nil {
			continue
		}
		c, err := image.ReadFile(set, n)
		if err != nil {
			t.Fatal(err)
		}
		if ip := c.Entries[0].Msg.(*images.CoreEntry).GetThreadInfo().GetGpregs().GetIp(); ip >= lo && ip < hi {
			out = append(out, tid)
		}
	}
	return out
}

// A set whose FPU state needs an xsave feature this CPU does not enable
// (xstate_bv of a copy of a core edited to add one) is refused before any
// task exists, naming the feature and the image.
func TestRestoreRefusesMissingCPUFeature(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.LockFixtures(t)
	bin, prog := dumpTools(t, "loop")
	p, set := dumpProgram(t, bin, prog)

	host := uint64(x86.HostFeatures())
	var add uint64
	for _, bit := range []uint{2, 5, 6, 7, 9} { // AVX, AVX-512 (3 parts), PKRU
		if host&(1<<bit) == 0 {
			add = 1 << bit
			break
		}
	}
	if add == 0 {
		t.Skipf("this CPU enables every feature the image format holds (xcr0 %#x)", host)
	}
	name := coreName(uint32(p.pid))
	img, err := image.ReadFile(set, name)
	if err != nil {
		t.Fatal(err)
	}
	xs := img.Entries[0].Msg.(*images.CoreEntry).GetThreadInfo().GetFpregs().GetXsave()
	if xs == nil {
		t.Fatalf("%s has no xsave state", name)
	}
	*xs.XstateBv |= add
	if err := os.Remove(filepath.Join(set, name)); err != nil {
		t.Fatal(err)
	}
	if err := image.WriteFile(set, name, img); err != nil {
		t.Fatal(err)
	}
	missing := x86.Features(add).String()
	for _, stream := range []bool{false, true} {
		opts := Options{Dir: set, Detach: true}
		if stream {
			var b bytes.Buffer
			if err := image.PackDir(set, &b, false); err != nil {
				t.Fatal(err)
			}
			opts = Options{Stdin: &b, Detach: true}
		}
		res, err := Restore(context.Background(), opts)
		if err == nil {
			testutil.WaitGone(t, res.Pids)
			t.Fatalf("restore (stream %v) of a set needing %s succeeded", stream, missing)
		}
		if !errors.Is(err, ErrCPUFeature) || !strings.Contains(err.Error(), missing) || !strings.Contains(err.Error(), name) {
			t.Errorf("restore (stream %v): %v; want ErrCPUFeature naming %s and %s", stream, err, missing, name)
		}
		if _, err := os.Stat("/proc/" + strconv.Itoa(p.pid)); err == nil {
			t.Errorf("pid %d exists after a refused restore", p.pid)
		}
	}
}
