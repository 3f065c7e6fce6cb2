package dump

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
	"time"

	"github.com/criugo/criugo/images"
	"github.com/criugo/criugo/internal/testutil"
	"github.com/criugo/criugo/pkg/tracker"
)

// dirtyProgram is testdata/dirty.c running: 64 pages at addr.
type dirtyProgram struct {
	program
	addr    uint64
	touched string
}

func startDirty(t *testing.T) *dirtyProgram { return startDirtyAs(t) }

// startDirtyAs starts the program through the command wrap (setpriv ...),
// which execs it.
func startDirtyAs(t *testing.T, wrap ...string) *dirtyProgram {
	t.Helper()
	testutil.RequireRoot(t)
	dir := t.TempDir()
	bin := filepath.Join(dir, "dirty")
	testutil.BuildC(t, bin, "-O2", "testdata/dirty.c")
	p := &dirtyProgram{program: program{outfile: filepath.Join(dir, "out")}, touched: filepath.Join(dir, "touched")}
	pidfile := filepath.Join(dir, "pid")
	args := append(append(wrap, bin), pidfile, p.outfile, p.touched)
	if out, err := exec.Command("/bin/sh", append([]string{"-c", `setsid "$0" "$@" </dev/null >/dev/null 2>&1 &`}, args...)...).CombinedOutput(); err != nil {
		t.Fatalf("start dirty: %v: %s", err, out)
	}
	for start := time.Now(); ; time.Sleep(5 * time.Millisecond) {
		if b, err := os.ReadFile(pidfile); err == nil {
			f := strings.Fields(string(b))
			if len(f) == 2 {
				p.pid, _ = strconv.Atoi(f[0])
				p.addr, _ = strconv.ParseUint(f[1], 16, 64)
				break
			}
		}
		if time.Since(start) > 10*time.Second {
			t.Fatal("dirty did not start")
		}
	}
	t.Cleanup(func() { syscall.Kill(p.pid, syscall.SIGKILL) })
	return p
}

// touch has the program write its pages and remap its last 16.
func (p *dirtyProgram) touch(t *testing.T) {
	t.Helper()
	if err := syscall.Kill(p.pid, syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	for start := time.Now(); ; time.Sleep(5 * time.Millisecond) {
		if _, err := os.Stat(p.touched); err == nil {
			return
		}
		if time.Since(start) > 10*time.Second {
			t.Fatal("dirty did not touch its pages")
		}
	}
}

// pageFlags maps each of the program's 64 pages to the flags of the
// pagemap entry of dir that covers it (0: none), and returns the bytes
// the pages image holds for each present page.
func (p *dirtyProgram) pageFlags(t *testing.T, dir string) ([64]uint32, map[int][]byte) {
	t.Helper()
	img := readImg(t, dir, "pagemap-"+strconv.Itoa(p.pid)+".img")
	id := img.Entries[0].Msg.(*images.PagemapHead).GetPagesId()
	pages, err := os.ReadFile(filepath.Join(dir, "pages-"+strconv.Itoa(int(id))+".img"))
	if err != nil {
		t.Fatal(err)
	}
	var flags [64]uint32
	data := map[int][]byte{}
	off := uint64(0)
	for _, e := range img.Entries[1:] {
		pe := e.Msg.(*images.PagemapEntry)
		for i := uint64(0); i < pe.GetNrPages(); i++ {
			a := pe.GetVaddr() + i*pageSize
			if a >= p.addr && a < p.addr+64*pageSize {
				n := int((a - p.addr) / pageSize)
				flags[n] = pe.GetFlags()
				if pe.GetFlags()&images.PePresent != 0 {
					data[n] = pages[off : off+pageSize]
				}
			}
			if pe.GetFlags()&images.PePresent != 0 {
				off += pageSize
			}
		}
	}
	if off != uint64(len(pages)) {
		t.Errorf("%s: pagemap lists %d bytes of pages, the pages image holds %d", dir, off, len(pages))
	}
	return flags, data
}

// inImage: the entry's pages are in this image set's pages image (lazy
// or not), not left to the parent.
func inImage(f uint32) bool { return f&images.PePresent != 0 && f&images.PeParent == 0 }

func preDump(t *testing.T, pid int, o Options, st *Stats) {
	t.Helper()
	o.Stdin = bytes.NewReader(seizeStream(t, pid))
	res, err := Dump(context.Background(), o)
	if err != nil {
		t.Fatalf("dump %+v: %v", o, err)
	}
	if st != nil {
		*st = res.Stats
	}
}

// TestPreDump: a pre-dump writes what CRIU's does and leaves the tree
// running with its writes tracked; the dump after it names it as parent
// and holds exactly the pages written since, plus the region remapped
// since (untracked, so dumped whole), the rest as PE_PARENT entries.
func TestPreDump(t *testing.T) {
	testPreDump(t, startDirty(t))
}

// TestPreDumpNoPtraceCap: the same for a program without CAP_SYS_PTRACE,
// as a container's processes are, which may only make a userfaultfd for
// user-mode faults (vm.unprivileged_userfaultfd 0): its kernel-mode write
// (page 40) is still seen.
func TestPreDumpNoPtraceCap(t *testing.T) {
	testutil.RequireRoot(t)
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		t.Skipf("no setpriv (util-linux) to drop CAP_SYS_PTRACE: %v", err)
	}
	p := startDirtyAs(t, setpriv, "--bounding-set=-sys_ptrace", "--inh-caps=-sys_ptrace")
	b, err := os.ReadFile("/proc/" + strconv.Itoa(p.pid) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	_, eff, _ := strings.Cut(string(b), "CapEff:\t")
	caps, err := strconv.ParseUint(strings.Fields(eff)[0], 16, 64)
	if err != nil || caps&(1<<19) != 0 {
		t.Fatalf("the program's CapEff %q, %v: CAP_SYS_PTRACE not dropped", strings.Fields(eff)[0], err)
	}
	testPreDump(t, p)
}

func testPreDump(t *testing.T, p *dirtyProgram) {
	base := t.TempDir()
	dir1, dir2 := filepath.Join(base, "dir1"), filepath.Join(base, "dir2")
	var figs Stats
	preDump(t, p.pid, Options{Dir: dir1, PreDump: true}, &figs)
	if figs.PagesUnread != 0 {
		t.Errorf("pre-dump read %d pages as zeros; the program unmapped none", figs.PagesUnread)
	}

	if s := procState(t, p.pid); s == 't' || s == 'T' {
		t.Fatalf("tree left stopped (%c) by the pre-dump", s)
	}
	var names []string
	ents, _ := os.ReadDir(dir1)
	for _, e := range ents {
		names = append(names, e.Name())
	}
	want := []string{"criugo-track.sock", "inventory.img", "pagemap-" + strconv.Itoa(p.pid) + ".img", "pages-1.img", "stats-dump"}
	if strings.Join(names, " ") != strings.Join(want, " ") {
		t.Errorf("pre-dump directory holds %v, want %v", names, want)
	}
	if m := one[*images.InventoryEntry](t, dir1, "inventory.img").GetPreDumpMode(); m != preDumpSplice {
		t.Errorf("inventory pre_dump_mode %d, want %d", m, preDumpSplice)
	}
	flags, data := p.pageFlags(t, dir1)
	for i, f := range flags {
		if !inImage(f) || data[i][0] != byte(i+1) {
			t.Fatalf("pre-dump page %d: flags %#x, first byte %#x; want present, %#x", i, f, data[i][0], i+1)
		}
	}

	p.touch(t)
	preDump(t, p.pid, Options{Dir: dir2, PrevImagesDir: "../dir1"}, nil)
	p.waitKilled(t)
	if l, err := os.Readlink(filepath.Join(dir2, parentLink)); err != nil || l != "../dir1" {
		t.Errorf("parent link %q, %v; want ../dir1", l, err)
	}
	flags, data = p.pageFlags(t, dir2)
	for i, f := range flags {
		switch {
		case i == 3 || i == 10 || i == 11 || i == 40:
			if !inImage(f) || data[i][0] != 0xee {
				t.Errorf("written page %d: flags %#x; want present with 0xee", i, f)
			}
		case i >= 48:
			if !inImage(f) || data[i][0] != byte(i+1) {
				t.Errorf("remapped page %d: flags %#x; want present with %#x", i, f, i+1)
			}
		default:
			if f != images.PeParent {
				t.Errorf("unwritten page %d: flags %#x; want PE_PARENT", i, f)
			}
		}
	}
	st := one[*images.StatsEntry](t, dir2, "stats-dump").GetDump()
	if st.GetPagesSkippedParent() < 44 {
		t.Errorf("stats: %d pages skipped for the parent, want at least 44", st.GetPagesSkippedParent())
	}
	// The holder let go once the dump had taken the tracking.
	for start := time.Now(); ; time.Sleep(5 * time.Millisecond) {
		if _, err := os.Lstat(filepath.Join(dir1, TrackSocket)); errors.Is(err, os.ErrNotExist) {
			break
		}
		if time.Since(start) > 5*time.Second {
			t.Fatal("the tracking holder still serves after the final dump")
		}
	}
}

// TestPreDumpTrackingLost: with the holder gone, nothing says which pages
// are unchanged, and the dump after the pre-dump holds every page.
func TestPreDumpTrackingLost(t *testing.T) {
	p := startDirty(t)
	base := t.TempDir()
	dir1, dir2 := filepath.Join(base, "dir1"), filepath.Join(base, "dir2")
	preDump(t, p.pid, Options{Dir: dir1, PreDump: true}, nil)
	tt, err := tracker.Take(dir1)
	if err != nil || tt == nil {
		t.Fatalf("take tracking: %v, %v", tt, err)
	}
	tt.Release()
	tt.Close()
	p.touch(t)
	preDump(t, p.pid, Options{Dir: dir2, PrevImagesDir: "../dir1", LeaveRunning: true}, nil)
	flags, _ := p.pageFlags(t, dir2)
	for i, f := range flags {
		if !inImage(f) {
			t.Errorf("page %d: flags %#x, want present: no tracking", i, f)
		}
	}
	if out := p.finish(t); out != "PASS" {
		t.Errorf("program after the dumps: %s", out)
	}
}

// TestPreDumpChain: a pre-dump after a pre-dump keeps tracking, so the
// final dump's parent is the second pre-dump, and an image directory
// without -D is refused.
func TestPreDumpChain(t *testing.T) {
	p := startDirty(t)
	base := t.TempDir()
	dirs := []string{filepath.Join(base, "1"), filepath.Join(base, "2"), filepath.Join(base, "3")}
	preDump(t, p.pid, Options{Dir: dirs[0], PreDump: true}, nil)
	preDump(t, p.pid, Options{Dir: dirs[1], PreDump: true, PrevImagesDir: "../1"}, nil)
	flags, _ := p.pageFlags(t, dirs[1])
	for i, f := range flags {
		if f != images.PeParent {
			t.Errorf("second pre-dump, page %d: flags %#x, want PE_PARENT", i, f)
		}
	}
	if _, err := os.Lstat(filepath.Join(dirs[0], TrackSocket)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the first holder still serves: %v", err)
	}
	p.touch(t)
	var figs Stats
	preDump(t, p.pid, Options{Dir: dirs[2], PrevImagesDir: "../2", LeaveRunning: true, AutoDedup: true}, &figs)
	// Of the program's 64 pages, the 20 written or remapped since are
	// freed where the chain held them: in the first pre-dump, which the
	// second points to. (Other mappings, dumped whole each time, count
	// too.)
	if figs.Dedup.Pages < 20 {
		t.Errorf("auto-dedup freed %d pages, want at least 20", figs.Dedup.Pages)
	}
	_, data := p.pageFlags(t, dirs[0])
	for i := range 64 {
		want := byte(i + 1)
		if i == 3 || i == 10 || i == 11 || i == 40 || i >= 48 {
			want = 0
		}
		if !bytes.Equal(data[i], bytes.Repeat([]byte{want}, pageSize)) {
			t.Errorf("first pre-dump after auto-dedup, page %d: first byte %#x, want all %#x", i, data[i][0], want)
		}
	}
	flags, _ = p.pageFlags(t, dirs[2])
	for i, f := range flags {
		if want := i == 3 || i == 10 || i == 11 || i == 40 || i >= 48; inImage(f) != want || !want && f != images.PeParent {
			t.Errorf("final dump, page %d: flags %#x, want present %v, else PE_PARENT", i, f, want)
		}
	}
	if out := p.finish(t); out != "PASS" {
		t.Errorf("program after the dumps: %s", out)
	}

	_, err := Dump(context.Background(), Options{PreDump: true, Stdin: bytes.NewReader(seizeStream(t, startDirty(t).pid))})
	if !errors.Is(err, ErrOptions) {
		t.Errorf("pre-dump to a stream: %v, want ErrOptions", err)
	}
}

// TestPreDumpFailsWhileRunning: a pre-dump that fails after it let the
// tree go (here: its pages do not fit the image directory's file system)
// removes what it wrote and leaves no tracking behind; the tree runs on
// untouched.
func TestPreDumpFailsWhileRunning(t *testing.T) {
	p := startDirty(t)
	small := t.TempDir()
	// 64 KiB cannot hold the program's 64 pages.
	if err := syscall.Mount("tmpfs", small, "tmpfs", 0, "size=64k"); err != nil {
		t.Skipf("mount a small tmpfs: %v", err)
	}
	t.Cleanup(func() { syscall.Unmount(small, syscall.MNT_DETACH) })
	dir := filepath.Join(small, "pre")
	_, err := Dump(context.Background(), Options{Dir: dir, PreDump: true, Stdin: bytes.NewReader(seizeStream(t, p.pid))})
	if err == nil {
		t.Fatal("pre-dump into 64 KiB succeeded")
	}
	if !errors.Is(err, syscall.ENOSPC) {
		t.Errorf("pre-dump error %v, want ENOSPC", err)
	}
	if s := procState(t, p.pid); s == 't' || s == 'T' {
		t.Errorf("tree left stopped (%c) by the failed pre-dump", s)
	}
	for _, name := range []string{TrackSocket, "inventory.img", "pages-1.img"} {
		if _, err := os.Lstat(filepath.Join(dir, name)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s left behind by the failed pre-dump: %v", name, err)
		}
	}
	p.touch(t)
	if out := p.finish(t); out != "PASS" {
		t.Errorf("program after the failed pre-dump: %s", out)
	}
}
