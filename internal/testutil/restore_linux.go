package testutil

import (
	"os"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// FixtureLock is the file that serializes the tests, of any package, that
// restore the fixture sets: they share the sets' PIDs and the files
// setup.sh reinstalls under /tmp/criu-fixtures.
const FixtureLock = "/tmp/criu-fixtures.lock"

// FixtureRunDir is where the fixture programs keep their files (setup.sh
// installs them; the programs write their NAME.out there).
const FixtureRunDir = "/tmp/criu-fixtures/run"

// LockFixtures holds FixtureLock until the test ends.
func LockFixtures(t testing.TB) {
	t.Helper()
	f, err := os.OpenFile(FixtureLock, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		f.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
}

// SkipIfPidsTaken skips the test when a task has one of pids, the PIDs
// of fixture set name (fixtureset.Pids), which a restore must recreate.
func SkipIfPidsTaken(t testing.TB, name string, pids []int) {
	t.Helper()
	for _, pid := range pids {
		if _, err := os.Stat("/proc/" + strconv.Itoa(pid)); err == nil {
			t.Skipf("pid %d (from %s/pstree.img) is in use", pid, name)
		}
	}
}

// WaitGone waits until no task with one of pids exists, reaping those that
// are the test's children, so that the next test finds the PIDs free. It
// fails the test for a task still there after 5 seconds.
func WaitGone(t testing.TB, pids []int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for _, pid := range pids {
		for {
			var ws unix.WaitStatus
			unix.Wait4(pid, &ws, unix.WNOHANG, nil)
			if _, err := os.Stat("/proc/" + strconv.Itoa(pid)); err != nil {
				break
			}
			if time.Now().After(deadline) {
				t.Errorf("pid %d still exists", pid)
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
}
