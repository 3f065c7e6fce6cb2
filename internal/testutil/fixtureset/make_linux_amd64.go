package fixtureset

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/criugo/criugo/internal/testutil"
)

// binDir is where setup.sh installs the fixture programs, and where the
// shipped sets' programs ran from.
const binDir = "/opt/criu-fixtures/bin"

// program is how a fixture program was started for its shipped set
// (README.md, src/*.c, and what the set's images hold), and how to tell
// it is ready to be dumped.
type program struct {
	args    []string
	pidfile string // written when ready; "" for loop, which writes none
}

func programFor(name string) (program, bool) {
	run := testutil.FixtureRunDir
	in := func(f string) string { return filepath.Join(run, f) }
	switch name {
	case "loop":
		return program{args: []string{in("loop.cnt")}}, true
	case "state":
		return program{args: []string{in("state.pid"), in("state.out"), run}, pidfile: in("state.pid")}, true
	case "tree":
		return program{args: []string{in("tree.pid"), in("tree.out")}, pidfile: in("tree.pid")}, true
	}
	return program{}, false
}

// The shipped sets' programs had /dev/null open read-only on fd 10 and
// the write end of a pipe from outside the tree on fd 251, besides
// /dev/null on fds 0-2 (their files.img and fdinfo images say so): what
// the machine that made them left open. A set made here has them too, so
// that it holds the same kinds of files (and tests that name fd 10 find it).
const (
	nullFd = 10
	pipeFd = 251
)

// makeSet starts fixture program name as its shipped set's was started and
// dumps it with `criu dump -t PID -D DIR`, which kills it; it returns DIR
// once every task of the tree is gone, so the set's PIDs are free. The
// caller ran setup.sh and holds testutil.FixtureLock (Shipped does both).
//
// The program runs from binDir with the shipped set's arguments, in a
// session of its own (setsid) with the run directory as its working
// directory, PATH=/usr/bin:/bin and HOME=/ alone in its environment,
// /dev/null as fd 0 (read-only) and as fds 1 and 2 (one write-only file),
// and fds 10 and 251 as above. It is ready when it wrote its pid file
// (state, tree) or, for loop, its first count.
func makeSet(t testing.TB, criu, name string) string {
	t.Helper()
	p, ok := programFor(name)
	if !ok {
		t.Fatalf("no fixture program %q", name)
	}
	if p.pidfile != "" {
		if err := os.Remove(p.pidfile); err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
	}
	null, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer null.Close()
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	defer pw.Close()
	extra := make([]*os.File, pipeFd-2) // entry i is fd 3+i; nil ones are closed
	extra[nullFd-3], extra[pipeFd-3] = null, pw

	cmd := exec.Command(filepath.Join(binDir, name), p.args...)
	cmd.Dir = testutil.FixtureRunDir
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=/"}
	cmd.ExtraFiles = extra
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start fixture program %s: %v", name, err)
	}
	pid := cmd.Process.Pid
	var waitErr error
	exited := make(chan struct{})
	go func() { waitErr = cmd.Wait(); close(exited) }()
	dumped := false
	defer func() {
		if !dumped {
			cmd.Process.Kill()
			<-exited
		}
	}()

	if err := waitReady(pid, p, exited, &waitErr); err != nil {
		t.Fatalf("fixture program %s (pid %d): %v", name, pid, err)
	}
	dir := t.TempDir()
	log := filepath.Join(t.TempDir(), "dump.log")
	out, err := exec.Command(criu, "dump", "-t", strconv.Itoa(pid), "-D", dir, "-o", log, "-v4").CombinedOutput()
	if err != nil {
		b, _ := os.ReadFile(log)
		t.Fatalf("%s dump -t %d (fixture program %s): %v\n%s\n%s", criu, pid, name, err, out, lastLines(b, 30))
	}
	dumped = true
	<-exited // killed by the dump
	_, ids := Pids(t, dir)
	testutil.WaitGone(t, ids)
	t.Logf("fixture set %s made here: %s dumped pid %d", name, criu, pid)
	return dir
}

// waitReady waits up to 10 s until the program p, pid, is ready; exited
// is closed, and *waitErr set, if it ends before.
func waitReady(pid int, p program, exited <-chan struct{}, waitErr *error) error {
	ready := func() bool {
		if p.pidfile != "" {
			b, err := os.ReadFile(p.pidfile)
			return err == nil && strings.TrimSpace(string(b)) == strconv.Itoa(pid)
		}
		// loop opened its counter file (truncating what setup.sh put
		// there) and wrote a count.
		cnt := p.args[0]
		if l, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/3", pid)); err != nil || l != cnt {
			return false
		}
		b, err := os.ReadFile(cnt)
		n, err2 := strconv.Atoi(strings.TrimSpace(string(b)))
		return err == nil && err2 == nil && n > 0
	}
	for deadline := time.Now().Add(10 * time.Second); !ready(); time.Sleep(5 * time.Millisecond) {
		select {
		case <-exited:
			return fmt.Errorf("exited before it was ready: %v", *waitErr)
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready after 10 s")
		}
	}
	return nil
}

// lastLines returns the last n lines of b.
func lastLines(b []byte, n int) []byte {
	lines := bytes.SplitAfter(b, []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return bytes.Join(lines, nil)
}
