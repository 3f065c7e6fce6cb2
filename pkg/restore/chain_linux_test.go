package restore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/criugo/criugo/images"
	"github.com/criugo/criugo/internal/testutil"
	"github.com/criugo/criugo/pkg/image"
)

// Incremental chains are built from real dumps of test/programs/mmap (two
// tasks; private, shared anonymous and file memory): the program is dumped
// three times with --leave-running by criu-seize | criu-parasite, then each
// later set is rewritten the way a dump with --prev-images-dir writes it
// (chainTo): pages equal to the previous set's are marked PE_PARENT and
// dropped from its pages file, and a parent link names the previous set.

// chainTools builds criu-seize, criu-parasite and the mmap program.
func chainTools(t *testing.T) (bin, prog string) {
	return dumpTools(t, "mmap")
}

// dumpTools builds criu-seize, criu-parasite and test program name
// (test/programs/name.c) into a temporary directory.
func dumpTools(t *testing.T, name string) (bin, prog string) {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go not found: cannot build criu-seize and criu-parasite")
	}
	bin = t.TempDir()
	if out, err := exec.Command(goBin, "build", "-o", bin+"/",
		"github.com/criugo/criugo/cmd/criu-seize", "github.com/criugo/criugo/cmd/criu-parasite").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v: %s", err, out)
	}
	return bin, testutil.TestProgram(t, bin, name)
}

// chainProgram is a run of the mmap program.
type chainProgram struct {
	pid     int
	outfile string
}

// startChainProgram starts prog in dir, run by wrap (a command and its
// arguments, such as env VAR=1) when given.
func startChainProgram(t *testing.T, prog, dir string, wrap ...string) *chainProgram {
	t.Helper()
	p := &chainProgram{outfile: filepath.Join(dir, "out")}
	pidfile := filepath.Join(dir, "pid")
	args := append(append([]string{"-c", `setsid "$0" "$@" </dev/null >/dev/null 2>&1 &`}, wrap...),
		prog, "--pidfile", pidfile, "--outfile", p.outfile, "--workdir", dir)
	if out, err := exec.Command("/bin/sh", args...).CombinedOutput(); err != nil {
		t.Fatalf("start: %v: %s", err, out)
	}
	for start := time.Now(); ; time.Sleep(5 * time.Millisecond) {
		if b, err := os.ReadFile(pidfile); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
				p.pid = pid
				return p
			}
		}
		if time.Since(start) > 10*time.Second {
			t.Fatalf("%s wrote no pid file", filepath.Base(prog))
		}
	}
}

// result sends SIGTERM until the program writes its verdict.
func (p *chainProgram) result(t *testing.T) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		syscall.Kill(p.pid, syscall.SIGTERM)
		for i := 0; i < 20; i++ {
			if b, err := os.ReadFile(p.outfile); err == nil && bytes.HasSuffix(b, []byte("\n")) {
				return strings.TrimSpace(string(b))
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return "(no output)"
}

// chainSets dumps the mmap program three times and returns the sets as
// dumped (d1, d2, d3 in one directory, no links); the program's tree is
// dead by then. The program's work directory (its files and outfile) is
// the directory above the sets.
func chainSets(t *testing.T) []string {
	t.Helper()
	testutil.RequireRoot(t)
	testutil.LockFixtures(t)
	bin, prog := chainTools(t)
	root := t.TempDir()
	p := startChainProgram(t, prog, root)
	defer func() {
		pids := append([]int{p.pid}, children(p.pid)...)
		for _, pid := range pids {
			syscall.Kill(pid, syscall.SIGKILL)
		}
		testutil.WaitGone(t, pids)
	}()
	var sets []string
	for i := 1; i <= 3; i++ {
		d := filepath.Join(root, "d"+strconv.Itoa(i))
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command("/bin/sh", "-c", `"$0"/criu-seize -t "$1" | "$0"/criu-parasite --leave-running -D "$2"`, bin, strconv.Itoa(p.pid), d)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("dump %d: %v: %s", i, err, out)
		}
		sets = append(sets, d)
	}
	return sets
}

// children lists the children of pid.
func children(pid int) []int {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
	var out []int
	for _, f := range strings.Fields(string(b)) {
		if c, err := strconv.Atoi(f); err == nil {
			out = append(out, c)
		}
	}
	return out
}

// copySets copies the dumped sets named into a new directory, as siblings.
func copySets(t *testing.T, sets []string) string {
	t.Helper()
	root := t.TempDir()
	for _, s := range sets {
		dst := filepath.Join(root, filepath.Base(s))
		if err := os.Mkdir(dst, 0o700); err != nil {
			t.Fatal(err)
		}
		names, err := image.ListDir(s)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range names {
			b, err := os.ReadFile(filepath.Join(s, n))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dst, n), b, 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	return root
}

// pagemapFile is a pagemap of a set with its pages file read in.
type pagemapFile struct {
	head    *images.PagemapHead
	entries []*images.PagemapEntry
	pages   []byte
	offs    []uint64 // pages-file offset of each present entry
}

func readPagemapFile(t *testing.T, dir, name string) *pagemapFile {
	t.Helper()
	img, err := image.ReadFile(dir, name)
	if err != nil {
		t.Fatal(err)
	}
	pm := &pagemapFile{head: img.Entries[0].Msg.(*images.PagemapHead)}
	var off uint64
	for _, e := range img.Entries[1:] {
		pe := e.Msg.(*images.PagemapEntry)
		pm.entries = append(pm.entries, pe)
		pm.offs = append(pm.offs, off)
		if pe.GetFlags()&images.PePresent != 0 {
			off += pe.GetNrPages() * pageSize
		}
	}
	if pm.pages, err = os.ReadFile(filepath.Join(dir, pagesName(uint64(pm.head.GetPagesId())))); err != nil {
		t.Fatal(err)
	}
	if uint64(len(pm.pages)) != off {
		t.Fatalf("%s/%s: %d bytes of pages, %d present", dir, name, len(pm.pages), off)
	}
	return pm
}

// page returns the present page at addr, or nil.
func (pm *pagemapFile) page(addr uint64) []byte {
	for i, pe := range pm.entries {
		if pe.GetFlags()&images.PePresent != 0 && pe.GetVaddr() <= addr && addr < pe.GetVaddr()+pe.GetNrPages()*pageSize {
			off := pm.offs[i] + addr - pe.GetVaddr()
			return pm.pages[off : off+pageSize]
		}
	}
	return nil
}

// write replaces the pagemap and its pages file in dir.
func (pm *pagemapFile) write(t *testing.T, dir, name string) {
	t.Helper()
	img := &image.Image{Kind: image.KindForFile(name), Entries: []image.Entry{{Msg: pm.head}}}
	for _, pe := range pm.entries {
		img.Entries = append(img.Entries, image.Entry{Msg: pe})
	}
	pages := pagesName(uint64(pm.head.GetPagesId()))
	for _, n := range []string{name, pages} {
		if err := os.Remove(filepath.Join(dir, n)); err != nil {
			t.Fatal(err)
		}
	}
	if err := image.WriteFile(dir, name, img); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, pages), pm.pages, 0o600); err != nil {
		t.Fatal(err)
	}
}

// chainTo rewrites set dir as a dump on top of parent (a set whose
// pagemaps are all present) writes it: each present page equal to the
// parent's becomes PE_PARENT and leaves dir's pages file, but for one in
// keepEvery (0: none), kept present so that runs of both kinds alternate.
// It links dir/parent to ../<parent> and returns how many pages went to
// the parent and how many stayed.
func chainTo(t *testing.T, dir, parent string, keepEvery int) (inParent, kept int) {
	t.Helper()
	names, err := image.ListDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range names {
		if k := image.KindForFile(name); k != image.Pagemap && k != image.ShmemPagemap {
			continue
		}
		pm := readPagemapFile(t, dir, name)
		var pp *pagemapFile
		if _, err := os.Stat(filepath.Join(parent, name)); err == nil {
			pp = readPagemapFile(t, parent, name)
		}
		out := &pagemapFile{head: pm.head}
		// add appends one page, merging it with the entry before when
		// that is of the same kind and adjacent.
		add := func(addr uint64, flags uint32, data []byte) {
			if n := len(out.entries); n > 0 {
				last := out.entries[n-1]
				if last.GetFlags() == flags && last.GetVaddr()+last.GetNrPages()*pageSize == addr {
					last.NrPages = proto.Uint64(last.GetNrPages() + 1)
					out.pages = append(out.pages, data...)
					return
				}
			}
			out.entries = append(out.entries, &images.PagemapEntry{Vaddr: proto.Uint64(addr), CompatNrPages: proto.Uint32(0), Flags: proto.Uint32(flags), NrPages: proto.Uint64(1)})
			out.pages = append(out.pages, data...)
		}
		n := 0
		for _, pe := range pm.entries {
			if pe.GetFlags()&images.PePresent == 0 {
				out.entries = append(out.entries, pe)
				continue
			}
			for addr := pe.GetVaddr(); addr < pe.GetVaddr()+pe.GetNrPages()*pageSize; addr += pageSize {
				data := pm.page(addr)
				var old []byte
				if pp != nil {
					old = pp.page(addr)
				}
				n++
				if old != nil && bytes.Equal(old, data) && (keepEvery == 0 || n%keepEvery != 0) {
					add(addr, images.PeParent, nil)
					inParent++
				} else {
					add(addr, pe.GetFlags(), data)
					kept++
				}
			}
		}
		out.write(t, dir, name)
	}
	if err := os.Symlink("../"+filepath.Base(parent), filepath.Join(dir, image.ParentLink)); err != nil {
		t.Fatal(err)
	}
	return inParent, kept
}

// restoreChain restores dir and checks that the mmap program, dumped with
// its work directory work, passes its own check.
func restoreChain(t *testing.T, dir, work string) {
	t.Helper()
	res, err := Restore(context.Background(), Options{Dir: dir, Detach: true})
	if err != nil {
		t.Fatal(err)
	}
	defer killTree(t, res)
	p := &chainProgram{pid: res.Root, outfile: filepath.Join(work, "out")}
	os.Remove(p.outfile)
	if got := p.result(t); got != "PASS" {
		t.Errorf("mmap after the restore of %s: %s", dir, got)
	}
	var ws syscall.WaitStatus
	syscall.Wait4(res.Root, &ws, 0, nil)
}

// TestRestoreChain restores chains of two and three sets, and refuses
// broken ones. The dumps are made once for all the subtests.
func TestRestoreChain(t *testing.T) {
	sets := chainSets(t)
	work := filepath.Dir(sets[0])
	t.Run("two", func(t *testing.T) {
		root := copySets(t, sets[:2])
		d1, d2 := filepath.Join(root, "d1"), filepath.Join(root, "d2")
		in, kept := chainTo(t, d2, d1, 5)
		t.Logf("d2: %d pages in d1, %d kept", in, kept)
		if in == 0 || kept == 0 {
			t.Fatalf("%d pages in the parent, %d kept: want both", in, kept)
		}
		restoreChain(t, d2, work)
	})
	t.Run("three", func(t *testing.T) {
		root := copySets(t, sets)
		d1, d2, d3 := filepath.Join(root, "d1"), filepath.Join(root, "d2"), filepath.Join(root, "d3")
		// d3 first: its pages are compared with d2's before d2 loses them.
		in3, kept3 := chainTo(t, d3, d2, 7)
		in2, kept2 := chainTo(t, d2, d1, 3)
		t.Logf("d3: %d pages in d2, %d kept; d2: %d pages in d1, %d kept", in3, kept3, in2, kept2)
		restoreChain(t, d3, work)
	})
	t.Run("three without userfaultfd", func(t *testing.T) {
		// The task reads its pages itself, with preadv from each file.
		useUffd = false
		defer func() { useUffd = true }()
		root := copySets(t, sets)
		d1, d2, d3 := filepath.Join(root, "d1"), filepath.Join(root, "d2"), filepath.Join(root, "d3")
		chainTo(t, d3, d2, 4)
		chainTo(t, d2, d1, 3)
		restoreChain(t, d3, work)
	})
	t.Run("all in parent", func(t *testing.T) {
		root := copySets(t, sets[:2])
		d1, d2 := filepath.Join(root, "d1"), filepath.Join(root, "d2")
		in, kept := chainTo(t, d2, d1, 0)
		t.Logf("d2: %d pages in d1, %d kept", in, kept)
		// The shared memory the program shares with its child comes from
		// the parent too (pagemap-shmem-*).
		names, _ := image.ListDir(d2)
		shmemInParent := false
		for _, n := range names {
			if image.KindForFile(n) == image.ShmemPagemap {
				for _, pe := range readPagemapFile(t, d2, n).entries {
					shmemInParent = shmemInParent || pe.GetFlags()&images.PeParent != 0
				}
			}
		}
		if !shmemInParent {
			t.Error("no shared memory page in the parent")
		}
		restoreChain(t, d2, work)
	})
	t.Run("errors", func(t *testing.T) { testChainErrors(t, sets) })
}

// testChainErrors breaks a chain in each way a restore must refuse before
// anything is created.
func testChainErrors(t *testing.T, sets []string) {
	pm := func(dir string) string {
		names, _ := image.ListDir(dir)
		for _, n := range names {
			if image.KindForFile(n) == image.Pagemap {
				return n
			}
		}
		t.Fatalf("no pagemap in %s", dir)
		return ""
	}
	for _, tc := range []struct {
		name   string
		break_ func(t *testing.T, d1, d2, d3 string)
		want   []error
		says   string
	}{
		{"no parent link", func(t *testing.T, d1, d2, d3 string) {
			os.Remove(filepath.Join(d2, image.ParentLink))
		}, []error{ErrBadImage, image.ErrNotInParent, image.ErrNoParent}, "has no parent"},
		{"parent missing", func(t *testing.T, d1, d2, d3 string) {
			if err := os.Rename(d1, d1+".gone"); err != nil {
				t.Fatal(err)
			}
		}, []error{ErrBadImage, image.ErrParentMissing, fs.ErrNotExist}, "d3 -> "},
		{"loop", func(t *testing.T, d1, d2, d3 string) {
			os.Symlink("../d3", filepath.Join(d1, image.ParentLink))
		}, []error{ErrBadImage, image.ErrChainLoop}, "d1 -> "},
		{"parent pagemap missing", func(t *testing.T, d1, d2, d3 string) {
			os.Remove(filepath.Join(d2, pm(d2)))
			os.Remove(filepath.Join(d1, pm(d1)))
		}, []error{ErrBadImage, image.ErrNotInParent}, "does not exist"},
		{"parent does not cover", func(t *testing.T, d1, d2, d3 string) {
			for _, d := range []string{d1, d2} {
				name := pm(d)
				p := readPagemapFile(t, d, name)
				p.entries, p.pages = nil, nil
				p.write(t, d, name)
			}
		}, []error{ErrBadImage, image.ErrNotInParent}, "does not hold the page"},
		{"parent pages short", func(t *testing.T, d1, d2, d3 string) {
			p := readPagemapFile(t, d1, pm(d1))
			if err := os.Truncate(filepath.Join(d1, pagesName(uint64(p.head.GetPagesId()))), 0); err != nil {
				t.Fatal(err)
			}
		}, []error{ErrBadImage}, "ends at 0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := copySets(t, sets)
			d1, d2, d3 := filepath.Join(root, "d1"), filepath.Join(root, "d2"), filepath.Join(root, "d3")
			chainTo(t, d3, d2, 0)
			chainTo(t, d2, d1, 0)
			tc.break_(t, d1, d2, d3)
			res, err := Restore(context.Background(), Options{Dir: d3, Detach: true})
			if err == nil {
				killTree(t, res)
				t.Fatal("restore of a broken chain succeeded")
			}
			for _, w := range tc.want {
				if !errors.Is(err, w) {
					t.Errorf("%v: does not match %v", err, w)
				}
			}
			if !strings.Contains(err.Error(), tc.says) {
				t.Errorf("%v: does not say %q", err, tc.says)
			}
		})
	}
	t.Run("stream", func(t *testing.T) {
		root := copySets(t, sets[:2])
		d1, d2 := filepath.Join(root, "d1"), filepath.Join(root, "d2")
		chainTo(t, d2, d1, 0)
		var b bytes.Buffer
		if err := image.PackDir(d2, &b, false); err != nil {
			t.Fatal(err)
		}
		res, err := Restore(context.Background(), Options{Stdin: &b, Detach: true})
		if err == nil {
			killTree(t, res)
			t.Fatal("restore of a stream with pages in the parent succeeded")
		}
		if !errors.Is(err, ErrNotSupported) || !strings.Contains(err.Error(), "a stream has no parent") {
			t.Errorf("got %v, want ErrNotSupported saying a stream has no parent", err)
		}
	})
}
