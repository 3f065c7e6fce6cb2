package restore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/criugo/criugo/images"
	"github.com/criugo/criugo/internal/testutil"
	"github.com/criugo/criugo/internal/testutil/fixtureset"
	"github.com/criugo/criugo/pkg/image"
)

// fixtureSet prepares one CRIU 4.2 fixture set for a restore on this
// machine (fixtureset.Restorable: the shipped set, or one made here) and
// skips the test when a PID of the set is taken.
func fixtureSet(t *testing.T, name string) string {
	t.Helper()
	dir := fixtureset.Restorable(t, name)
	testutil.SkipIfPidsTaken(t, name, setTree(t, dir).allIDs())
	return dir
}

// setTree reads the process tree of the image set in dir: the PIDs and
// TIDs a test expects come from it, not from one set's history.
func setTree(t *testing.T, dir string) *tree {
	t.Helper()
	set, err := openDirSet(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer set.close()
	tr, err := buildTree(set)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// pidsGone fails the test for every task of tr still alive (killing it).
func pidsGone(t *testing.T, tr *tree) {
	t.Helper()
	for _, pid := range tr.allIDs() {
		if _, err := os.Stat("/proc/" + strconv.Itoa(pid)); err == nil {
			t.Errorf("pid %d left behind", pid)
			unix.Kill(pid, unix.SIGKILL)
		}
	}
}

// killTree kills what a restore left running, reaps the root (the test
// process's child) and waits until every task of the tree is gone, so
// that the next test finds its PIDs free.
func killTree(t *testing.T, res *Result) {
	t.Helper()
	for _, pid := range res.Pids {
		unix.Kill(pid, unix.SIGKILL)
	}
	var ws unix.WaitStatus
	unix.Wait4(res.Root, &ws, unix.WNOHANG, nil)
	testutil.WaitGone(t, res.Pids)
}

// reapRoot waits for the root (the test's child) to exit and returns its
// wait status.
func reapRoot(t *testing.T, pid int, d time.Duration) unix.WaitStatus {
	t.Helper()
	var ws unix.WaitStatus
	deadline := time.Now().Add(d)
	for {
		got, err := unix.Wait4(pid, &ws, unix.WNOHANG, nil)
		if err != nil {
			t.Fatalf("wait for pid %d: %v", pid, err)
		}
		if got == pid {
			return ws
		}
		if time.Now().After(deadline) {
			unix.Kill(pid, unix.SIGKILL)
			unix.Wait4(pid, &ws, 0, nil)
			t.Fatalf("pid %d did not exit", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func logTimings(t *testing.T, res *Result) {
	var total time.Duration
	var parts []string
	for _, tm := range res.Timings {
		total += tm.Took
		parts = append(parts, fmt.Sprintf("%s %v", tm.Step, tm.Took.Round(10*time.Microsecond)))
	}
	t.Logf("restore took %v: %s", total.Round(10*time.Microsecond), strings.Join(parts, ", "))
}

func readCounter(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testutil.FixtureRunDir, "loop.cnt"))
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatalf("loop.cnt holds %q", b)
	}
	return n
}

func TestRestoreLoop(t *testing.T) {
	dir := fixtureSet(t, "loop")
	root := setTree(t, dir).root().pid
	res, err := Restore(context.Background(), Options{Dir: dir, Detach: true})
	if err != nil {
		t.Fatal(err)
	}
	defer killTree(t, res)
	logTimings(t, res)
	if res.Root != root {
		t.Errorf("root %d, want %d", res.Root, root)
	}
	time.Sleep(300 * time.Millisecond)
	a := readCounter(t)
	time.Sleep(500 * time.Millisecond)
	if b := readCounter(t); b <= a {
		t.Errorf("loop counter went from %d to %d in 500 ms", a, b)
	}
	exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", root))
	if err != nil || exe != "/opt/criu-fixtures/bin/loop" {
		t.Errorf("exe link %q (%v)", exe, err)
	}
	comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", root))
	if string(comm) != "loop\n" {
		t.Errorf("comm %q", comm)
	}
}

// runToPass sends SIGTERM to a restored fixture program and waits for the
// verdict it writes to outfile.
func runToPass(t *testing.T, res *Result, outfile string) {
	t.Helper()
	if err := unix.Kill(res.Root, unix.SIGTERM); err != nil {
		t.Fatal(err)
	}
	ws := reapRoot(t, res.Root, 10*time.Second)
	out, err := os.ReadFile(filepath.Join(testutil.FixtureRunDir, outfile))
	if err != nil {
		t.Fatalf("%s: %v (root exit status %v)", outfile, err, ws)
	}
	if got := strings.TrimSpace(string(out)); got != "PASS" {
		t.Errorf("%s says %q", outfile, got)
	}
}

func TestRestoreState(t *testing.T) {
	dir := fixtureSet(t, "state")
	root := setTree(t, dir).root()
	res, err := Restore(context.Background(), Options{Dir: dir, Detach: true})
	if err != nil {
		t.Fatal(err)
	}
	defer killTree(t, res)
	logTimings(t, res)
	st, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", root.pid))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(st, []byte("Threads:\t4\n")) {
		t.Errorf("restored task does not have 4 threads:\n%s", st)
	}
	for _, tid := range root.tids[1:] {
		if _, err := os.Stat(fmt.Sprintf("/proc/%d/task/%d", root.pid, tid)); err != nil {
			t.Errorf("thread %d: %v", tid, err)
		}
	}
	runToPass(t, res, "state.out")
}

func TestRestoreTree(t *testing.T) {
	dir := fixtureSet(t, "tree")
	zombie := 0
	for _, tk := range setTree(t, dir).tasks {
		if tk.zombie() {
			zombie = tk.pid
		}
	}
	if zombie == 0 {
		t.Fatal("the tree set has no zombie")
	}
	res, err := Restore(context.Background(), Options{Dir: dir, Detach: true})
	if err != nil {
		t.Fatal(err)
	}
	defer killTree(t, res)
	logTimings(t, res)
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", zombie))
	if err != nil {
		t.Fatal(err)
	}
	if s := string(stat); !strings.Contains(s, "(tree) Z ") {
		t.Errorf("%d is not the zombie tree: %s", zombie, s)
	}
	runToPass(t, res, "tree.out")
}

func TestRestoreStream(t *testing.T) {
	for i, name := range []string{"loop", "state", "tree"} {
		t.Run(name, func(t *testing.T) {
			dir := fixtureSet(t, name)
			live := 0
			for _, tk := range setTree(t, dir).tasks {
				if !tk.zombie() {
					live++
				}
			}
			var stream bytes.Buffer
			if err := image.PackDir(dir, &stream, i%2 == 1); err != nil {
				t.Fatal(err)
			}
			res, err := Restore(context.Background(), Options{Stdin: &stream, Detach: true})
			if err != nil {
				t.Fatal(err)
			}
			defer killTree(t, res)
			logTimings(t, res)
			// Pages went from the stream straight into each live task.
			streamed := 0
			for _, tm := range res.Timings {
				if strings.HasPrefix(tm.Step, "restore memory of pid ") {
					streamed++
				}
			}
			if streamed != live {
				t.Errorf("%d tasks got their pages from the stream, want %d (every live one)", streamed, live)
			}
			switch name {
			case "loop":
				a := readCounter(t)
				time.Sleep(400 * time.Millisecond)
				if b := readCounter(t); b <= a {
					t.Errorf("loop counter went from %d to %d", a, b)
				}
			default:
				runToPass(t, res, name+".out")
			}
		})
	}
}

func TestRestorePidInUse(t *testing.T) {
	dir := fixtureSet(t, "loop")
	root := setTree(t, dir).root().pid
	res, err := Restore(context.Background(), Options{Dir: dir, Detach: true})
	if err != nil {
		t.Fatal(err)
	}
	defer killTree(t, res)
	_, err = Restore(context.Background(), Options{Dir: dir, Detach: true})
	if !errors.Is(err, ErrPidInUse) {
		t.Fatalf("second restore: %v, want ErrPidInUse", err)
	}
	if want := fmt.Sprintf("pid %d (from pstree.img) is already in use", root); !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not say %q", err, want)
	}
	if err := unix.Kill(root, 0); err != nil {
		t.Errorf("the first restore's task is gone: %v", err)
	}
}

// rewriteFiles changes files.img of an image directory.
func rewriteFiles(t *testing.T, dir string, edit func(*images.FileEntry)) {
	t.Helper()
	img, err := image.ReadFile(dir, "files.img")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range img.Entries {
		edit(e.Msg.(*images.FileEntry))
	}
	var buf bytes.Buffer
	if err := image.WriteImage(&buf, img); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "files.img"), buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestRestoreFailureKillsTree(t *testing.T) {
	dir := fixtureSet(t, "tree")
	tr := setTree(t, dir)
	// The leader's cwd and fds are fine; child A's write end of its pipe
	// stays; but /dev/null as fd 10 of every task now names a missing file.
	fdinfo, id := fdFile(t, dir, tr.root(), 10)
	missing := filepath.Join(t.TempDir(), "missing")
	rewriteFiles(t, dir, func(e *images.FileEntry) {
		if e.GetId() == id {
			e.Reg.Name = &missing
		}
	})
	_, err := Restore(context.Background(), Options{Dir: dir, Detach: true})
	if err == nil {
		t.Fatal("restore with a missing file succeeded")
	}
	t.Log(err)
	want := fmt.Sprintf("restore fd 10 of pid %d (%s): open %s: no such file or directory", tr.root().pid, fdinfo, missing)
	if !strings.Contains(err.Error(), want) || !errors.Is(err, unix.ENOENT) {
		t.Errorf("error %q does not say %q", err, want)
	}
	pidsGone(t, tr)
}

// fdinfoOf returns the name of the fdinfo image of task tk (its ids'
// files_id).
func fdinfoOf(t *testing.T, dir string, tk *task) string {
	t.Helper()
	set, err := openDirSet(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer set.close()
	ids, err := single[*images.TaskKobjIdsEntry](set, idsName(uint32(tk.pid)))
	if err != nil {
		t.Fatal(err)
	}
	return fdinfoName(ids.GetFilesId())
}

// fdFile returns the fdinfo image of task tk and the id of the file its
// fd refers to, failing the test when tk has no such fd.
func fdFile(t *testing.T, dir string, tk *task, fd uint32) (fdinfo string, id uint32) {
	t.Helper()
	fdinfo = fdinfoOf(t, dir, tk)
	set, err := openDirSet(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer set.close()
	fds, err := entries[*images.FdinfoEntry](set, fdinfo, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range fds {
		if e.GetFd() == fd {
			return fdinfo, e.GetId()
		}
	}
	t.Fatalf("pid %d has no fd %d in %s", tk.pid, fd, fdinfo)
	return "", 0
}

func TestRestoreWaitsForRoot(t *testing.T) {
	dir := fixtureSet(t, "state")
	root := setTree(t, dir).root().pid
	os.Remove(filepath.Join(testutil.FixtureRunDir, "state.out"))
	type result struct {
		res *Result
		err error
	}
	done := make(chan result, 1)
	go func() {
		res, err := Restore(context.Background(), Options{Dir: dir, PidFile: filepath.Join(t.TempDir(), "pid")})
		done <- result{res, err}
	}()
	// The pid file appears once the tree runs.
	deadline := time.Now().Add(10 * time.Second)
	for {
		if st, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", root)); err == nil && bytes.Contains(st, []byte("TracerPid:\t0\n")) && bytes.Contains(st, []byte("Threads:\t4\n")) {
			break
		}
		select {
		case r := <-done:
			t.Fatalf("restore returned early: %v", r.err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("the tree did not come up")
		}
		time.Sleep(10 * time.Millisecond)
	}
	unix.Kill(root, unix.SIGTERM)
	select {
	case r := <-done:
		if r.err != nil {
			t.Fatal(r.err)
		}
		if r.res.ExitStatus != 0 {
			t.Errorf("exit status %d, want 0", r.res.ExitStatus)
		}
	case <-time.After(10 * time.Second):
		unix.Kill(root, unix.SIGKILL)
		t.Fatal("restore did not return after the root exited")
	}
	if out, _ := os.ReadFile(filepath.Join(testutil.FixtureRunDir, "state.out")); strings.TrimSpace(string(out)) != "PASS" {
		t.Errorf("state.out says %q", out)
	}
}

func TestRestoreCutStream(t *testing.T) {
	dir := fixtureSet(t, "tree")
	tr := setTree(t, dir)
	var stream bytes.Buffer
	if err := image.PackDir(dir, &stream, false); err != nil {
		t.Fatal(err)
	}
	// Cut inside the pages of the third task: the tree exists by then and
	// two tasks have their memory.
	set, err := openDirSet(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer set.close()
	third, _, err := readPagemap(set, pagemapName(uint32(tr.tasks[2].pid)))
	if err != nil {
		t.Fatal(err)
	}
	b := stream.Bytes()
	cut := bytes.Index(b, []byte(pagesName(third)))
	if cut < 0 {
		t.Fatalf("no %s in the stream", pagesName(third))
	}
	_, err = Restore(context.Background(), Options{Stdin: bytes.NewReader(b[:cut+4096]), Detach: true})
	if err == nil {
		t.Fatal("a cut stream restored")
	}
	t.Log(err)
	if !errors.Is(err, image.ErrTruncated) {
		t.Errorf("error %v does not match image.ErrTruncated", err)
	}
	pidsGone(t, tr)
}
