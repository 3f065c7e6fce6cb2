package seize

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/proto"

	"github.com/criugo/criugo/images"
	"github.com/criugo/criugo/internal/testutil"
	"github.com/criugo/criugo/pkg/image"
	"github.com/criugo/criugo/pkg/ptrace"
)

// startTree starts the "tree" role and waits until the whole tree is up:
// root with children a, b and a zombie; b with child c; all counting.
func startTree(t *testing.T) (root int, dir string) {
	t.Helper()
	dir = t.TempDir()
	c := startRole(t, "tree", dir)
	root = c.Process.Pid
	waitFor(t, 10*time.Second, "the test tree", func() bool {
		for _, f := range []string{"root", "a", "b", "c"} {
			if counter(t, filepath.Join(dir, f)) == 0 {
				return false
			}
		}
		zombies := 0
		for _, pid := range descendants(root) {
			if st, err := readStat(pid, 0); err == nil && st.State == 'Z' {
				zombies++
			}
		}
		return len(descendants(root)) == 5 && zombies == 1
	})
	return root, dir
}

// checkPstree compares pstree entries with what /proc says of the tree.
func checkPstree(t *testing.T, root int, entries []*images.PstreeEntry) {
	t.Helper()
	pids := descendants(root)
	if len(entries) != len(pids) {
		t.Fatalf("pstree has %d tasks, /proc shows %d (%v)", len(entries), len(pids), pids)
	}
	if entries[0].GetPid() != uint32(root) || entries[0].GetPpid() != 0 {
		t.Errorf("first entry %v is not the root %d with ppid 0", entries[0], root)
	}
	seen := map[uint32]int{}
	for i, e := range entries {
		pid := int(e.GetPid())
		seen[e.GetPid()] = i
		st, err := readStat(pid, 0)
		if err != nil {
			t.Fatalf("pstree pid %d: %v", pid, err)
		}
		if pid != root {
			pi, ok := seen[e.GetPpid()]
			if !ok || pi >= i || int(e.GetPpid()) != st.PPid {
				t.Errorf("pid %d: ppid %d, /proc says %d (must come before it)", pid, e.GetPpid(), st.PPid)
			}
		}
		if int(e.GetPgid()) != st.Pgrp || int(e.GetSid()) != st.Session {
			t.Errorf("pid %d: pgid/sid %d/%d, /proc says %d/%d", pid, e.GetPgid(), e.GetSid(), st.Pgrp, st.Session)
		}
		if st.State == 'Z' {
			if !slices.Equal(e.GetThreads(), []uint32{0}) {
				t.Errorf("zombie %d: threads %v, want [0]", pid, e.GetThreads())
			}
			continue
		}
		tids, _ := listThreads(pid)
		var got []int
		for _, tid := range e.GetThreads() {
			got = append(got, int(tid))
		}
		if got[0] != pid {
			t.Errorf("pid %d: first thread %d is not the leader", pid, got[0])
		}
		slices.Sort(got)
		if !slices.Equal(got, tids) {
			t.Errorf("pid %d: threads %v, /proc says %v", pid, got, tids)
		}
	}
}

func TestFreezeTreeToDirAndThaw(t *testing.T) {
	testutil.RequireRoot(t)
	root, dir := startTree(t)
	imgs := filepath.Join(t.TempDir(), "imgs")
	if err := Run(context.Background(), Options{Pid: root, Dir: imgs}); err != nil {
		t.Fatal(err)
	}
	assertFrozen(t, root)
	for _, f := range []string{"root", "a", "b", "c"} {
		assertStill(t, filepath.Join(dir, f))
	}
	pst, err := image.ReadFile(imgs, "pstree.img")
	if err != nil {
		t.Fatal(err)
	}
	var entries []*images.PstreeEntry
	for _, e := range pst.Entries {
		entries = append(entries, e.Msg.(*images.PstreeEntry))
	}
	checkPstree(t, root, entries)
	inv, err := image.ReadFile(imgs, "inventory.img")
	if err != nil {
		t.Fatal(err)
	}
	rec, err := ReadRecordDir(imgs)
	if err != nil {
		t.Fatal(err)
	}
	if rec.GetRunId() == "" || rec.GetRunId() != inv.Entries[0].Msg.(*images.InventoryEntry).GetDumpCriuRunId() {
		t.Errorf("record run id %q does not match inventory", rec.GetRunId())
	}
	if rec.GetMethod() != images.CriugoFreezeMethod_CRIUGO_FREEZE_PTRACE_STOP || rec.GetRootPid() != uint32(root) {
		t.Errorf("record head %v", rec)
	}
	// The record times the freeze, on this boot's clock.
	if rec.GetBootId() != readBootID() || rec.GetBootId() == "" || rec.GetFreezingNs() == 0 {
		t.Errorf("record times: boot id %q (this boot %q), freezing %d ns", rec.GetBootId(), readBootID(), rec.GetFreezingNs())
	}
	if ft, ok := Times(rec); !ok || time.Since(ft.Frozen()) < 0 || time.Since(ft.Began) > time.Minute {
		t.Errorf("Times of a fresh record: %+v, %v", ft, ok)
	}
	for _, task := range rec.GetTasks() {
		isZombie := task.GetState() == zombie
		if task.GetStoppedByUs() == isZombie {
			t.Errorf("pid %d: state %v, stopped_by_us %v", task.GetPid(), task.GetState(), task.GetStoppedByUs())
		}
		st, _ := readStat(int(task.GetPid()), 0)
		if st == nil || st.StartTime != task.GetStartTime() {
			t.Errorf("pid %d: start time %d, /proc says %v", task.GetPid(), task.GetStartTime(), st)
		}
	}

	if err := Run(context.Background(), Options{Thaw: true, Dir: imgs}); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"root", "a", "b", "c"} {
		waitCounting(t, filepath.Join(dir, f))
	}
	assertNotStopped(t, root)
}

func TestFreezeToStreamAndThawFromStream(t *testing.T) {
	testutil.RequireRoot(t)
	file := filepath.Join(t.TempDir(), "cnt")
	c := startRole(t, "counter", file)
	waitCounting(t, file)
	var out bytes.Buffer
	if err := Run(context.Background(), Options{Pid: c.Process.Pid, Stdout: &out}); err != nil {
		t.Fatal(err)
	}
	assertFrozen(t, c.Process.Pid)
	assertStill(t, file)
	if err := Run(context.Background(), Options{Thaw: true, Stdin: bytes.NewReader(out.Bytes())}); err != nil {
		t.Fatal(err)
	}
	waitCounting(t, file)
	assertNotStopped(t, c.Process.Pid)
}

// TestFreezeForkingTree freezes a tree that forks processes and creates
// threads without pause, and checks that nothing escapes: every task under
// the root is stopped and described, and none appears afterwards.
func TestFreezeForkingTree(t *testing.T) {
	testutil.RequireRoot(t)
	file := filepath.Join(t.TempDir(), "cnt")
	c := startRole(t, "forker", file)
	root := c.Process.Pid
	waitCounting(t, file)
	waitFor(t, 5*time.Second, "forks", func() bool { return len(descendants(root)) > 3 })
	for i := 0; i < 3; i++ {
		res, err := Freeze(context.Background(), Options{Pid: root})
		if err != nil {
			t.Fatal(err)
		}
		before := descendants(root)
		assertFrozen(t, root)
		var described []int
		for _, task := range res.Tree.Order() {
			described = append(described, task.Pid)
		}
		slices.Sort(described)
		got := slices.Clone(before)
		slices.Sort(got)
		if !slices.Equal(got, described) {
			t.Errorf("round %d: /proc shows %v under the root, the freeze describes %v", i, got, described)
		}
		checkPstree(t, root, res.Pstree)
		assertStill(t, file)
		if after := descendants(root); !slices.Equal(after, before) {
			t.Errorf("round %d: the tree changed while frozen: %v -> %v", i, before, after)
		}
		if err := Thaw(res.Record); err != nil {
			t.Fatal(err)
		}
		waitCounting(t, file)
	}
}

// TestAlreadyStoppedStaysStopped checks that a task stopped by job control
// before the freeze is recorded so and that Thaw leaves it stopped.
func TestAlreadyStoppedStaysStopped(t *testing.T) {
	testutil.RequireRoot(t)
	file := filepath.Join(t.TempDir(), "cnt")
	c := startRole(t, "counter", file)
	pid := c.Process.Pid
	waitCounting(t, file)
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the job-control stop", func() bool {
		st, err := readStat(pid, 0)
		return err == nil && st.State == 'T'
	})
	res, err := Freeze(context.Background(), Options{Pid: pid})
	if err != nil {
		t.Fatal(err)
	}
	task := res.Record.GetTasks()[0]
	if task.GetState() != stopped || task.GetStoppedByUs() {
		t.Errorf("state %v stopped_by_us %v, want STOPPED, false", task.GetState(), task.GetStoppedByUs())
	}
	if err := Thaw(res.Record); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond)
	assertFrozen(t, pid)
	assertStill(t, file)
	syscall.Kill(pid, syscall.SIGCONT)
	waitCounting(t, file)
}

// TestPendingSignalsRecorded checks that the record holds the signals the
// tree had pending, and not the ones the freeze causes.
func TestPendingSignalsRecorded(t *testing.T) {
	testutil.RequireRoot(t)
	root, _ := startTree(t)
	// The tree's tasks are Go programs: SIGURG is caught and harmless.
	if err := syscall.Kill(root, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the root's stop", func() bool {
		st, err := readStat(root, 0)
		return err == nil && st.State == 'T'
	})
	if err := syscall.Kill(root, syscall.SIGURG); err != nil {
		t.Fatal(err)
	}
	res, err := Freeze(context.Background(), Options{Pid: root})
	if err != nil {
		t.Fatal(err)
	}
	defer Thaw(res.Record)
	defer syscall.Kill(root, syscall.SIGCONT)
	r := res.Record.GetTasks()[0]
	if r.GetShdpnd()&(1<<(syscall.SIGURG-1)) == 0 {
		t.Errorf("root shdpnd %#x lacks the pending SIGURG", r.GetShdpnd())
	}
	// The children were stopped by the freeze: their CLD_STOPPED SIGCHLDs
	// to the root come after the record was taken.
	if r.GetShdpnd()&(1<<(syscall.SIGCHLD-1)) != 0 {
		t.Errorf("root shdpnd %#x holds a SIGCHLD before any child stopped", r.GetShdpnd())
	}
	st, err := readStatus(root, 0)
	if err != nil {
		t.Fatal(err)
	}
	if st.ShdPnd&(1<<(syscall.SIGCHLD-1)) == 0 {
		t.Errorf("no SIGCHLD pending at the stopped root after its children were stopped (shdpnd %#x)", st.ShdPnd)
	}
}

func TestSeizeErrors(t *testing.T) {
	testutil.RequireRoot(t)
	ctx := context.Background()

	pid := freePid(t)
	err := Run(ctx, Options{Pid: pid, Dir: t.TempDir()})
	if !errors.Is(err, ErrNoProcess) || !errors.Is(err, unix.ESRCH) {
		t.Errorf("missing pid: %v, want ErrNoProcess and ESRCH", err)
	}
	if want := fmt.Sprintf("seize pid %d: no such process", pid); err == nil || err.Error() != want {
		t.Errorf("missing pid: message %q, want %q", err, want)
	}

	tid := otherThread(t)
	if err := Run(ctx, Options{Pid: tid, Dir: t.TempDir()}); !errors.Is(err, ErrNotProcess) {
		t.Errorf("thread %d: %v, want ErrNotProcess", tid, err)
	}
	if err := Run(ctx, Options{Pid: os.Getpid(), Dir: t.TempDir()}); !errors.Is(err, ErrSelf) {
		t.Errorf("own pid: %v, want ErrSelf", err)
	}
	if err := Run(ctx, Options{Pid: os.Getppid(), Dir: t.TempDir()}); !errors.Is(err, ErrSelf) {
		t.Errorf("parent pid: %v, want ErrSelf", err)
	}
	if err := Run(ctx, Options{Dir: t.TempDir()}); !errors.Is(err, ErrBadOptions) {
		t.Errorf("no pid: %v, want ErrBadOptions", err)
	}

	z := exec.Command("/bin/true")
	if err := z.Start(); err != nil {
		t.Fatal(err)
	}
	defer z.Wait()
	waitFor(t, 5*time.Second, "a zombie", func() bool {
		st, err := readStat(z.Process.Pid, 0)
		return err == nil && st.State == 'Z'
	})
	if err := Run(ctx, Options{Pid: z.Process.Pid, Dir: t.TempDir()}); !errors.Is(err, ErrNotSupported) {
		t.Errorf("zombie root: %v, want ErrNotSupported", err)
	}
}

// TestTracedTaskRefused checks that a task someone else traces is refused
// with a clear error and the tree is left running.
func TestTracedTaskRefused(t *testing.T) {
	testutil.RequireRoot(t)
	dir := t.TempDir()
	root, _ := startTree(t)
	var victim int
	for _, pid := range descendants(root) {
		if st, _ := readStat(pid, 0); st != nil && st.State != 'Z' && pid != root {
			victim = pid
			break
		}
	}
	tr := ptrace.NewTracer()
	defer tr.Close()
	if err := tr.Seize(victim, 0); err != nil {
		t.Fatal(err)
	}
	err := Run(context.Background(), Options{Pid: root, Dir: filepath.Join(dir, "imgs")})
	if !errors.Is(err, ErrTraced) || !strings.Contains(err.Error(), fmt.Sprintf("pid %d", victim)) {
		t.Errorf("traced child %d: %v, want ErrTraced naming it", victim, err)
	}
	assertNotStopped(t, root)
	if _, err := os.Stat(filepath.Join(dir, "imgs")); err == nil {
		t.Error("a failed freeze wrote images")
	}
}

// failWriter fails every write, as a reader that went away does.
type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, syscall.EPIPE }

// TestFailureAfterFreezeLeavesTreeRunning injects failures after the tree
// is held: an image directory that cannot take the images, and an output
// that fails. Each time the tree must be running afterwards.
func TestFailureAfterFreezeLeavesTreeRunning(t *testing.T) {
	testutil.RequireRoot(t)
	root, dir := startTree(t)
	imgs := t.TempDir()
	if err := os.WriteFile(filepath.Join(imgs, "inventory.img"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	notDir := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(notDir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		opts Options
	}{
		{"taken image dir", Options{Pid: root, Dir: imgs}},
		{"image dir under a file", Options{Pid: root, Dir: filepath.Join(notDir, "imgs")}},
		{"broken output", Options{Pid: root, Stdout: failWriter{}}},
	}
	for _, c := range cases {
		err := Run(context.Background(), c.opts)
		if err == nil {
			t.Fatalf("%s: Run succeeded", c.name)
		}
		if !strings.Contains(err.Error(), "freeze undone") {
			t.Errorf("%s: error %q does not say the freeze was undone", c.name, err)
		}
		assertNotStopped(t, root)
		for _, f := range []string{"root", "a", "b", "c"} {
			waitCounting(t, filepath.Join(dir, f))
		}
	}
	if _, err := os.Stat(filepath.Join(imgs, "pstree.img")); err == nil {
		t.Error("a failed write left pstree.img behind")
	}
}

// TestCancelledFreeze checks that a cancelled context stops the freeze
// before anything is held.
func TestCancelledFreeze(t *testing.T) {
	testutil.RequireRoot(t)
	file := filepath.Join(t.TempDir(), "cnt")
	c := startRole(t, "counter", file)
	waitCounting(t, file)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Run(ctx, Options{Pid: c.Process.Pid, Dir: t.TempDir()}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
	waitCounting(t, file)
}

// cgroupDir makes a fresh cgroup under base, removed when the test ends
// (after the processes the test started in it are gone).
func cgroupDir(t *testing.T, base, check string) string {
	t.Helper()
	if _, err := os.Stat(filepath.Join(base, check)); err != nil {
		t.Skipf("no cgroup hierarchy at %s (%v)", base, err)
	}
	dir := filepath.Join(base, fmt.Sprintf("criugo-seize-test-%d-%s", os.Getpid(), strings.ReplaceAll(t.Name(), "/", "_")))
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Registered before the processes' cleanups, so it runs after them.
		for i := 0; i < 100; i++ {
			if err := os.Remove(dir); err == nil || errors.Is(err, os.ErrNotExist) {
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
		t.Errorf("cgroup %s left behind", dir)
	})
	return dir
}

func joinCgroup(t *testing.T, dir string, pid int) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(fmt.Sprint(pid)), 0); err != nil {
		t.Fatal(err)
	}
}

func readTrim(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

func testCgroup(t *testing.T, base, check, stateFile, frozen, thawed string, method images.CriugoFreezeMethod) {
	testutil.RequireRoot(t)
	dir := cgroupDir(t, base, check)
	file := filepath.Join(t.TempDir(), "cnt")
	c := startRole(t, "counter", file)
	pid := c.Process.Pid
	joinCgroup(t, dir, pid)
	waitCounting(t, file)

	var out bytes.Buffer
	if err := Run(context.Background(), Options{FreezeCgroup: dir, Stdout: &out}); err != nil {
		t.Fatal(err)
	}
	if s := readTrim(t, filepath.Join(dir, stateFile)); s != frozen {
		t.Errorf("%s is %q after the freeze", stateFile, s)
	}
	assertStill(t, file)
	rec, err := ReadRecordStream(bytes.NewReader(out.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if rec.GetMethod() != method || rec.GetCgroup() != dir || rec.GetCgroupWasFrozen() || rec.GetRootPid() != uint32(pid) {
		t.Errorf("record %v", rec)
	}
	if len(rec.GetTasks()) != 1 || rec.GetTasks()[0].GetStoppedByUs() || rec.GetTasks()[0].GetState() != running {
		t.Errorf("record tasks %v", rec.GetTasks())
	}
	if err := Run(context.Background(), Options{Thaw: true, Stdin: bytes.NewReader(out.Bytes())}); err != nil {
		t.Fatal(err)
	}
	if s := readTrim(t, filepath.Join(dir, stateFile)); s != thawed {
		t.Errorf("%s is %q after the thaw", stateFile, s)
	}
	waitCounting(t, file)

	// A cgroup frozen before criu-seize came stays frozen after a thaw.
	if err := os.WriteFile(filepath.Join(dir, stateFile), []byte(frozen), 0); err != nil {
		t.Fatal(err)
	}
	res, err := Freeze(context.Background(), Options{FreezeCgroup: dir, Pid: pid})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Record.GetCgroupWasFrozen() {
		t.Error("cgroup_was_frozen unset for a frozen cgroup")
	}
	if err := Thaw(res.Record); err != nil {
		t.Fatal(err)
	}
	if s := readTrim(t, filepath.Join(dir, stateFile)); s != frozen {
		t.Errorf("thaw of a cgroup that was frozen before: %s is %q", stateFile, s)
	}
	if err := os.WriteFile(filepath.Join(dir, stateFile), []byte(thawed), 0); err != nil {
		t.Fatal(err)
	}
	waitCounting(t, file)

	// Two unrelated processes are two trees: refused, and thawed again.
	file2 := filepath.Join(t.TempDir(), "cnt2")
	c2 := startRole(t, "counter", file2)
	joinCgroup(t, dir, c2.Process.Pid)
	err = Run(context.Background(), Options{FreezeCgroup: dir, Stdout: &out})
	if !errors.Is(err, ErrBadTree) || !strings.Contains(err.Error(), "freeze undone") {
		t.Errorf("two trees: %v, want ErrBadTree, undone", err)
	}
	if s := readTrim(t, filepath.Join(dir, stateFile)); s != thawed {
		t.Errorf("failed freeze left %s %q", stateFile, s)
	}
	waitCounting(t, file)
	waitCounting(t, file2)
}

func TestCgroupV1Freezer(t *testing.T) {
	testCgroup(t, "/sys/fs/cgroup/freezer", "tasks", "freezer.state", "FROZEN", "THAWED",
		images.CriugoFreezeMethod_CRIUGO_FREEZE_CGROUP_V1)
}

func TestCgroupV2Freezer(t *testing.T) {
	testCgroup(t, "/sys/fs/cgroup/unified", "cgroup.subtree_control", "cgroup.freeze", "1", "0",
		images.CriugoFreezeMethod_CRIUGO_FREEZE_CGROUP_V2)
}

func TestCgroupWithoutFreezer(t *testing.T) {
	_, err := Freeze(context.Background(), Options{FreezeCgroup: t.TempDir()})
	if !errors.Is(err, ErrNoFreezer) {
		t.Errorf("plain directory: %v, want ErrNoFreezer", err)
	}
}

// TestThawSkipsReusedPid checks that Thaw does not signal a pid whose
// start time is not the recorded one.
func TestThawSkipsReusedPid(t *testing.T) {
	testutil.RequireRoot(t)
	file := filepath.Join(t.TempDir(), "cnt")
	c := startRole(t, "counter", file)
	pid := c.Process.Pid
	waitCounting(t, file)
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the stop", func() bool {
		st, err := readStat(pid, 0)
		return err == nil && st.State == 'T'
	})
	st, err := readStat(pid, 0)
	if err != nil {
		t.Fatal(err)
	}
	rec := &images.CriugoFreezeEntry{
		Method:  images.CriugoFreezeMethod_CRIUGO_FREEZE_PTRACE_STOP.Enum(),
		RootPid: proto.Uint32(uint32(pid)),
		Tasks: []*images.CriugoFreezeTaskEntry{{
			Pid: proto.Uint32(uint32(pid)), NsPid: proto.Uint32(uint32(pid)), State: running.Enum(),
			StoppedByUs: proto.Bool(true), Shdpnd: proto.Uint64(0), StartTime: proto.Uint64(st.StartTime + 1),
		}},
	}
	if err := Thaw(rec); err != nil {
		t.Fatal(err)
	}
	assertStill(t, file)
	rec.Tasks[0].StartTime = proto.Uint64(st.StartTime)
	if err := Thaw(rec); err != nil {
		t.Fatal(err)
	}
	waitCounting(t, file)
}

// TestBornTracedChild checks the path of a child forked by a seized task:
// the kernel attaches it to criu-seize's tracer at birth, so PTRACE_SEIZE
// fails with EPERM, and the seizer must take it as its own.
func TestBornTracedChild(t *testing.T) {
	testutil.RequireRoot(t)
	file := filepath.Join(t.TempDir(), "cnt")
	c := startRole(t, "rawforker", file)
	pid := c.Process.Pid
	waitCounting(t, file)
	s := &seizer{tr: ptrace.NewTracer(), timeout: 5 * time.Second, self: os.Getpid(), threads: map[int]*seizedThread{}}
	defer s.tr.Close()
	defer s.detachAll()
	// Seize every thread, as the walk does, then let only the forking
	// thread run into its next fork: it stops at PTRACE_EVENT_FORK with
	// the child already traced.
	tids, err := listThreads(pid)
	if err != nil {
		t.Fatal(err)
	}
	for _, tid := range tids {
		if err := s.seizeThread(pid, tid); err != nil {
			t.Fatal(err)
		}
	}
	forker := forkingThread(t, pid)
	if err := s.tr.Cont(forker, 0); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, ok, err := s.tr.WaitTimeout(forker, 100*time.Millisecond)
		if err != nil {
			t.Fatalf("wait for the fork: %v", err)
		}
		if !ok {
			if time.Now().After(deadline) {
				t.Fatal("no fork event within 10 s")
			}
			// A child forked between the seize and the stop was born
			// traced and stopped: the forker waits for it forever
			// unless it is let go.
			releaseBornTraced(t, s, pid, forker)
			continue
		}
		if st.Kind == ptrace.EventStop && st.Event == unix.PTRACE_EVENT_FORK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no fork event, last stop %v", st)
		}
		sig := unix.Signal(0)
		if st.Kind == ptrace.SignalStop {
			sig = unix.Signal(st.Signal) // SIGCHLD of the previous child
		}
		if err := s.tr.Cont(forker, sig); err != nil {
			t.Fatal(err)
		}
	}
	kids, err := readChildren(pid, []int{forker})
	if err != nil || len(kids) == 0 {
		t.Fatalf("children of the forker: %v %v", kids, err)
	}
	child := kids[len(kids)-1]
	cst, err := readStatus(child, 0)
	if err != nil {
		t.Fatal(err)
	}
	if cst.TracerPid != s.tr.ThreadID() {
		t.Fatalf("child %d: TracerPid %d, want the tracer thread %d", child, cst.TracerPid, s.tr.ThreadID())
	}
	if err := s.seizeThread(child, child); err != nil {
		t.Fatalf("seize born-traced child %d: %v", child, err)
	}
	if s.threads[child] == nil || !s.threads[child].attached {
		t.Fatalf("child %d not held", child)
	}
	if st, _ := readStat(child, 0); st == nil || st.State != 't' {
		t.Errorf("child %d state %v, want t", child, st)
	}
}

// forkingThread finds the thread of the rawforker role that forks: the one
// that has children.
func forkingThread(t *testing.T, pid int) int {
	t.Helper()
	tids, _ := listThreads(pid)
	for _, tid := range tids {
		if st, err := readStatus(pid, tid); err == nil && st.Name == "rawforker" {
			return tid
		}
	}
	t.Fatal("no thread named rawforker")
	return 0
}

// releaseBornTraced detaches the children of forker that were attached to
// the tracer at birth, so that they can exit and be reaped.
func releaseBornTraced(t *testing.T, s *seizer, pid, forker int) {
	t.Helper()
	kids, err := readChildren(pid, []int{forker})
	if err != nil {
		return
	}
	for _, kid := range kids {
		st, err := readStatus(kid, 0)
		if err != nil || st.TracerPid != s.tr.ThreadID() {
			continue
		}
		if _, ok, _ := s.tr.WaitTimeout(kid, 100*time.Millisecond); ok {
			s.tr.Detach(kid, 0)
		}
	}
}
