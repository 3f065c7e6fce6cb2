package tcpckpt

import (
	"bytes"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/criugo/criugo/pkg/image"
	"github.com/criugo/criugo/pkg/soccr"
	"golang.org/x/sys/unix"
)

func pattern(off, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte((off + i) % 251)
	}
	return b
}

func connPair(t *testing.T) (srv, cli int) {
	t.Helper()
	ln, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(ln)
	if err := unix.Bind(ln, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(ln, 1); err != nil {
		t.Fatal(err)
	}
	addr, _ := unix.Getsockname(ln)
	if cli, err = unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0); err != nil {
		t.Fatal(err)
	}
	if err := unix.Connect(cli, addr); err != nil {
		t.Fatal(err)
	}
	if srv, _, err = unix.Accept4(ln, unix.SOCK_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(srv) })
	return srv, cli
}

func readFull(t *testing.T, fd, n int) []byte {
	t.Helper()
	buf := make([]byte, n)
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Sec: 10}); err != nil {
		t.Fatal(err)
	}
	for got := 0; got < n; {
		m, err := unix.Read(fd, buf[got:])
		if err == unix.EINTR {
			continue
		}
		if err != nil || m == 0 {
			t.Fatalf("read after %d of %d bytes: n=%d err=%v", got, n, m, err)
		}
		got += m
	}
	return buf
}

func TestSaveLoadRestore(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("TCP repair needs CAP_NET_ADMIN: run the tests as root")
	}
	srv, cli := connPair(t)
	if _, err := unix.Write(srv, pattern(0, 300)); err != nil {
		t.Fatal(err)
	}
	if _, err := unix.Write(cli, pattern(0, 5000)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)

	dir := t.TempDir()
	if err := Save(SaveOptions{Pid: os.Getpid(), Fd: cli, Dir: dir, KeepPaused: true}); err != nil {
		t.Fatal(err)
	}
	names, err := image.ListDir(dir)
	if err != nil || len(names) != 2 {
		t.Fatalf("image dir holds %v (%v), want files.img and one tcp-stream image", names, err)
	}
	// The process's socket is paused: closing it tells the peer nothing.
	unix.Close(cli)

	conn, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(conn.InQ, pattern(0, 300)) {
		t.Fatalf("saved receive queue holds %d bytes, want the server's 300", len(conn.InQ))
	}
	fd, err := soccr.Restore(conn)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if got := readFull(t, fd, 300); !bytes.Equal(got, pattern(0, 300)) {
		t.Fatal("restored socket lost the unread data")
	}
	if got := readFull(t, srv, 5000); !bytes.Equal(got, pattern(0, 5000)) {
		t.Fatal("server did not get the client's data")
	}
	if _, err := unix.Write(fd, []byte("after")); err != nil {
		t.Fatal(err)
	}
	if got := readFull(t, srv, 5); string(got) != "after" {
		t.Fatalf("server got %q after restore", got)
	}
}

func TestSaveResumesByDefault(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("TCP repair needs CAP_NET_ADMIN: run the tests as root")
	}
	srv, cli := connPair(t)
	defer unix.Close(cli)
	if err := Save(SaveOptions{Pid: os.Getpid(), Fd: cli, Dir: t.TempDir()}); err != nil {
		t.Fatal(err)
	}
	if _, err := unix.Write(cli, []byte("still here")); err != nil {
		t.Fatal(err)
	}
	if got := readFull(t, srv, 10); string(got) != "still here" {
		t.Fatalf("server got %q", got)
	}
}

func TestErrors(t *testing.T) {
	if err := Save(SaveOptions{Pid: 1 << 30, Fd: 0, Dir: t.TempDir()}); err == nil {
		t.Fatal("saving from a missing pid succeeded")
	}
	if _, err := Load(t.TempDir()); err == nil {
		t.Fatal("loading an empty dir succeeded")
	}
	dir := t.TempDir()
	if err := image.WriteFile(dir, "files.img", &image.Image{Kind: image.Files}); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(dir); !errors.Is(err, ErrNoConnection) {
		t.Fatalf("Load(no sockets) = %v, want ErrNoConnection", err)
	}
}
