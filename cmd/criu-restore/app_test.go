package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/criugo/criugo/internal/testutil"
	"github.com/criugo/criugo/internal/testutil/fixtureset"
	"github.com/criugo/criugo/pkg/image"
)

func TestUsageErrors(t *testing.T) {
	if _, err := run([]string{"criu-restore", "-D", "x", "extra"}, nil, nil); err == nil || !strings.Contains(err.Error(), `unexpected argument "extra"`) {
		t.Errorf("positional argument: %v", err)
	}
	if _, err := run([]string{"criu-restore", "-D", filepath.Join(t.TempDir(), "none")}, nil, nil); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("missing directory: %v", err)
	}
	if _, err := run([]string{"criu-restore", "-d"}, strings.NewReader("not a stream"), nil); err == nil {
		t.Error("garbage on stdin restored")
	}
}

// fixture prepares a CRIU 4.2 fixture set for a restore on this machine
// (fixtureset.Restorable: the shipped set, or one made here) whose PIDs
// are free, and returns it with its root's PID.
func fixture(t *testing.T, name string) (dir string, root int) {
	t.Helper()
	dir = fixtureset.Restorable(t, name)
	root, pids := fixtureset.Pids(t, dir)
	testutil.SkipIfPidsTaken(t, name, pids)
	return dir, root
}

// kill kills pids and waits until they are gone.
func kill(t *testing.T, pids ...int) {
	t.Helper()
	for _, pid := range pids {
		unix.Kill(pid, unix.SIGKILL)
	}
	testutil.WaitGone(t, pids)
}

func TestRestoreDetachedWithPidfile(t *testing.T) {
	dir, root := fixture(t, "loop")
	pidfile := filepath.Join(t.TempDir(), "pid")
	var log bytes.Buffer
	status, err := run([]string{"criu-restore", "-D", dir, "-d", "--pidfile", pidfile, "--verbose"}, nil, &log)
	if err != nil {
		t.Fatal(err)
	}
	defer kill(t, root)
	if status != 0 {
		t.Errorf("status %d", status)
	}
	b, err := os.ReadFile(pidfile)
	if err != nil || string(b) != fmt.Sprintf("%d\n", root) {
		t.Errorf("pid file %q (%v), want %d", b, err, root)
	}
	if !strings.Contains(log.String(), fmt.Sprintf("restore pid %d: ", root)) {
		t.Errorf("--verbose log lacks the task's step:\n%s", log.String())
	}
	t.Logf("%s", log.String())
	if err := unix.Kill(root, 0); err != nil {
		t.Errorf("restored loop: %v", err)
	}
	// Its pid is taken now: a second restore says so and makes nothing.
	_, err = run([]string{"criu-restore", "-D", dir, "-d"}, nil, nil)
	if want := fmt.Sprintf("pid %d (from pstree.img) is already in use", root); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("second restore: %v, want it to say %q", err, want)
	}
}

func TestRestoreStreamWaitsForRoot(t *testing.T) {
	dir, root := fixture(t, "state")
	var stream bytes.Buffer
	if err := image.PackDir(dir, &stream, true); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(testutil.FixtureRunDir, "state.out"))
	type result struct {
		status int
		err    error
	}
	done := make(chan result, 1)
	go func() {
		status, err := run([]string{"criu-restore"}, &stream, nil)
		done <- result{status, err}
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", root))
		if err == nil && bytes.Contains(st, []byte("TracerPid:\t0\n")) && bytes.Contains(st, []byte("Threads:\t4\n")) {
			break
		}
		select {
		case r := <-done:
			t.Fatalf("criu-restore returned before the tree ran: %d %v", r.status, r.err)
		default:
		}
		if time.Now().After(deadline) {
			kill(t, root)
			t.Fatal("the tree did not come up")
		}
		time.Sleep(10 * time.Millisecond)
	}
	unix.Kill(root, unix.SIGTERM)
	select {
	case r := <-done:
		if r.err != nil || r.status != 0 {
			t.Errorf("criu-restore: status %d, %v", r.status, r.err)
		}
	case <-time.After(10 * time.Second):
		kill(t, root)
		t.Fatal("criu-restore did not return when the root exited")
	}
	out, _ := os.ReadFile(filepath.Join(testutil.FixtureRunDir, "state.out"))
	if strings.TrimSpace(string(out)) != "PASS" {
		t.Errorf("state.out: %q", out)
	}
}

// TestExternalValues: CRIU's restore options --external, --ext-mount-map
// and --empty-ns with a value a restore cannot take are refused, naming
// the option and the value, before the images are read.
func TestExternalValues(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "none")
	for _, args := range [][]string{
		{"--external", "mnt[key]"},
		{"--external", "net[4026531992]:extRootNetNS"},
		{"--ext-mount-map", "auto"},
		{"--empty-ns", "pid"},
	} {
		_, err := run(append([]string{"criu-restore", "-D", missing}, args...), nil, nil)
		if err == nil || strings.Contains(err.Error(), "no such file") || !strings.Contains(err.Error(), args[1]) {
			t.Errorf("%q: %v, want an error naming %q", args, err, args[1])
		}
	}
	_, err := run([]string{"criu-restore", "-D", missing, "--external", "mnt[key]:/m", "-M", "k2:/n", "--external", "veth[a]:b", "--root", "/r"}, nil, nil)
	if err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("good externals: %v, want the missing directory", err)
	}
}
