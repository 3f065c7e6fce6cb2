package main

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/proto"

	"github.com/criugo/criugo/images"
	"github.com/criugo/criugo/internal/testutil"
)

// criuBinary builds criu: a pre-dump starts its write-tracking holder as
// /proc/self/exe, which must be criu, not the test.
func criuBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "criu")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v: %s", err, out)
	}
	return bin
}

func criuRun(t *testing.T, bin string, args ...string) {
	t.Helper()
	if out, err := exec.Command(bin, args...).CombinedOutput(); err != nil {
		t.Fatalf("criu %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// TestPreDumpChain: criu pre-dump, then criu dump --prev-images-dir
// --track-mem against it, then criu restore -d; the program passes.
func TestPreDumpChain(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.LockFixtures(t)
	bin := criuBinary(t)
	prog := testutil.BuildProgram(t, "loop")
	work := t.TempDir()
	pid := testutil.StartProgram(t, prog, work)
	for _, d := range []string{"pre", "full"} {
		if err := os.Mkdir(filepath.Join(work, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	p := strconv.Itoa(pid)
	criuRun(t, bin, "pre-dump", "-t", p, "-D", filepath.Join(work, "pre"), "-o", "pre.log", "-v4")
	criuRun(t, bin, "dump", "-t", p, "-D", filepath.Join(work, "full"), "--prev-images-dir", "../pre", "--track-mem", "-o", "dump.log", "-v4")
	testutil.WaitGone(t, []int{pid})
	if target, err := os.Readlink(filepath.Join(work, "full", "parent")); err != nil || target != "../pre" {
		t.Errorf("parent link: %q, %v", target, err)
	}
	b, _ := os.ReadFile(filepath.Join(work, "pre", "pre.log"))
	if !strings.Contains(string(b), "Pre-dumping finished successfully") {
		t.Errorf("pre-dump log:\n%s", b)
	}
	// The restored root outlives criu -d; init (or a subreaper) adopts it.
	cmd := exec.Command(bin, "restore", "-d", "-D", filepath.Join(work, "full"))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("restore: %v\n%s", err, out)
	}
	if v := testutil.Verdict(t, pid, work); v != "PASS" {
		t.Errorf("restored program: %s", v)
	}
}

// TestService: criu service answers VERSION on its socket, one
// connection after another.
func TestService(t *testing.T) {
	bin := criuBinary(t)
	sock := filepath.Join(t.TempDir(), "criu.sock")
	cmd := exec.Command(bin, "service", "--address", sock)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Signal(unix.SIGTERM)
		cmd.Wait()
	}()
	for range 2 {
		var fd int
		for start := time.Now(); ; time.Sleep(10 * time.Millisecond) {
			var err error
			if fd, err = unix.Socket(unix.AF_UNIX, unix.SOCK_SEQPACKET, 0); err != nil {
				t.Fatal(err)
			}
			if err = unix.Connect(fd, &unix.SockaddrUnix{Name: sock}); err == nil {
				break
			}
			unix.Close(fd)
			if time.Since(start) > 5*time.Second {
				t.Fatalf("connect: %v", err)
			}
		}
		b, _ := proto.Marshal(&images.CriuReq{Type: images.CriuReqType_VERSION.Enum()})
		if _, err := unix.Write(fd, b); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 4096)
		n, err := unix.Read(fd, buf)
		if err != nil {
			t.Fatal(err)
		}
		var resp images.CriuResp
		if err := proto.Unmarshal(buf[:n], &resp); err != nil {
			t.Fatal(err)
		}
		if !resp.GetSuccess() || resp.GetVersion().GetMajorNumber() != 4 || resp.GetVersion().GetMinorNumber() != 2 {
			t.Errorf("VERSION: %v", &resp)
		}
		unix.Close(fd)
	}
}

// TestServiceDaemon: criu service -d --pidfile returns once the server
// listens in the background; the pid file names it, and it answers.
func TestServiceDaemon(t *testing.T) {
	bin := criuBinary(t)
	dir := t.TempDir()
	sock, pidfile := filepath.Join(dir, "criu.sock"), filepath.Join(dir, "pid")
	if out, err := exec.Command(bin, "service", "-d", "--address", sock, "--pidfile", pidfile).CombinedOutput(); err != nil {
		t.Fatalf("service -d: %v\n%s", err, out)
	}
	b, err := os.ReadFile(pidfile)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatalf("pid file %q", b)
	}
	defer func() {
		unix.Kill(pid, unix.SIGTERM)
		for start := time.Now(); time.Since(start) < 5*time.Second; time.Sleep(10 * time.Millisecond) {
			if unix.Kill(pid, 0) != nil {
				break
			}
		}
	}()
	// Listening already: no retry.
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_SEQPACKET, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if err := unix.Connect(fd, &unix.SockaddrUnix{Name: sock}); err != nil {
		t.Fatalf("connect: %v", err)
	}
	req, _ := proto.Marshal(&images.CriuReq{Type: images.CriuReqType_VERSION.Enum()})
	if _, err := unix.Write(fd, req); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	n, err := unix.Read(fd, buf)
	if err != nil {
		t.Fatal(err)
	}
	var resp images.CriuResp
	if err := proto.Unmarshal(buf[:n], &resp); err != nil || !resp.GetSuccess() {
		t.Errorf("VERSION: %v, %v", &resp, err)
	}
}

// TestServiceStatusFd: --status-fd gets one zero byte once the service
// listens, and is closed, in the foreground and with -d.
func TestServiceStatusFd(t *testing.T) {
	bin := criuBinary(t)
	for _, daemon := range []bool{false, true} {
		dir := t.TempDir()
		sock, pidfile := filepath.Join(dir, "criu.sock"), filepath.Join(dir, "pid")
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		args := []string{"service", "--address", sock, "--status-fd", "3", "--pidfile", pidfile}
		if daemon {
			args = append(args, "-d")
		}
		cmd := exec.Command(bin, args...)
		cmd.ExtraFiles = []*os.File{w}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		w.Close()
		b, err := io.ReadAll(r)
		r.Close()
		if daemon {
			cmd.Wait()
		}
		// The connection is closed before the service is stopped: it
		// serves one until the client goes.
		cfd := mustSocket(t)
		listening := unix.Connect(cfd, &unix.SockaddrUnix{Name: sock}) == nil
		unix.Close(cfd)
		if pb, err := os.ReadFile(pidfile); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(pb))); err == nil {
				unix.Kill(pid, unix.SIGTERM)
			}
		}
		if !daemon {
			cmd.Wait()
		}
		if err != nil || string(b) != "\x00" || !listening {
			t.Errorf("daemon %v: status fd read %q, %v (end of file after it: closed); listening then: %v", daemon, b, err, listening)
		}
	}
}

func mustSocket(t *testing.T) int {
	t.Helper()
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	return fd
}
