package nsenter

import (
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/criugo/criugo/internal/testutil"
)

func hostname(t *testing.T) string {
	t.Helper()
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		t.Fatal(err)
	}
	return unix.ByteSliceToString(u.Nodename[:])
}

// TestRun names the UTS namespace of a child from inside it and checks
// that the name stays there.
func TestRun(t *testing.T) {
	testutil.RequireRoot(t)
	c := exec.Command("sleep", "60")
	c.SysProcAttr = &syscall.SysProcAttr{Cloneflags: unix.CLONE_NEWUTS}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Process.Kill(); c.Wait() })
	path := "/proc/" + strconv.Itoa(c.Process.Pid) + "/ns/uts"
	host := hostname(t)
	const name = "criugo-nsenter-test"

	err := Run(path, unix.CLONE_NEWUTS, func() error { return unix.Sethostname([]byte(name)) })
	if err != nil {
		t.Fatalf("Run sethostname: %v", err)
	}
	var got string
	if err := Run(path, unix.CLONE_NEWUTS, func() error { got = hostname(t); return nil }); err != nil {
		t.Fatalf("Run uname: %v", err)
	}
	if got != name {
		t.Errorf("host name inside: %q, want %q", got, name)
	}
	if h := hostname(t); h != host {
		t.Errorf("host name outside changed: %q, was %q", h, host)
	}

	sentinel := errors.New("from fn")
	if err := Run(path, unix.CLONE_NEWUTS, func() error { return sentinel }); err != sentinel {
		t.Errorf("fn's error: %v", err)
	}
	if err := Run(path, unix.CLONE_NEWIPC, func() error { return nil }); !errors.Is(err, unix.EINVAL) {
		t.Errorf("uts namespace joined as ipc: %v, want EINVAL", err)
	}
	missing := "/proc/" + strconv.Itoa(os.Getpid()) + "/ns/none"
	if err := Run(missing, unix.CLONE_NEWUTS, func() error { return nil }); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing namespace: %v, want fs.ErrNotExist", err)
	}
}

// TestRunFd joins a namespace open as a file descriptor.
func TestRunFd(t *testing.T) {
	testutil.RequireRoot(t)
	c := exec.Command("sleep", "60")
	c.SysProcAttr = &syscall.SysProcAttr{Cloneflags: unix.CLONE_NEWUTS}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Process.Kill(); c.Wait() })
	f, err := os.Open("/proc/" + strconv.Itoa(c.Process.Pid) + "/ns/uts")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	host := hostname(t)
	const name = "criugo-nsenter-fd"
	fd := int(f.Fd())
	if err := RunFd(fd, unix.CLONE_NEWUTS, func() error { return unix.Sethostname([]byte(name)) }); err != nil {
		t.Fatalf("RunFd sethostname: %v", err)
	}
	var got string
	if err := RunFd(fd, unix.CLONE_NEWUTS, func() error { got = hostname(t); return nil }); err != nil {
		t.Fatalf("RunFd uname: %v", err)
	}
	if got != name {
		t.Errorf("host name inside: %q, want %q", got, name)
	}
	if h := hostname(t); h != host {
		t.Errorf("host name outside changed: %q, was %q", h, host)
	}
	if err := RunFd(fd, unix.CLONE_NEWNET, func() error { return nil }); !errors.Is(err, unix.EINVAL) {
		t.Errorf("uts namespace joined as net: %v, want EINVAL", err)
	}
}
