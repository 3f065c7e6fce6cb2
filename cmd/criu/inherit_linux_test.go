package main

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/criugo/criugo/internal/testutil"
)

// TestInheritFd: a program whose fd 3 is a pipe and fd 4 a log file from
// outside its tree is dumped, then restored with --inherit-fd giving a new
// pipe for the dumped pipe's key (pipe:[INO]) and another file for the
// dumped log's path: what it writes after the restore must come out of
// the new pipe and land in the other file, and nothing in the old one.
// With -S (--restore-sibling) the restored root is the test's child,
// criu's parent, which waits for its exit status; without, it is not.
func TestInheritFd(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.LockFixtures(t)
	bin := criuBinary(t)
	prog := filepath.Join(t.TempDir(), "inheritfd")
	testutil.BuildC(t, prog, "-O2", "-static", "testdata/inheritfd.c")
	for _, sibling := range []bool{true, false} {
		t.Run(fmt.Sprintf("sibling=%v", sibling), func(t *testing.T) {
			testInheritFd(t, bin, prog, sibling)
		})
	}
}

func testInheritFd(t *testing.T, bin, prog string, sibling bool) {
	work := t.TempDir()
	img := filepath.Join(work, "img")
	if err := os.Mkdir(img, 0o700); err != nil {
		t.Fatal(err)
	}
	openLog := func(name string) *os.File {
		f, err := os.OpenFile(filepath.Join(work, name), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	r1, w1, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r1.Close()
	logA := openLog("a.log")
	pidfile := filepath.Join(work, "pid")
	cmd := exec.Command(prog, pidfile)
	cmd.ExtraFiles = []*os.File{w1, logA}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w1.Close()
	logA.Close()
	pid := cmd.Process.Pid
	t.Cleanup(func() {
		unix.Kill(pid, unix.SIGKILL)
		testutil.WaitGone(t, []int{pid})
	})
	buf := make([]byte, 64)
	n, err := r1.Read(buf)
	if want := fmt.Sprintf("before %d\n", pid); err != nil || string(buf[:n]) != want {
		t.Fatalf("read from the program: %q, %v; want %q", buf[:n], err, want)
	}
	for start := time.Now(); ; time.Sleep(5 * time.Millisecond) {
		if b, err := os.ReadFile(pidfile); err == nil && strings.HasSuffix(string(b), "\n") {
			break
		}
		if time.Since(start) > 10*time.Second {
			t.Fatal("no pid file")
		}
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(r1.Fd()), &st); err != nil {
		t.Fatal(err)
	}
	// A work directory of its own (runc's and Podman's): the logs and,
	// as CRIU writes them, stats-dump and stats-restore go there.
	wdir := filepath.Join(work, "wd")
	if err := os.Mkdir(wdir, 0o700); err != nil {
		t.Fatal(err)
	}
	criuRun(t, bin, "dump", "-t", strconv.Itoa(pid), "-D", img, "-W", wdir, "-o", "dump.log", "-v4")
	cmd.Wait()

	r2, w2, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	logB := openLog("b.log")
	args := []string{"restore", "-d", "-D", img, "-W", wdir, "-o", "restore.log", "-v4",
		"--inherit-fd", fmt.Sprintf("fd[3]:pipe:[%d]", st.Ino),
		"--inherit-fd", "fd[4]:" + strings.TrimPrefix(filepath.Join(work, "a.log"), "/")}
	if sibling {
		args = append(args, "-S")
	}
	rc := exec.Command(bin, args...)
	rc.ExtraFiles = []*os.File{w2, logB}
	out, err := rc.CombinedOutput()
	w2.Close()
	logB.Close()
	if err != nil {
		b, _ := os.ReadFile(filepath.Join(wdir, "restore.log"))
		t.Fatalf("restore: %v\n%s\n%s", err, out, b)
	}
	for _, f := range []string{"dump.log", "restore.log", "stats-dump", "stats-restore"} {
		if _, err := os.Stat(filepath.Join(wdir, f)); err != nil {
			t.Errorf("work directory: %v", err)
		}
	}
	ppid := parentOf(t, pid)
	if sibling != (ppid == os.Getpid()) {
		t.Errorf("restored root's parent is %d; the test is %d, sibling %v", ppid, os.Getpid(), sibling)
	}
	unix.Kill(pid, unix.SIGTERM)
	if sibling {
		var ws unix.WaitStatus
		if _, err := unix.Wait4(pid, &ws, 0, nil); err != nil || !ws.Exited() || ws.ExitStatus() != 7 {
			t.Errorf("wait for the restored root: %v, status %#x; want exit 7", err, ws)
		}
	}
	// Every writer of the new pipe is gone once the program ends.
	got, err := io.ReadAll(r2)
	if want := fmt.Sprintf("after %d\n", pid); err != nil || string(got) != want {
		t.Errorf("read from the inherited pipe: %q, %v; want %q", got, err, want)
	}
	a, _ := os.ReadFile(filepath.Join(work, "a.log"))
	b, _ := os.ReadFile(filepath.Join(work, "b.log"))
	if want := fmt.Sprintf("before %d\n", pid); string(a) != want {
		t.Errorf("the dumped log holds %q, want only %q", a, want)
	}
	if want := fmt.Sprintf("after %d\n", pid); string(b) != want {
		t.Errorf("the inherited log holds %q, want %q", b, want)
	}
}

// parentOf is the parent pid /proc/PID/stat shows.
func parentOf(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	ppid, _ := strconv.Atoi(f[1])
	return ppid
}

// TestSiblingNeedsDetach: as CRIU, --restore-sibling only with -d.
func TestSiblingNeedsDetach(t *testing.T) {
	_, err := run([]string{"criu", "restore", "-S", "-D", t.TempDir()}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "--restore-sibling") {
		t.Errorf("restore -S without -d: %v", err)
	}
	for _, bad := range []string{"fd3:x", "fd[x]:y", "fd[3]:", "[3]:x"} {
		if _, err := run([]string{"criu", "restore", "-d", "-D", t.TempDir(), "--inherit-fd", bad}, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), "--inherit-fd") {
			t.Errorf("--inherit-fd %s: %v", bad, err)
		}
	}
}
