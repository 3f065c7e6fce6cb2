package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/criugo/criugo/internal/testutil"
)

func TestUsageErrors(t *testing.T) {
	var out bytes.Buffer
	if err := run([]string{"criu-seize", "-t", "1", "extra"}, nil, &out); err == nil || !strings.Contains(err.Error(), `unexpected argument "extra"`) {
		t.Errorf("positional argument: %v", err)
	}
	if err := run([]string{"criu-seize", "-D", t.TempDir()}, nil, &out); err == nil || !strings.Contains(err.Error(), "no pid") {
		t.Errorf("no pid: %v", err)
	}
	if err := run([]string{"criu-seize", "--thaw", "-t", "5"}, nil, &out); err == nil {
		t.Error("--thaw with a pid succeeded")
	}
	if out.Len() != 0 {
		t.Errorf("failures wrote to stdout: %q", out.String())
	}
}

func state(t *testing.T, pid int) byte {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	return s[strings.LastIndexByte(s, ')')+2]
}

func TestSeizeAndThaw(t *testing.T) {
	testutil.RequireRoot(t)
	sleeper := exec.Command("sleep", "100")
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { sleeper.Process.Kill(); sleeper.Wait() }()
	pid := sleeper.Process.Pid
	dir := filepath.Join(t.TempDir(), "imgs")

	if err := run([]string{"criu-seize", "-t", fmt.Sprint(pid), "-D", dir}, nil, nil); err != nil {
		t.Fatal(err)
	}
	if s := state(t, pid); s != 'T' {
		t.Errorf("state %c after the freeze, want T", s)
	}
	for _, f := range []string{"inventory.img", "pstree.img", "freeze.img"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Error(err)
		}
	}
	if err := run([]string{"criu-seize", "--thaw", "-D", dir}, nil, nil); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for state(t, pid) == 'T' {
		if time.Now().After(deadline) {
			t.Fatal("still stopped after --thaw")
		}
		time.Sleep(time.Millisecond)
	}

	var stream bytes.Buffer
	if err := run([]string{"criu-seize", "-t", fmt.Sprint(pid)}, nil, &stream); err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(stream.Bytes(), []byte("pstree.img")) {
		t.Error("stream does not hold pstree.img")
	}
	if err := run([]string{"criu-seize", "--thaw"}, bytes.NewReader(stream.Bytes()), nil); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(5 * time.Second)
	for state(t, pid) == 'T' {
		if time.Now().After(deadline) {
			t.Fatal("still stopped after --thaw from the stream")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestMissingPid(t *testing.T) {
	testutil.RequireRoot(t)
	c := exec.Command("true")
	if err := c.Run(); err != nil {
		t.Fatal(err)
	}
	err := run([]string{"criu-seize", "-t", fmt.Sprint(c.Process.Pid), "-D", t.TempDir()}, nil, nil)
	if want := fmt.Sprintf("seize pid %d: no such process", c.Process.Pid); err == nil || err.Error() != want {
		t.Errorf("error %v, want %q", err, want)
	}
}
