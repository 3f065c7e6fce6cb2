package restore

import (
	"bytes"
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
	"github.com/criugo/criugo/pkg/image"
)

// fixtureSet prepares one CRIU 4.2 fixture set for a restore
// (testutil.RestorableSet) and skips the test when a PID of the set is
// taken.
func fixtureSet(t *testing.T, name string) string {
	t.Helper()
	dir := testutil.RestorableSet(t, name)
	set, err := openDirSet(dir)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := buildTree(set)
	if err != nil {
		t.Fatal(err)
	}
	testutil.SkipIfPidsTaken(t, name, tr.allIDs())
	return dir
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
	res, err := Restore(Options{ImagesDir: dir, Detach: true})
	if err != nil {
		t.Fatal(err)
	}
	defer killTree(t, res)
	logTimings(t, res)
	if res.Root != 16226 {
		t.Errorf("root %d, want 16226", res.Root)
	}
	time.Sleep(300 * time.Millisecond)
	a := readCounter(t)
	time.Sleep(500 * time.Millisecond)
	if b := readCounter(t); b <= a {
		t.Errorf("loop counter went from %d to %d in 500 ms", a, b)
	}
	exe, err := os.Readlink("/proc/16226/exe")
	if err != nil || exe != "/opt/criu-fixtures/bin/loop" {
		t.Errorf("exe link %q (%v)", exe, err)
	}
	comm, _ := os.ReadFile("/proc/16226/comm")
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
	res, err := Restore(Options{ImagesDir: dir, Detach: true})
	if err != nil {
		t.Fatal(err)
	}
	defer killTree(t, res)
	logTimings(t, res)
	st, err := os.ReadFile("/proc/16227/status")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(st, []byte("Threads:\t4\n")) {
		t.Errorf("restored task does not have 4 threads:\n%s", st)
	}
	for _, tid := range []int{16234, 16235, 16236} {
		if _, err := os.Stat(fmt.Sprintf("/proc/16227/task/%d", tid)); err != nil {
			t.Errorf("thread %d: %v", tid, err)
		}
	}
	runToPass(t, res, "state.out")
}

func TestRestoreTree(t *testing.T) {
	dir := fixtureSet(t, "tree")
	res, err := Restore(Options{ImagesDir: dir, Detach: true})
	if err != nil {
		t.Fatal(err)
	}
	defer killTree(t, res)
	logTimings(t, res)
	stat, err := os.ReadFile("/proc/16233/stat")
	if err != nil {
		t.Fatal(err)
	}
	if s := string(stat); !strings.Contains(s, "(tree) Z ") {
		t.Errorf("16233 is not the zombie tree: %s", s)
	}
	runToPass(t, res, "tree.out")
}

func TestRestoreStream(t *testing.T) {
	for i, name := range []string{"loop", "state", "tree"} {
		t.Run(name, func(t *testing.T) {
			dir := fixtureSet(t, name)
			var stream bytes.Buffer
			if err := image.PackDir(dir, &stream, i%2 == 1); err != nil {
				t.Fatal(err)
			}
			res, err := Restore(Options{Stream: &stream, Detach: true})
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
			if want := map[string]int{"loop": 1, "state": 1, "tree": 4}[name]; streamed != want {
				t.Errorf("%d tasks got their pages from the stream, want %d", streamed, want)
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
	res, err := Restore(Options{ImagesDir: dir, Detach: true})
	if err != nil {
		t.Fatal(err)
	}
	defer killTree(t, res)
	_, err = Restore(Options{ImagesDir: dir, Detach: true})
	if !errors.Is(err, ErrPidInUse) {
		t.Fatalf("second restore: %v, want ErrPidInUse", err)
	}
	if want := "restore: pid 16226 (from pstree.img) is already in use"; !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not say %q", err, want)
	}
	if err := unix.Kill(16226, 0); err != nil {
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
	// The leader's cwd and fds are fine; child A's write end of its pipe
	// stays; but /dev/null as fd 10 of every task now names a missing file.
	missing := filepath.Join(t.TempDir(), "missing")
	rewriteFiles(t, dir, func(e *images.FileEntry) {
		if e.GetId() == 7 {
			e.Reg.Name = &missing
		}
	})
	_, err := Restore(Options{ImagesDir: dir, Detach: true})
	if err == nil {
		t.Fatal("restore with a missing file succeeded")
	}
	t.Log(err)
	want := fmt.Sprintf("restore fd 10 of pid 16228 (fdinfo-2.img): open %s: no such file or directory", missing)
	if !strings.Contains(err.Error(), want) || !errors.Is(err, unix.ENOENT) {
		t.Errorf("error %q does not say %q", err, want)
	}
	for _, pid := range []int{16228, 16230, 16231, 16232, 16233} {
		if _, err := os.Stat("/proc/" + strconv.Itoa(pid)); err == nil {
			t.Errorf("pid %d left behind", pid)
			unix.Kill(pid, unix.SIGKILL)
		}
	}
}

func TestRestoreWaitsForRoot(t *testing.T) {
	dir := fixtureSet(t, "state")
	os.Remove(filepath.Join(testutil.FixtureRunDir, "state.out"))
	type result struct {
		res *Result
		err error
	}
	done := make(chan result, 1)
	go func() {
		res, err := Restore(Options{ImagesDir: dir, PidFile: filepath.Join(t.TempDir(), "pid")})
		done <- result{res, err}
	}()
	// The pid file appears once the tree runs.
	deadline := time.Now().Add(10 * time.Second)
	for {
		if st, err := os.ReadFile("/proc/16227/status"); err == nil && bytes.Contains(st, []byte("TracerPid:\t0\n")) && bytes.Contains(st, []byte("Threads:\t4\n")) {
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
	unix.Kill(16227, unix.SIGTERM)
	select {
	case r := <-done:
		if r.err != nil {
			t.Fatal(r.err)
		}
		if r.res.ExitStatus != 0 {
			t.Errorf("exit status %d, want 0", r.res.ExitStatus)
		}
	case <-time.After(10 * time.Second):
		unix.Kill(16227, unix.SIGKILL)
		t.Fatal("restore did not return after the root exited")
	}
	if out, _ := os.ReadFile(filepath.Join(testutil.FixtureRunDir, "state.out")); strings.TrimSpace(string(out)) != "PASS" {
		t.Errorf("state.out says %q", out)
	}
}

func TestRestoreCutStream(t *testing.T) {
	dir := fixtureSet(t, "tree")
	var stream bytes.Buffer
	if err := image.PackDir(dir, &stream, false); err != nil {
		t.Fatal(err)
	}
	// Cut inside the pages of the third task: the tree exists by then and
	// two tasks have their memory.
	b := stream.Bytes()
	cut := bytes.Index(b, []byte("pages-3.img"))
	if cut < 0 {
		t.Fatal("no pages-3.img in the stream")
	}
	_, err := Restore(Options{Stream: bytes.NewReader(b[:cut+4096]), Detach: true})
	if err == nil {
		t.Fatal("a cut stream restored")
	}
	t.Log(err)
	if !errors.Is(err, image.ErrTruncated) {
		t.Errorf("error %v does not match image.ErrTruncated", err)
	}
	for _, pid := range []int{16228, 16230, 16231, 16232, 16233} {
		if _, err := os.Stat("/proc/" + strconv.Itoa(pid)); err == nil {
			t.Errorf("pid %d left behind", pid)
			unix.Kill(pid, unix.SIGKILL)
		}
	}
}
