package dump

import (
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
)

// A tree the restore could not rebuild (here `unshare --fork --pid
// --mount-proc`, as the issue's user did: the program is pid 1 of its PID
// namespace and has its mount namespace, both restored, but it stays in
// unshare's session, whose leader is outside the namespace) is refused
// while frozen, naming the pid, and runs on to pass its own check: the
// dump must not kill what the restore would refuse.
func TestDumpRefusesOwnPidNamespace(t *testing.T) {
	bin := fixtureProgram(t, "state")
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		t.Skip("unshare not found")
	}
	dir := t.TempDir()
	p := &program{outfile: filepath.Join(dir, "out"), workdir: filepath.Join(dir, "work")}
	if err := os.Mkdir(p.workdir, 0o755); err != nil {
		t.Fatal(err)
	}
	pidfile := filepath.Join(dir, "pid")
	if out, err := exec.Command("/bin/sh", "-c", `setsid "$0" --fork --pid --mount-proc "$@" </dev/null >/dev/null 2>&1 &`,
		unshare, bin, pidfile, p.outfile, p.workdir).CombinedOutput(); err != nil {
		t.Fatalf("start: %v: %s", err, out)
	}
	// The pid file says 1, the program's pid in its namespace: find it
	// in ours by its command line.
	for start := time.Now(); p.pid == 0; time.Sleep(5 * time.Millisecond) {
		if _, err := os.Stat(pidfile); err == nil {
			p.pid = findByCmdline(bin, pidfile)
		}
		if time.Since(start) > 10*time.Second {
			t.Fatal("the program did not start")
		}
	}
	t.Cleanup(func() { syscall.Kill(p.pid, syscall.SIGKILL) })

	in := seizeStream(t, p.pid)
	_, err = Dump(context.Background(), Options{Stdin: strings.NewReader(string(in)), Dir: filepath.Join(dir, "images")})
	if !errors.Is(err, ErrNotSupported) || !strings.Contains(err.Error(), "outside the tree's PID namespace") || !strings.Contains(err.Error(), strconv.Itoa(p.pid)) {
		t.Fatalf("dump of a tree in its own PID namespace: %v; want ErrNotSupported naming pid %d and its session outside", err, p.pid)
	}
	runsOn(t, p)
}

// findByCmdline returns the pid of the process running bin with arg, or 0.
func findByCmdline(bin, arg string) int {
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil {
			continue
		}
		args := strings.Split(string(b), "\x00")
		if len(args) > 1 && args[0] == bin && args[1] == arg {
			return pid
		}
	}
	return 0
}
