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

	"github.com/criugo/criugo/internal/testutil"
)

// TestDumpMPTCPRefused: test/programs/mptcp with MPTCP_REAL=1 holds a
// real MPTCP connection (an MPTCP client accepted by its MPTCP
// listener). The dump, even with --tcp-established, must refuse it,
// naming the socket, and the program must run on and pass.
func TestDumpMPTCPRefused(t *testing.T) {
	testutil.RequireRoot(t)
	gcc, err := exec.LookPath("gcc")
	if err != nil {
		t.Skip("gcc not found: cannot build test/programs")
	}
	src, err := filepath.Abs("../../test/programs")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "mptcp")
	if out, err := exec.Command(gcc, "-O2", "-static", "-pthread", "-o", bin,
		filepath.Join(src, "mptcp.c"), filepath.Join(src, "crtest.c")).CombinedOutput(); err != nil {
		t.Fatalf("build: %v: %s", err, out)
	}
	p := &program{outfile: filepath.Join(dir, "out"), workdir: dir}
	pidfile := filepath.Join(dir, "pid")
	start := exec.Command("/bin/sh", "-c", `setsid "$0" "$@" </dev/null >/dev/null 2>&1 &`,
		bin, "--pidfile", pidfile, "--outfile", p.outfile, "--workdir", p.workdir)
	start.Env = append(os.Environ(), "MPTCP_REAL=1")
	if out, err := start.CombinedOutput(); err != nil {
		t.Fatalf("start: %v: %s", err, out)
	}
	for begin := time.Now(); ; time.Sleep(5 * time.Millisecond) {
		if b, err := os.ReadFile(pidfile); err == nil {
			if p.pid, err = strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
				break
			}
		}
		if b, _ := os.ReadFile(p.outfile); strings.Contains(string(b), "MPTCP socket") {
			t.Skipf("no MPTCP here: %s", b)
		}
		if time.Since(begin) > 10*time.Second {
			b, _ := os.ReadFile(p.outfile)
			t.Fatalf("no pid file (%s)", b)
		}
	}
	t.Cleanup(func() { syscall.Kill(p.pid, syscall.SIGKILL) })
	imgs := filepath.Join(dir, "img")
	if err := os.Mkdir(imgs, 0o700); err != nil {
		t.Fatal(err)
	}
	seizeDir(t, p.pid, imgs)
	err = Dump(context.Background(), Options{Dir: imgs, TCPEstablished: true})
	if !errors.Is(err, ErrNotSupported) || !strings.Contains(err.Error(), "inet socket ") ||
		!strings.Contains(err.Error(), "MPTCP connection with 0 extra subflows") {
		t.Fatalf("dump: %v, want the MPTCP connection refused", err)
	}
	t.Log(err)
	if got := p.finishRepeat(t); got != "PASS" {
		t.Errorf("after the refused dump: %s", got)
	}
}
