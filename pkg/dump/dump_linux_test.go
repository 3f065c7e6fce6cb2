package dump

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/proto"

	"github.com/criugo/criugo/images"
	"github.com/criugo/criugo/internal/testutil"
	"github.com/criugo/criugo/internal/testutil/fixtureset"
	"github.com/criugo/criugo/pkg/image"
	"github.com/criugo/criugo/pkg/imgtool"
	"github.com/criugo/criugo/pkg/proc"
	"github.com/criugo/criugo/pkg/seize"
	"github.com/criugo/criugo/pkg/tracker"
	"github.com/criugo/criugo/pkg/x86"
)

// The tests below run the fixture programs of the CRIU 4.2 image sets
// (built from their sources with gcc, as the fixtures were), freeze them
// with pkg/seize, dump them and check what the images say against what the
// programs did and against what CRIU 4.2 wrote for the same programs.

var (
	buildOnce sync.Once
	buildDir  string
	buildErr  error
)

func TestMain(m *testing.M) {
	if tracker.HolderMode() {
		// Re-executed as a write-tracking holder by a pre-dump.
		if err := tracker.RunHolder(); err != nil {
			os.Stderr.WriteString(err.Error() + "\n")
			os.Exit(1)
		}
		os.Exit(0)
	}
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// fixtureProgram builds src/<name>.c of the CRIU 4.2 fixtures (once per
// test run) and returns the binary.
func fixtureProgram(t *testing.T, name string) string {
	t.Helper()
	testutil.RequireRoot(t)
	fx := testutil.FixturesDir(t)
	if _, err := exec.LookPath("gcc"); err != nil {
		t.Skip("gcc not found: cannot build the fixture programs")
	}
	buildOnce.Do(func() {
		if buildDir, buildErr = os.MkdirTemp("", "criugo-dump-fixtures-"); buildErr != nil {
			return
		}
		for _, p := range []string{"loop", "state", "tree"} {
			src := filepath.Join(fx, "criu-4.2", "src", p+".c")
			if buildErr = testutil.CompileC(filepath.Join(buildDir, p), "-O2", "-static", "-pthread", src); buildErr != nil {
				return
			}
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return filepath.Join(buildDir, name)
}

// program is a running fixture program. It is not a child of the test:
// a tracer that is also the parent would see its ptrace stops taken by
// the wait of os/exec. A shell starts it in the background and exits, so
// init reaps it.
type program struct {
	pid     int
	outfile string
	workdir string
}

// startProgram starts a fixture program that writes its pid file when
// ready: state (given a work directory) or tree.
func startProgram(t *testing.T, name string) *program {
	t.Helper()
	bin := fixtureProgram(t, name)
	dir := t.TempDir()
	p := &program{outfile: filepath.Join(dir, "out"), workdir: filepath.Join(dir, "work")}
	if err := os.Mkdir(p.workdir, 0o755); err != nil {
		t.Fatal(err)
	}
	pidfile := filepath.Join(dir, "pid")
	args := []string{bin, pidfile, p.outfile}
	if name == "state" {
		args = append(args, p.workdir)
	}
	// tree makes its own session; state gets one, as the fixtures ran.
	script := `setsid "$0" "$@" </dev/null >/dev/null 2>&1 &`
	if name == "tree" {
		script = `"$0" "$@" </dev/null >/dev/null 2>&1 &`
	}
	if out, err := exec.Command("/bin/sh", append([]string{"-c", script}, args...)...).CombinedOutput(); err != nil {
		t.Fatalf("start %s: %v: %s", name, err, out)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, err := os.ReadFile(pidfile)
		if err == nil {
			if p.pid, err = strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not write its pid file", name)
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Cleanup(func() {
		// Whatever is left of the tree: the program's session shares its
		// pid (tree's children too), and a frozen tree must not outlive
		// the test.
		for _, pid := range sessionPids(p.pid) {
			syscall.Kill(pid, syscall.SIGKILL)
		}
		syscall.Kill(p.pid, syscall.SIGKILL)
	})
	return p
}

// sessionPids lists the processes of session sid.
func sessionPids(sid int) []int {
	ents, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if st, err := (proc.FS{}).Stat(pid, 0); err == nil && st.Session == sid {
			out = append(out, pid)
		}
	}
	return out
}

// finish sends SIGTERM to the program and returns what it wrote to its
// outfile: "PASS" when every piece of its state survived.
func (p *program) finish(t *testing.T) string {
	t.Helper()
	if err := syscall.Kill(p.pid, syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM to %d: %v", p.pid, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if b, err := os.ReadFile(p.outfile); err == nil && bytes.HasSuffix(b, []byte("\n")) {
			return strings.TrimSpace(string(b))
		}
		time.Sleep(10 * time.Millisecond)
	}
	return "(no output)"
}

// waitKilled waits for the program to be dead: gone, or a zombie.
func (p *program) waitKilled(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		st, err := proc.FS{}.Stat(p.pid, 0)
		if err != nil || st.State == 'Z' || st.State == 'X' {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatal("program still alive after the dump")
}

// procState returns the /proc state letter of pid.
func procState(t *testing.T, pid int) byte {
	t.Helper()
	st, err := proc.FS{}.Stat(pid, 0)
	if err != nil {
		t.Fatalf("stat %d: %v", pid, err)
	}
	return st.State
}

// seizeDir freezes the tree of pid into dir.
func seizeDir(t *testing.T, pid int, dir string) {
	t.Helper()
	if err := seize.Run(context.Background(), seize.Options{Pid: pid, Dir: dir}); err != nil {
		t.Fatalf("seize %d: %v", pid, err)
	}
}

// seizeStream freezes the tree of pid and returns the seize stream.
func seizeStream(t *testing.T, pid int) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := seize.Run(context.Background(), seize.Options{Pid: pid, Stdout: &b}); err != nil {
		t.Fatalf("seize %d: %v", pid, err)
	}
	return b.Bytes()
}

func readImg(t *testing.T, dir, name string) *image.Image {
	t.Helper()
	img, err := image.ReadFile(dir, name)
	if err != nil {
		t.Fatalf("read %s: %v", name, err)
	}
	return img
}

func one[M proto.Message](t *testing.T, dir, name string) M {
	t.Helper()
	img := readImg(t, dir, name)
	if len(img.Entries) != 1 {
		t.Fatalf("%s: %d entries, want 1", name, len(img.Entries))
	}
	return img.Entries[0].Msg.(M)
}

// sigIndex is the position of signal sig in core's sigactions: signals 1
// to 64 without SIGKILL and SIGSTOP.
func sigIndex(sig int) int {
	i := sig - 1
	if sig > sigKill {
		i--
	}
	if sig > sigStop {
		i--
	}
	return i
}

const (
	sigHup    = 1
	sigUSR1   = 10
	sigUSR2   = 12
	sigPipe   = 13
	sigTerm   = 15
	saRestart = 0x10000000
	sigRTMin  = 34 // glibc's SIGRTMIN: 32 and 33 are its own
)

// mapsMerged reads /proc/PID/maps with [vvar_vclock] folded into [vvar],
// as the dump records them.
func mapsMerged(t *testing.T, pid int) []proc.VMA {
	t.Helper()
	vmas, err := proc.FS{}.Maps(pid)
	if err != nil {
		t.Fatal(err)
	}
	var out []proc.VMA
	for _, v := range vmas {
		if n := len(out); n > 0 && v.Kind == proc.VMAVvarVclock && out[n-1].Kind == proc.VMAVvar && out[n-1].End == v.Start {
			out[n-1].End = v.End
			continue
		}
		out = append(out, v)
	}
	return out
}

func TestDumpStateLeaveRunning(t *testing.T) {
	p := startProgram(t, "state")
	maps := mapsMerged(t, p.pid)
	dir := t.TempDir()
	seizing := time.Now()
	seizeDir(t, p.pid, dir)
	if st := procState(t, p.pid); st != 'T' {
		t.Fatalf("state %c after seize, want T (frozen)", st)
	}
	res, err := Dump(context.Background(), Options{Dir: dir, LeaveRunning: true})
	if err != nil {
		t.Fatalf("dump: %v", err)
	}
	stats := res.Stats
	t.Logf("dump took %v (frozen %v), %d pages", stats.Total, stats.Frozen, stats.PagesWritten)
	checkDumpStats(t, dir, time.Since(seizing))
	if st := procState(t, p.pid); st == 'T' || st == 't' {
		t.Errorf("state %c after the dump, want running", st)
	}
	if _, err := os.Stat(filepath.Join(dir, seize.FreezeFile)); !os.IsNotExist(err) {
		t.Errorf("freeze.img left in the image directory (%v)", err)
	}
	checkState(t, dir, p, maps)
	compareWithCRIU(t, dir, "state")
	if got := p.finish(t); got != "PASS" {
		t.Errorf("state after the dump: %s", got)
	}
}

func checkState(t *testing.T, dir string, p *program, maps []proc.VMA) {
	pst := readImg(t, dir, "pstree.img")
	if len(pst.Entries) != 1 {
		t.Fatalf("pstree: %d entries", len(pst.Entries))
	}
	pe := pst.Entries[0].Msg.(*images.PstreeEntry)
	if len(pe.GetThreads()) != 4 {
		t.Fatalf("pstree: threads %v, want 4", pe.GetThreads())
	}
	pid := int(pe.GetPid())

	// Registers of every thread; each worker blocked SIGRTMIN+i and SIGTERM.
	var leader *images.CoreEntry
	workers := map[int]bool{}
	for i, tid := range pe.GetThreads() {
		core := one[*images.CoreEntry](t, dir, image.Core.FileName(tid))
		ti := core.GetThreadInfo()
		if ti.GetGpregs().GetCs() != 0x33 || ti.GetGpregs().GetIp() == 0 || ti.GetGpregs().GetSp() == 0 ||
			ti.GetFpregs().GetXsave() == nil || len(ti.GetTls()) != 3 || core.GetThreadCore().GetCreds() == nil {
			t.Errorf("core of tid %d: registers, FPU state, TLS or creds missing", tid)
		}
		if i == 0 {
			leader = core
			if core.GetTc() == nil || core.GetThreadCore().BlkSigset != nil {
				t.Errorf("leader core: tc %v, thread blk_sigset %v", core.GetTc() != nil, core.GetThreadCore().BlkSigset)
			}
			continue
		}
		if core.GetTc() != nil {
			t.Errorf("core of thread %d has a task core", tid)
		}
		mask := core.GetThreadCore().GetBlkSigset()
		if mask&sigBit(sigTerm) == 0 {
			t.Errorf("thread %d mask %#x: SIGTERM not blocked", tid, mask)
		}
		for w := range 3 {
			if mask&sigBit(sigRTMin+w) != 0 {
				workers[w] = true
			}
		}
	}
	if len(workers) != 3 {
		t.Errorf("worker masks hold SIGRTMIN+i for %v, want 0, 1 and 2", workers)
	}

	tc := leader.GetTc()
	sa := tc.GetSigactions()
	if len(sa) != 62 {
		t.Fatalf("%d sigactions, want 62", len(sa))
	}
	usr1 := sa[sigIndex(sigUSR1)]
	if usr1.GetSigaction() == 0 || usr1.GetFlags()&saRestart == 0 || usr1.GetMask()&sigBit(sigHup) == 0 {
		t.Errorf("SIGUSR1 action %v, want a handler with SA_RESTART and SIGHUP in its mask", usr1)
	}
	if h := sa[sigIndex(sigPipe)].GetSigaction(); h != 1 {
		t.Errorf("SIGPIPE handler %#x, want SIG_IGN", h)
	}
	if tc.GetBlkSigset()&sigBit(sigUSR2) == 0 {
		t.Errorf("leader mask %#x: SIGUSR2 not blocked", tc.GetBlkSigset())
	}
	var pending []int
	for _, s := range tc.GetSignalsS().GetSignals() {
		pending = append(pending, int(s.GetSiginfo()[0]))
	}
	if len(pending) != 1 || pending[0] != sigUSR2 {
		t.Errorf("shared pending signals %v, want [SIGUSR2]", pending)
	}
	if r := tc.GetTimers().GetReal(); r.GetIsec() != 3600 || r.GetVsec() < 3000 {
		t.Errorf("ITIMER_REAL %v, want interval 3600 s and about an hour left", r)
	}

	// Memory: the mappings are those /proc showed before the dump, then
	// the guard regions a glibc 2.41+ puts on thread stacks (none with an
	// older glibc).
	mm := one[*images.MmEntry](t, dir, image.MM.FileName(pid))
	vmas := mm.GetVmas()
	for len(vmas) > 0 && vmas[len(vmas)-1].GetStatus() == images.VmaAreaGuard {
		vmas = vmas[:len(vmas)-1]
	}
	if len(vmas) != len(maps) {
		t.Errorf("mm: %d vmas (and %d guard regions), /proc/PID/maps had %d", len(vmas), len(mm.GetVmas())-len(vmas), len(maps))
	}
	for i := 0; i < min(len(maps), len(vmas)); i++ {
		v, e := maps[i], vmas[i]
		if e.GetStart() != v.Start || e.GetEnd() != v.End || e.GetProt() != vmaProt(v.Perm) {
			t.Errorf("vma %d: %#x-%#x prot %d, maps has %#x-%#x %v", i, e.GetStart(), e.GetEnd(), e.GetProt(), v.Start, v.End, v.Perm)
		}
	}
	checkStatePages(t, dir, pid)

	// Files: the pipe's 5000 unread bytes, the file at offset 777.
	pd := readImg(t, dir, "pipes-data.img")
	if len(pd.Entries) != 1 {
		t.Fatalf("pipes-data: %d entries, want 1", len(pd.Entries))
	}
	if e := pd.Entries[0].Msg.(*images.PipeDataEntry); e.GetBytes() != 5000 || len(pd.Entries[0].Extra.Data) != 5000 {
		t.Errorf("pipe data: %v with %d bytes, want 5000", e, len(pd.Entries[0].Extra.Data))
	}
	for i, b := range pd.Entries[0].Extra.Data {
		if b != byte(i*7) {
			t.Errorf("pipe byte %d is %d, want %d", i, b, byte(i*7))
			break
		}
	}
	files := readImg(t, dir, "files.img")
	byID := map[uint32]*images.FileEntry{}
	for _, e := range files.Entries {
		fe := e.Msg.(*images.FileEntry)
		byID[fe.GetId()] = fe
	}
	ids := one[*images.TaskKobjIdsEntry](t, dir, image.IDs.FileName(pid))
	var dataFd *images.RegFileEntry
	for _, e := range readImg(t, dir, image.Fdinfo.FileName(ids.GetFilesId())).Entries {
		fi := e.Msg.(*images.FdinfoEntry)
		if fi.GetFd() == 5 {
			dataFd = byID[fi.GetId()].GetReg()
		}
	}
	if want := filepath.Join(p.workdir, "state.data"); dataFd.GetName() != want || dataFd.GetPos() != 777 || dataFd.GetFlags()&3 != 2 {
		t.Errorf("fd 5: %v, want %s O_RDWR at offset 777", dataFd, want)
	}
	fs := one[*images.FsEntry](t, dir, image.FS.FileName(pid))
	if fs.GetUmask() != 0o27 || byID[fs.GetCwdId()].GetReg().GetName() != p.workdir {
		t.Errorf("fs %v (cwd %s), want umask 027 and cwd %s", fs, byID[fs.GetCwdId()].GetReg().GetName(), p.workdir)
	}
}

// checkStatePages finds the program's private mapping in the pagemap (21
// runs of 2 pages, 3 pages apart, after the one page it never touched)
// and checks the bytes the pages image holds for it.
func checkStatePages(t *testing.T, dir string, pid int) {
	pm := readImg(t, dir, image.Pagemap.FileName(pid))
	pagesID := pm.Entries[0].Msg.(*images.PagemapHead).GetPagesId()
	pages, err := os.ReadFile(filepath.Join(dir, image.Pages.FileName(pagesID)))
	if err != nil {
		t.Fatal(err)
	}
	var total uint64
	type run struct{ addr, nr, off uint64 }
	var runs []run
	for _, e := range pm.Entries[1:] {
		pe := e.Msg.(*images.PagemapEntry)
		runs = append(runs, run{pe.GetVaddr(), pe.GetNrPages(), total})
		total += pe.GetNrPages()
	}
	if total*pageSize != uint64(len(pages)) {
		t.Fatalf("pagemap lists %d pages, %s holds %d bytes", total, image.Pages.FileName(pagesID), len(pages))
	}
	for i := 0; i+21 <= len(runs); i++ {
		ok := true
		for k := range 21 {
			r := runs[i+k]
			if r.nr != 2 || r.addr != runs[i].addr+uint64(3*k)*pageSize {
				ok = false
				break
			}
		}
		if !ok {
			continue
		}
		for k := range 21 {
			r := runs[i+k]
			for pg := range uint64(2) {
				want := byte(3*k + 1 + int(pg))
				b := pages[(r.off+pg)*pageSize : (r.off+pg+1)*pageSize]
				if b[0] != want || b[pageSize-1] != want {
					t.Errorf("page %#x holds %d..%d, want %d", r.addr+pg*pageSize, b[0], b[pageSize-1], want)
				}
			}
		}
		return
	}
	t.Error("the pagemap has no run of the program's private mapping (every third page untouched)")
}

// loadShape reads the image set in dir and computes its shape.
func loadShape(t *testing.T, dir string) *imgtool.Shape {
	t.Helper()
	set, err := imgtool.LoadDir(dir, imgtool.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sh, err := imgtool.ShapeOf(set)
	if err != nil {
		t.Fatal(err)
	}
	return sh
}

// compareWithCRIU compares the shape of our image set with the one CRIU
// 4.2 wrote for the same program: the same kinds of files, as many of
// each, and the same fields set. CRIU's fixtures were made with a pipe on
// fds 0-2 and our tests use /dev/null, so fields under a file kind only
// one set holds do not count. Nor do the fields of xsave components that
// CRIU's machine enabled and this CPU does not (its AVX-512): no dump
// made here can hold them.
func compareWithCRIU(t *testing.T, dir, set string) {
	t.Helper()
	ref := filepath.Join(testutil.FixturesDir(t), "criu-4.2", "images", set)
	ours, criu := loadShape(t, dir), loadShape(t, ref)
	if len(criu.Files) < 10 || len(criu.Fields["CORE"]) < 20 {
		t.Fatalf("CRIU's %s set looks empty: %v", set, criu.Files)
	}
	for _, d := range imgtool.CompareShapes(ours, criu) {
		switch {
		case d.UnderLoneFileKind(ours, criu):
		case fixtureset.OtherCPUField(d):
			t.Logf("an xsave component of one CPU only (this one enables %v): %v", x86.HostFeatures(), d)
		default:
			t.Errorf("ours (A) and CRIU's (B) differ: %v", d)
		}
	}
}

func TestDumpTreeStream(t *testing.T) {
	p := startProgram(t, "tree")
	in := seizeStream(t, p.pid)
	var out bytes.Buffer
	if _, err := Dump(context.Background(), Options{Stdin: bytes.NewReader(in), Stdout: &out}); err != nil {
		t.Fatalf("dump: %v", err)
	}
	p.waitKilled(t)

	// The stream is in the defined order.
	sr, err := image.NewStreamReader(bytes.NewReader(out.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for {
		f, err := sr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, f.Name)
		io.Copy(io.Discard, f)
	}
	dir := t.TempDir()
	if err := image.UnpackStream(bytes.NewReader(out.Bytes()), dir); err != nil {
		t.Fatal(err)
	}
	pagesOf := map[string]string{}
	for _, n := range names {
		if k := image.KindForFile(n); k == image.Pagemap || k == image.ShmemPagemap {
			head := readImg(t, dir, n).Entries[0].Msg.(*images.PagemapHead)
			pagesOf[n] = image.Pages.FileName(head.GetPagesId())
		}
	}
	if want := image.StreamOrder(names, pagesOf); fmt.Sprint(want) != fmt.Sprint(names) {
		t.Errorf("stream order %v, want %v", names, want)
	}

	pst := readImg(t, dir, "pstree.img")
	if len(pst.Entries) != 5 {
		t.Fatalf("pstree: %d tasks, want 5", len(pst.Entries))
	}
	vms := map[uint32]bool{}
	for _, e := range pst.Entries {
		pe := e.Msg.(*images.PstreeEntry)
		core := one[*images.CoreEntry](t, dir, image.Core.FileName(pe.GetPid()))
		if pe.GetThreads()[0] == 0 {
			if tc := core.GetTc(); tc.GetTaskState() != images.TaskDead || tc.GetExitCode() != 7<<8 || core.GetThreadInfo() != nil {
				t.Errorf("zombie %d core %v, want dead with exit status 7", pe.GetPid(), tc)
			}
			continue
		}
		if core.GetTc().GetTaskState() != images.TaskAlive {
			t.Errorf("task %d: state %d, want alive", pe.GetPid(), core.GetTc().GetTaskState())
		}
		ids := one[*images.TaskKobjIdsEntry](t, dir, image.IDs.FileName(pe.GetPid()))
		vms[ids.GetVmId()] = true
	}
	if len(vms) != 4 {
		t.Errorf("%d distinct address spaces among 4 live tasks", len(vms))
	}
	pd := readImg(t, dir, "pipes-data.img")
	var a uint32
	for _, e := range pst.Entries {
		pe := e.Msg.(*images.PstreeEntry)
		if pe.GetPpid() == pst.Entries[0].Msg.(*images.PstreeEntry).GetPid() && pe.GetPgid() == pe.GetPpid() && pe.GetThreads()[0] != 0 {
			a = pe.GetPid()
		}
	}
	found := false
	for _, e := range pd.Entries {
		d := e.Extra.Data
		if len(d) >= 4 && len(d)%4 == 0 && uint32(d[0])|uint32(d[1])<<8|uint32(d[2])<<16|uint32(d[3])<<24 == a {
			found = true
		}
	}
	if !found {
		t.Errorf("pipes-data holds no pid of child A (%d): %v", a, pd.Entries)
	}
	compareWithCRIU(t, dir, "tree")
}

func TestDumpTreeLeaveRunning(t *testing.T) {
	p := startProgram(t, "tree")
	in := seizeStream(t, p.pid)
	// The image directory does not exist yet: the dump creates it.
	dir := filepath.Join(t.TempDir(), "images")
	if _, err := Dump(context.Background(), Options{Stdin: bytes.NewReader(in), Dir: dir, LeaveRunning: true}); err != nil {
		t.Fatalf("dump: %v", err)
	}
	root := readImg(t, dir, "pstree.img").Entries[0].Msg.(*images.PstreeEntry)
	st, err := proc.FS{}.Status(p.pid, 0)
	if err != nil {
		t.Fatal(err)
	}
	if st.ShdPnd != 0 || st.SigPnd != 0 {
		t.Errorf("root has pending signals %#x/%#x after the dump: the freeze left some", st.ShdPnd, st.SigPnd)
	}
	if int(root.GetPid()) != p.pid {
		t.Errorf("pstree root %d, want %d", root.GetPid(), p.pid)
	}
	if got := p.finish(t); got != "PASS" {
		t.Errorf("tree after the dump: %s", got)
	}
}

// runsOn checks that a program whose dump failed was let go on as if
// nothing happened: not stopped, and its own checks pass.
func runsOn(t *testing.T, p *program) {
	t.Helper()
	if st := procState(t, p.pid); st == 'T' || st == 't' {
		t.Fatalf("state %c after the failed dump, want running", st)
	}
	if got := p.finish(t); got != "PASS" {
		t.Errorf("program after the failed dump: %s", got)
	}
}

// TestTruncatedSeizeStream: a seize stream cut after its freeze record
// (its first member) fails the dump and lets the tree run on; one cut
// inside the record fails too, but then nothing says how the tree was
// frozen, and it stays frozen for `criu-seize --thaw` with the whole stream.
func TestTruncatedSeizeStream(t *testing.T) {
	p := startProgram(t, "state")
	in := seizeStream(t, p.pid)
	// Drop the end-of-archive blocks and the last padding byte of
	// pstree.img, the last member.
	_, err := Dump(context.Background(), Options{Stdin: bytes.NewReader(in[:len(in)-1025]), Stdout: io.Discard})
	if !errors.Is(err, ErrBadInput) {
		t.Fatalf("dump of a cut stream: %v, want ErrBadInput", err)
	}
	t.Logf("cut after the record: %v", err)
	runsOn(t, p)

	p = startProgram(t, "state")
	in = seizeStream(t, p.pid)
	// Cut inside freeze.img's tar header.
	_, err = Dump(context.Background(), Options{Stdin: bytes.NewReader(in[:300]), Stdout: io.Discard})
	if !errors.Is(err, ErrBadInput) {
		t.Fatalf("dump of a stream cut before its record: %v, want ErrBadInput", err)
	}
	t.Logf("cut before the record: %v", err)
	if st := procState(t, p.pid); st != 'T' {
		t.Errorf("state %c: the tree was touched without a freeze record", st)
	}
	rec, err := seize.ReadRecordStream(bytes.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if err := seize.Thaw(rec); err != nil {
		t.Fatal(err)
	}
	runsOn(t, p)
}

// failingWriter accepts limit bytes, then fails.
type failingWriter struct{ limit int }

func (w *failingWriter) Write(b []byte) (int, error) {
	if len(b) > w.limit {
		n := w.limit
		w.limit = 0
		return n, syscall.EPIPE
	}
	w.limit -= len(b)
	return len(b), nil
}

// TestDumpOutputFails: the reader of the image stream goes away in the
// middle of the pages.
func TestDumpOutputFails(t *testing.T) {
	p := startProgram(t, "state")
	in := seizeStream(t, p.pid)
	_, err := Dump(context.Background(), Options{Stdin: bytes.NewReader(in), Stdout: &failingWriter{limit: 100 << 10}})
	if !errors.Is(err, syscall.EPIPE) {
		t.Fatalf("dump to a broken stream: %v, want EPIPE", err)
	}
	runsOn(t, p)
}

// cancelWriter cancels the dump after some output, as a SIGTERM would.
type cancelWriter struct {
	n      int
	cancel func()
}

func (w *cancelWriter) Write(b []byte) (int, error) {
	w.n += len(b)
	if w.n > 64<<10 {
		w.cancel()
	}
	return len(b), nil
}

func TestDumpCanceled(t *testing.T) {
	p := startProgram(t, "state")
	in := seizeStream(t, p.pid)
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, err := Dump(ctx, Options{Stdin: bytes.NewReader(in), Stdout: &cancelWriter{cancel: cancel}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled dump: %v, want context.Canceled", err)
	}
	runsOn(t, p)

	// A directory dump that fails leaves no half image set behind.
	p = startProgram(t, "state")
	seizeDir(t, p.pid, dir)
	ctx, cancel = context.WithCancel(context.Background())
	cancel()
	if _, err := Dump(ctx, Options{Dir: dir}); !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled dump: %v, want context.Canceled", err)
	}
	names, err := image.ListDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(names) != "[inventory.img pstree.img]" {
		t.Errorf("directory after a failed dump holds %v, want criu-seize's images without the spent freeze record", names)
	}
	runsOn(t, p)
}

var (
	toolsOnce sync.Once
	toolsDir  string
	toolsErr  error
)

// tools builds criu-seize and criu-parasite for the tests of the binaries.
func tools(t *testing.T) string {
	t.Helper()
	testutil.RequireRoot(t)
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go not found: cannot build the binaries")
	}
	toolsOnce.Do(func() {
		if toolsDir, toolsErr = os.MkdirTemp("", "criugo-dump-tools-"); toolsErr != nil {
			return
		}
		out, err := exec.Command(goBin, "build", "-o", toolsDir+"/",
			"github.com/criugo/criugo/cmd/criu-seize", "github.com/criugo/criugo/cmd/criu-parasite").CombinedOutput()
		if err != nil {
			toolsErr = fmt.Errorf("go build: %v: %s", err, out)
		}
	})
	if toolsErr != nil {
		t.Fatal(toolsErr)
	}
	t.Cleanup(func() {})
	return toolsDir
}

// TestBinariesLoop runs the canonical pipeline on the loop program:
// criu-seize -t PID | criu-parasite -D DIR, which kills it, and checks the
// set decodes with CRIU's own crit when it is installed.
func TestBinariesLoop(t *testing.T) {
	bin := tools(t)
	loop := fixtureProgram(t, "loop")
	dir := t.TempDir()
	cnt := filepath.Join(dir, "loop.cnt")
	out, err := exec.Command("/bin/sh", "-c", `setsid "$0" "$1" </dev/null >/dev/null 2>&1 & echo $!`, loop, cnt).Output()
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(out)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Kill(pid, syscall.SIGKILL) })
	for start := time.Now(); time.Since(start) < 5*time.Second; time.Sleep(10 * time.Millisecond) {
		if b, _ := os.ReadFile(cnt); len(b) > 0 {
			break
		}
	}
	imgs := filepath.Join(dir, "img")
	if err := os.Mkdir(imgs, 0o700); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("/bin/sh", "-c", `"$0"/criu-seize -t "$1" | "$0"/criu-parasite -D "$2"`, bin, strconv.Itoa(pid), imgs)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("pipeline: %v: %s", err, out)
	}
	p := &program{pid: pid}
	p.waitKilled(t)
	compareWithCRIU(t, imgs, "loop")
	crit, err := exec.LookPath("crit")
	if err != nil {
		t.Log("CRIU's crit not installed: interop not checked")
		return
	}
	names, _ := image.ListDir(imgs)
	for _, n := range names {
		if image.KindForFile(n).Raw() {
			continue
		}
		if out, err := exec.Command(crit, "decode", "-i", filepath.Join(imgs, n)).CombinedOutput(); err != nil {
			t.Errorf("CRIU's crit cannot decode %s: %v: %s", n, err, out)
		}
	}
}

// TestBinaryKilled kills criu-parasite while it writes the pages of a
// program into a stream nobody reads: the tree must run on. The program
// holds 8 MiB, more than criu-parasite's grown pipe takes.
func TestBinaryKilled(t *testing.T) {
	bin := tools(t)
	p := bigmem(t, 8)
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	in := seizeStream(t, p.pid)
	cmd := exec.Command(filepath.Join(bin, "criu-parasite"))
	cmd.Stdin = bytes.NewReader(in)
	cmd.Stdout = pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	// Wait until the stream fills the pipe (which criu-parasite grows):
	// the dump writes only once every task is collected and the parasite
	// is gone from the tree.
	full := false
	for start := time.Now(); time.Since(start) < 10*time.Second; time.Sleep(5 * time.Millisecond) {
		size, err := unix.FcntlInt(pr.Fd(), unix.F_GETPIPE_SZ, 0)
		if err != nil {
			t.Fatal(err)
		}
		if n, err := unix.IoctlGetInt(int(pr.Fd()), unix.TIOCINQ); err == nil && n >= size {
			full = true
			break
		}
	}
	if !full {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatal("criu-parasite never filled its output")
	}
	cmd.Process.Kill()
	cmd.Wait()
	runsOn(t, p)
}

// bigmem starts testdata/bigmem.c touching sizeMB of anonymous memory.
func bigmem(t testing.TB, sizeMB int) *program {
	t.Helper()
	testutil.RequireRoot(t)
	dir := t.TempDir()
	bin := filepath.Join(dir, "bigmem")
	testutil.BuildC(t, bin, "-O2", "testdata/bigmem.c")
	p := &program{outfile: filepath.Join(dir, "out")}
	pidfile := filepath.Join(dir, "pid")
	if out, err := exec.Command("/bin/sh", "-c", `setsid "$0" "$@" </dev/null >/dev/null 2>&1 &`,
		bin, pidfile, p.outfile, strconv.Itoa(sizeMB)).CombinedOutput(); err != nil {
		t.Fatalf("start bigmem: %v: %s", err, out)
	}
	for start := time.Now(); ; time.Sleep(10 * time.Millisecond) {
		if b, err := os.ReadFile(pidfile); err == nil {
			if p.pid, err = strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
				break
			}
		}
		if time.Since(start) > 30*time.Second {
			t.Fatal("bigmem did not start")
		}
	}
	t.Cleanup(func() { syscall.Kill(p.pid, syscall.SIGKILL) })
	return p
}

// shmDir returns a fresh directory on tmpfs.
func shmDir(t testing.TB) string {
	var fs unix.Statfs_t
	if err := unix.Statfs("/dev/shm", &fs); err != nil || fs.Type != unix.TMPFS_MAGIC {
		t.Skip("/dev/shm is not a tmpfs")
	}
	dir, err := os.MkdirTemp("/dev/shm", "criugo-dump-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// TestDump1GiB dumps a process with 1 GiB of touched anonymous memory into
// tmpfs and reports how long it took (the goal is well under 0.6 s); the
// program checks its memory survived the dump.
func TestDump1GiB(t *testing.T) {
	if testing.Short() {
		t.Skip("1 GiB dump skipped in -short mode")
	}
	p := bigmem(t, 1024)
	dir := shmDir(t)
	seizing := time.Now()
	seizeDir(t, p.pid, dir)
	start := time.Now()
	res, err := Dump(context.Background(), Options{Dir: dir, LeaveRunning: true})
	if err != nil {
		t.Fatal(err)
	}
	st := res.Stats
	took := time.Since(start)
	t.Logf("1 GiB dump into tmpfs: %v (frozen %v, pages written %v, %d pages)", took, st.Frozen, st.MemWrite, st.PagesWritten)
	if st.PagesWritten < 1<<18 {
		t.Errorf("%d pages written, want at least 262144", st.PagesWritten)
	}
	checkDumpStats(t, dir, time.Since(seizing))
	if got := p.finish(t); got != "PASS" {
		t.Errorf("bigmem after the dump: %s", got)
	}
}

// TestFrozenTimeSpansStages: stats-dump's frozen_time counts from the
// moment criu-seize had the tree frozen, so it covers a pause between the
// stages, and freezing_time is criu-seize's freezing. The times of a
// freeze record from another boot mean nothing here: the dump ignores them
// without an error and counts from its own start.
func TestFrozenTimeSpansStages(t *testing.T) {
	const pause = 300 * time.Millisecond
	us := func(v uint32) time.Duration { return time.Duration(v) * time.Microsecond }

	t.Run("same boot", func(t *testing.T) {
		// As in criu-seize | criu-parasite -D, with a slow start.
		p := startProgram(t, "tree")
		dir := t.TempDir()
		seizing := time.Now()
		in := seizeStream(t, p.pid)
		rec, err := seize.ReadRecordStream(bytes.NewReader(in))
		if err != nil {
			t.Fatal(err)
		}
		if rec.GetBootId() == "" || rec.FreezeBegan == nil || rec.FreezingNs == nil {
			t.Fatalf("freeze record without times: boot id %q, began %v, freezing %v", rec.GetBootId(), rec.FreezeBegan, rec.FreezingNs)
		}
		time.Sleep(pause)
		if _, err := Dump(context.Background(), Options{Stdin: bytes.NewReader(in), Dir: dir, LeaveRunning: true}); err != nil {
			t.Fatalf("dump: %v", err)
		}
		took := time.Since(seizing)
		d := one[*images.StatsEntry](t, dir, "stats-dump").GetDump()
		t.Logf("freezing %v (criu-seize's: %v), frozen %v, pause %v, seize to dump end %v",
			us(d.GetFreezingTime()), time.Duration(rec.GetFreezingNs()), us(d.GetFrozenTime()), pause, took)
		if us(d.GetFrozenTime()) < pause {
			t.Errorf("frozen_time %v does not cover the %v pause between the stages", us(d.GetFrozenTime()), pause)
		}
		if want := uint32(rec.GetFreezingNs() / 1000); d.GetFreezingTime() != want {
			t.Errorf("freezing_time %d us, criu-seize's freezing took %d us", d.GetFreezingTime(), want)
		}
		// Freezing, then frozen: one after the other, inside the run.
		if us(d.GetFreezingTime())+us(d.GetFrozenTime()) > took {
			t.Errorf("freezing %v + frozen %v is more than the %v from seize to the end of the dump",
				us(d.GetFreezingTime()), us(d.GetFrozenTime()), took)
		}
		checkDumpStats(t, dir, took)
		if got := p.finish(t); got != "PASS" {
			t.Errorf("tree after the dump: %s", got)
		}
	})

	t.Run("other boot", func(t *testing.T) {
		p := startProgram(t, "tree")
		dir := t.TempDir()
		seizeDir(t, p.pid, dir)
		rec, err := seize.ReadRecordDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		// The same record, as if written on another boot (or machine).
		rec.BootId = proto.String("00000000-0000-4000-8000-000000000000")
		if err := os.Remove(filepath.Join(dir, seize.FreezeFile)); err != nil {
			t.Fatal(err)
		}
		f, err := image.CreateFile(dir, seize.FreezeFile)
		if err != nil {
			t.Fatal(err)
		}
		err = seize.WriteRecord(f, rec)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(pause)
		start := time.Now()
		if _, err := Dump(context.Background(), Options{Dir: dir, LeaveRunning: true}); err != nil {
			t.Fatalf("dump with a record from another boot: %v", err)
		}
		took := time.Since(start)
		d := one[*images.StatsEntry](t, dir, "stats-dump").GetDump()
		t.Logf("freezing %v, frozen %v, dump %v", us(d.GetFreezingTime()), us(d.GetFrozenTime()), took)
		// Counted from the dump's start: not the pause, not criu-seize's
		// freezing (checkDumpStats: both within took).
		checkDumpStats(t, dir, took)
		if got := p.finish(t); got != "PASS" {
			t.Errorf("tree after the dump: %s", got)
		}
	})
}

// checkDumpStats checks that stats-dump's times hold together (the
// write of the pages is inside the frozen and memdump times) and that its
// page counts match the pages images, for a freeze and dump that took at
// most took together.
func checkDumpStats(t *testing.T, dir string, took time.Duration) {
	t.Helper()
	d := one[*images.StatsEntry](t, dir, "stats-dump").GetDump()
	us := func(v uint32) time.Duration { return time.Duration(v) * time.Microsecond }
	t.Logf("stats-dump: freezing %v frozen %v memdump %v memwrite %v, %d pages scanned, %d written, %d page pipes",
		us(d.GetFreezingTime()), us(d.GetFrozenTime()), us(d.GetMemdumpTime()), us(d.GetMemwriteTime()),
		d.GetPagesScanned(), d.GetPagesWritten(), d.GetPagePipes())
	if d.GetFreezingTime() == 0 || d.GetMemwriteTime() == 0 {
		t.Errorf("freezing_time %d, memwrite_time %d: want both set", d.GetFreezingTime(), d.GetMemwriteTime())
	}
	if d.GetMemdumpTime() < d.GetMemwriteTime() || d.GetFrozenTime() < d.GetMemdumpTime() || us(d.GetFrozenTime()) > took || us(d.GetFreezingTime()) > took {
		t.Errorf("times do not nest: memwrite %d <= memdump %d <= frozen %d <= %v, freezing %d <= %[4]v",
			d.GetMemwriteTime(), d.GetMemdumpTime(), d.GetFrozenTime(), took, d.GetFreezingTime())
	}
	var pagesBytes int64
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), "pages-") {
			fi, err := e.Info()
			if err != nil {
				t.Fatal(err)
			}
			pagesBytes += fi.Size()
		}
	}
	if got := int64(d.GetPagesWritten()+d.GetShpagesWritten()) * pageSize; got != pagesBytes {
		t.Errorf("stats-dump counts %d bytes of pages, the pages images hold %d", got, pagesBytes)
	}
	if d.GetPagesScanned() < d.GetPagesWritten() {
		t.Errorf("%d pages scanned, fewer than the %d written", d.GetPagesScanned(), d.GetPagesWritten())
	}
}

func BenchmarkDump256MiB(b *testing.B) {
	for b.Loop() {
		b.StopTimer()
		p := bigmem(b, 256)
		dir := shmDir(b)
		seizeDir2(b, p.pid, dir)
		b.StartTimer()
		if _, err := Dump(context.Background(), Options{Dir: dir}); err != nil {
			b.Fatal(err)
		}
		b.SetBytes(256 << 20)
	}
}

func seizeDir2(t testing.TB, pid int, dir string) {
	if err := seize.Run(context.Background(), seize.Options{Pid: pid, Dir: dir}); err != nil {
		t.Fatalf("seize %d: %v", pid, err)
	}
}

// TestDumpPrograms dumps, with --leave-running, each C/R test program of
// test/programs (threads, pipes, files with a deleted one, mappings shared
// with a child, signals, timers, a tree, creds, a FIFO): the dump must
// succeed and the program must still pass its own checks afterwards.
func TestDumpPrograms(t *testing.T) {
	testutil.RequireRoot(t)
	bins := t.TempDir()
	for _, name := range []string{"loop", "threads", "pipe", "file", "mmap", "signals", "timers", "tree", "creds", "fifo"} {
		t.Run(name, func(t *testing.T) {
			bin := testutil.TestProgram(t, bins, name)
			dir := t.TempDir()
			p := &program{outfile: filepath.Join(dir, "out"), workdir: filepath.Join(dir, "work")}
			if err := os.Mkdir(p.workdir, 0o755); err != nil {
				t.Fatal(err)
			}
			pidfile := filepath.Join(dir, "pid")
			if out, err := exec.Command("/bin/sh", "-c", `setsid "$0" "$@" </dev/null >/dev/null 2>&1 &`,
				bin, "--pidfile", pidfile, "--outfile", p.outfile, "--workdir", p.workdir).CombinedOutput(); err != nil {
				t.Fatalf("start: %v: %s", err, out)
			}
			for start := time.Now(); ; time.Sleep(5 * time.Millisecond) {
				if b, err := os.ReadFile(pidfile); err == nil {
					if p.pid, err = strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
						break
					}
				}
				if time.Since(start) > 10*time.Second {
					t.Fatal("no pid file")
				}
			}
			t.Cleanup(func() {
				for _, pid := range sessionPids(p.pid) {
					syscall.Kill(pid, syscall.SIGKILL)
				}
			})
			imgs := filepath.Join(dir, "img")
			if err := os.Mkdir(imgs, 0o700); err != nil {
				t.Fatal(err)
			}
			seizeDir(t, p.pid, imgs)
			if _, err := Dump(context.Background(), Options{Dir: imgs, LeaveRunning: true}); err != nil {
				t.Fatalf("dump: %v", err)
			}
			if got := p.finishRepeat(t); got != "PASS" {
				t.Errorf("%s after the dump: %s", name, got)
			}
			names, err := image.ListDir(imgs)
			if err != nil {
				t.Fatal(err)
			}
			have := strings.Join(names, " ")
			for _, want := range map[string][]string{
				"file": {"ghost-file-1.img", "remap-fpath.img"},
				"fifo": {"fifo-data.img"},
				"pipe": {"pipes-data.img"},
				"mmap": {"memfd.img"},
			}[name] {
				if !strings.Contains(have, want) {
					t.Errorf("no %s in %s", want, have)
				}
			}
			if name == "timers" {
				// By id, as CRIU writes them (its restore may need it).
				core := one[*images.CoreEntry](t, imgs, image.Core.FileName(uint32(p.pid)))
				var ids []uint32
				for _, pt := range core.GetTc().GetTimers().GetPosix() {
					ids = append(ids, pt.GetItId())
				}
				if len(ids) != 3 || !slices.IsSorted(ids) {
					t.Errorf("posix timers by id: %v, want 3 in rising order", ids)
				}
			}
		})
	}
}

// finishRepeat sends SIGTERM until the program answers (test/programs may
// miss one that lands just before their pause()).
func (p *program) finishRepeat(t *testing.T) string {
	t.Helper()
	for start := time.Now(); time.Since(start) < 15*time.Second; time.Sleep(50 * time.Millisecond) {
		if b, err := os.ReadFile(p.outfile); err == nil && bytes.HasSuffix(b, []byte("\n")) {
			return strings.TrimSpace(string(b))
		}
		syscall.Kill(p.pid, syscall.SIGTERM)
	}
	return "(no output)"
}

// testCgroupDump freezes the state program through a cgroup freezer and
// dumps it with --leave-running: the dump must see it stopped at no
// particular place, the cgroup must end thawed and the program pass.
func testCgroupDump(t *testing.T, root, stateFile, thawed string) {
	testutil.RequireRoot(t)
	if _, err := os.Stat(root); err != nil {
		t.Skipf("no cgroup hierarchy at %s", root)
	}
	cg, err := os.MkdirTemp(root, "criugo-dump-")
	if err != nil {
		t.Skipf("cannot create a cgroup under %s: %v", root, err)
	}
	p := startProgram(t, "state")
	t.Cleanup(func() {
		syscall.Kill(p.pid, syscall.SIGKILL)
		for start := time.Now(); time.Since(start) < 5*time.Second; time.Sleep(10 * time.Millisecond) {
			if os.Remove(cg) == nil {
				return
			}
		}
		t.Errorf("cgroup %s not removed", cg)
	})
	if err := os.WriteFile(filepath.Join(cg, "cgroup.procs"), []byte(strconv.Itoa(p.pid)), 0); err != nil {
		t.Fatalf("move %d into %s: %v", p.pid, cg, err)
	}
	imgs := t.TempDir()
	if err := seize.Run(context.Background(), seize.Options{FreezeCgroup: cg, Pid: p.pid, Dir: imgs}); err != nil {
		t.Fatalf("seize: %v", err)
	}
	if _, err := Dump(context.Background(), Options{Dir: imgs, LeaveRunning: true}); err != nil {
		t.Fatalf("dump: %v", err)
	}
	if b, err := os.ReadFile(filepath.Join(cg, stateFile)); err != nil || strings.TrimSpace(string(b)) != thawed {
		t.Errorf("%s after the dump: %q (%v), want %s", stateFile, b, err, thawed)
	}
	if core := one[*images.CoreEntry](t, imgs, image.Core.FileName(p.pid)); core.GetTc().GetTaskState() != images.TaskAlive {
		t.Errorf("task state %d, want alive", core.GetTc().GetTaskState())
	}
	// cgroup.img records the freezer's state from before criu-seize
	// came (cgroup_linux.go), not the freeze of the dump.
	found := false
	var walk func([]*images.CgroupDirEntry)
	walk = func(ds []*images.CgroupDirEntry) {
		for _, d := range ds {
			for _, pr := range d.GetProperties() {
				if pr.GetName() == stateFile && pr.GetValue() == thawed && strings.HasSuffix(cg, d.GetDirName()) {
					found = true
				}
			}
			walk(d.GetChildren())
		}
	}
	for _, c := range one[*images.CgroupEntry](t, imgs, image.Cgroup.FileName(nil)).GetControllers() {
		walk(c.GetDirs())
	}
	if !found {
		t.Errorf("cgroup.img: no %s %s for %s", stateFile, thawed, cg)
	}
	if got := p.finish(t); got != "PASS" {
		t.Errorf("state after the dump: %s", got)
	}
}

func TestDumpCgroupV2(t *testing.T) {
	testCgroupDump(t, "/sys/fs/cgroup/unified", "cgroup.freeze", "0")
}

func TestDumpCgroupV1(t *testing.T) {
	testCgroupDump(t, "/sys/fs/cgroup/freezer", "freezer.state", "THAWED")
}

// TestDumpStoppedTask: a task stopped by job control before criu-seize
// came is recorded stopped, and stays stopped after a --leave-running dump.
func TestDumpStoppedTask(t *testing.T) {
	p := startProgram(t, "state")
	if err := syscall.Kill(p.pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	for start := time.Now(); procState(t, p.pid) != 'T'; time.Sleep(5 * time.Millisecond) {
		if time.Since(start) > 5*time.Second {
			t.Fatal("SIGSTOP did not stop the program")
		}
	}
	imgs := t.TempDir()
	seizeDir(t, p.pid, imgs)
	if _, err := Dump(context.Background(), Options{Dir: imgs, LeaveRunning: true}); err != nil {
		t.Fatalf("dump: %v", err)
	}
	tc := one[*images.CoreEntry](t, imgs, image.Core.FileName(p.pid)).GetTc()
	if tc.GetTaskState() != images.TaskStopped || tc.GetStopSigno() != uint32(syscall.SIGSTOP) {
		t.Errorf("core: state %d stop signal %d, want stopped by SIGSTOP", tc.GetTaskState(), tc.GetStopSigno())
	}
	time.Sleep(50 * time.Millisecond)
	if st := procState(t, p.pid); st != 'T' {
		t.Errorf("state %c after the dump, want still stopped", st)
	}
	if err := syscall.Kill(p.pid, syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	if got := p.finish(t); got != "PASS" {
		t.Errorf("state after SIGCONT: %s", got)
	}
}
