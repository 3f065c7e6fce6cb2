package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestSaveThenRestoreIntoProgram moves one end of a live loopback connection
// from this process into a shell started by `soccr-tool restore`.
func TestSaveThenRestoreIntoProgram(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("TCP repair needs CAP_NET_ADMIN: run the tests as root")
	}
	tool := filepath.Join(t.TempDir(), "soccr-tool")
	if out, err := exec.Command("go", "build", "-o", tool, ".").CombinedOutput(); err != nil {
		t.Fatalf("build soccr-tool: %v\n%s", err, out)
	}

	ln, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(ln)
	if err := unix.Bind(ln, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	unix.Listen(ln, 1)
	addr, _ := unix.Getsockname(ln)
	cli, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Connect(cli, addr); err != nil {
		t.Fatal(err)
	}
	srv, _, err := unix.Accept4(ln, unix.SOCK_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(srv)
	unix.Write(srv, []byte("hello from the server\n"))
	time.Sleep(20 * time.Millisecond)

	dir := t.TempDir()
	save := exec.Command(tool, "save", "-t", strconv.Itoa(os.Getpid()), "--fd", strconv.Itoa(cli), "-D", dir, "--keep-paused")
	if out, err := save.CombinedOutput(); err != nil {
		t.Fatalf("soccr-tool save: %v\n%s", err, out)
	}
	unix.Close(cli) // paused: the server sees nothing

	out := filepath.Join(dir, "got")
	restore := exec.Command(tool, "restore", "-D", dir, "--", "sh", "-c", "head -n 1 <&3 >"+out+"; printf 'hello from the shell' >&3")
	if b, err := restore.CombinedOutput(); err != nil {
		t.Fatalf("soccr-tool restore: %v\n%s", err, b)
	}
	if got, _ := os.ReadFile(out); string(got) != "hello from the server\n" {
		t.Fatalf("the program read %q from the restored socket", got)
	}
	unix.SetsockoptTimeval(srv, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Sec: 10})
	var got []byte
	buf := make([]byte, 64)
	for {
		n, err := unix.Read(srv, buf)
		if n <= 0 || err != nil {
			break
		}
		got = append(got, buf[:n]...)
	}
	if !bytes.Equal(got, []byte("hello from the shell")) {
		t.Fatalf("server got %q from the restored connection", got)
	}
}

func TestSaveMissingPid(t *testing.T) {
	err := newApp().Run([]string{"soccr-tool", "save", "-t", "1073741824", "--fd", "3", "-D", t.TempDir()})
	if err == nil {
		t.Fatal("save of a missing pid succeeded")
	}
}
