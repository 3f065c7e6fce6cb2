package dump

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestDumpMPTCPRefused: test/programs/mptcp with MPTCP_REAL=1 holds a
// real MPTCP connection (an MPTCP client accepted by its MPTCP
// listener). The dump, even with --tcp-established, must refuse it,
// naming the socket, and the program must run on and pass.
func TestDumpMPTCPRefused(t *testing.T) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, unix.IPPROTO_MPTCP)
	if err != nil {
		t.Skipf("no MPTCP here: %v", err)
	}
	unix.Close(fd)
	p := testProgramIn(t, "mptcp", "env", "MPTCP_REAL=1")
	imgs := filepath.Join(t.TempDir(), "img")
	seizeDir(t, p.pid, imgs)
	_, err = Dump(context.Background(), Options{Dir: imgs, TCPEstablished: true})
	if !errors.Is(err, ErrNotSupported) || !strings.Contains(err.Error(), "inet socket ") ||
		!strings.Contains(err.Error(), "MPTCP connection with 0 extra subflows") {
		t.Fatalf("dump: %v, want the MPTCP connection refused", err)
	}
	t.Log(err)
	if got := p.finishRepeat(t); got != "PASS" {
		t.Errorf("after the refused dump: %s", got)
	}
}
