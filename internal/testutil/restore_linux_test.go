package testutil

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

func TestLockFixtures(t *testing.T) {
	tryLock := func() error {
		f, err := os.OpenFile(FixtureLock, os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close() // drops the lock if taken
		return unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
	}
	t.Run("held", func(t *testing.T) {
		LockFixtures(t)
		if err := tryLock(); !errors.Is(err, unix.EWOULDBLOCK) {
			t.Errorf("lock while held: %v, want EWOULDBLOCK", err)
		}
	})
	// Another package's test may hold it now: wait for it as they do.
	t.Run("released", func(t *testing.T) { LockFixtures(t) })
}

func TestCopyDir(t *testing.T) {
	src := t.TempDir()
	if err := os.WriteFile(filepath.Join(src, "a.img"), []byte("abc"), 0o644); err != nil {
		t.Fatal(err)
	}
	dst := CopyDir(t, src)
	b, err := os.ReadFile(filepath.Join(dst, "a.img"))
	if err != nil || string(b) != "abc" {
		t.Fatalf("copy: %q, %v", b, err)
	}
	if st, err := os.Stat(filepath.Join(dst, "a.img")); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("copy's mode: %v, %v", st.Mode(), err)
	}
}

func TestSkipIfPidsTaken(t *testing.T) {
	var skipped bool
	t.Run("taken", func(t *testing.T) {
		defer func() { skipped = t.Skipped() }()
		SkipIfPidsTaken(t, "self", []int{os.Getpid()})
	})
	if !skipped {
		t.Error("not skipped for the test's own pid")
	}
	t.Run("free", func(t *testing.T) {
		SkipIfPidsTaken(t, "none", nil)
		if t.Skipped() {
			t.Error("skipped without pids")
		}
	})
}

func TestWaitGone(t *testing.T) {
	c := exec.Command("sleep", "60")
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	pid := c.Process.Pid
	if err := unix.Kill(pid, unix.SIGKILL); err != nil {
		t.Fatal(err)
	}
	WaitGone(t, []int{pid})
	if err := unix.Kill(pid, 0); !errors.Is(err, unix.ESRCH) {
		t.Errorf("pid %d after WaitGone: %v", pid, err)
	}
}
