// Package gohttp checks the checkpoint and restore of a Go HTTP server
// built with this machine's Go: its default listener is MPTCP, the
// connection a plain TCP client holds open to it is a TCP fallback, and
// both must come back with criu-restore (the connection with
// --tcp-established) and carry on.
package gohttp

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/criugo/criugo/internal/testutil"
	"github.com/criugo/criugo/pkg/sockdiag"
)

// build builds the tools and the server into a temporary directory.
func build(t *testing.T) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go not found: cannot build the tools and the server")
	}
	dir := t.TempDir()
	out, err := exec.Command(goBin, "build", "-o", dir+"/",
		"github.com/criugo/criugo/cmd/criu-seize", "github.com/criugo/criugo/cmd/criu-parasite",
		"github.com/criugo/criugo/cmd/criu-restore", "github.com/criugo/criugo/test/gohttp/server").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v: %s", err, out)
	}
	return dir
}

// get sends one HTTP/1.1 request on c (kept alive) and returns the body.
func get(c net.Conn, r *bufio.Reader) (string, error) {
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: test\r\n\r\n"); err != nil {
		return "", fmt.Errorf("send request: %w", err)
	}
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		return "", fmt.Errorf("read response: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", fmt.Errorf("read body: %w", err)
	}
	if resp.StatusCode != http.StatusOK || resp.Close {
		return "", fmt.Errorf("status %s, close %v", resp.Status, resp.Close)
	}
	return strings.TrimSpace(string(b)), nil
}

// dial connects with plain TCP, as a client that does not speak MPTCP.
func dial(t *testing.T, port string) (net.Conn, *bufio.Reader) {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second}
	d.SetMultipathTCP(false)
	c, err := d.Dial("tcp", "127.0.0.1:"+port)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c, bufio.NewReader(c)
}

// mptcpListener says whether the kernel lists an MPTCP listener on port.
func mptcpListener(t *testing.T, port int) bool {
	t.Helper()
	conn, err := sockdiag.Open(-1)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	m, err := conn.Inet(unix.AF_INET, unix.IPPROTO_MPTCP, 1<<10)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range m {
		if int(s.Src.Port()) == port {
			return true
		}
	}
	return false
}

func waitGone(t *testing.T, pid int) {
	t.Helper()
	for start := time.Now(); time.Since(start) < 10*time.Second; time.Sleep(10 * time.Millisecond) {
		if syscall.Kill(pid, 0) == syscall.ESRCH {
			return
		}
	}
	t.Fatalf("pid %d still there after the dump", pid)
}

// TestGoHTTPServer: dump the server with a client connection open, restore
// it, and go on on that connection and a new one.
func TestGoHTTPServer(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.LockFixtures(t)
	bin := build(t)
	dir := t.TempDir()
	portfile := filepath.Join(dir, "port")
	// GODEBUG left out: the default listener, MPTCP since Go 1.24.
	var env []string
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, "GODEBUG=") {
			env = append(env, e)
		}
	}
	start := exec.Command("/bin/sh", "-c", `setsid "$0" -portfile "$1" </dev/null >"$2" 2>&1 & echo $!`,
		filepath.Join(bin, "server"), portfile, filepath.Join(dir, "log"))
	start.Env = env
	out, err := start.Output()
	if err != nil {
		t.Fatalf("start the server: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(out)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Kill(pid, syscall.SIGKILL) })
	var port string
	for start := time.Now(); ; time.Sleep(10 * time.Millisecond) {
		if b, err := os.ReadFile(portfile); err == nil {
			port = string(b)
			break
		}
		if time.Since(start) > 10*time.Second {
			log, _ := os.ReadFile(filepath.Join(dir, "log"))
			t.Fatalf("the server wrote no port: %s", log)
		}
	}
	pn, _ := strconv.Atoi(port)
	if !mptcpListener(t, pn) {
		t.Skipf("the server's listener on port %s is not MPTCP (Go or kernel without it)", port)
	}
	c, r := dial(t, port)
	if got, err := get(c, r); err != nil || got != "request 1" {
		t.Fatalf("before the dump: %q, %v", got, err)
	}

	imgs := filepath.Join(dir, "img")
	if err := os.Mkdir(imgs, 0o700); err != nil {
		t.Fatal(err)
	}
	dump := exec.Command("/bin/sh", "-c", `"$0"/criu-seize -t "$1" | "$0"/criu-parasite --tcp-established -D "$2"`,
		bin, strconv.Itoa(pid), imgs)
	if out, err := dump.CombinedOutput(); err != nil {
		t.Fatalf("dump: %v: %s", err, out)
	}
	waitGone(t, pid)
	if out, err := exec.Command(filepath.Join(bin, "criu-restore"), "-D", imgs, "-d").CombinedOutput(); err != nil {
		t.Fatalf("restore: %v: %s", err, out)
	}
	if !mptcpListener(t, pn) {
		t.Errorf("no MPTCP listener on port %s after the restore", port)
	}
	if got, err := get(c, r); err != nil || got != "request 2" {
		t.Errorf("same connection after the restore: %q, %v", got, err)
	}
	c2, r2 := dial(t, port)
	if got, err := get(c2, r2); err != nil || got != "request 3" {
		t.Errorf("new connection after the restore: %q, %v", got, err)
	}
	if got, err := get(c, r); err != nil || got != "request 4" {
		t.Errorf("first connection again: %q, %v", got, err)
	}
}
