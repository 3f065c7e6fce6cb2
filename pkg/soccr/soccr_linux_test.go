//go:build linux

package soccr

import (
	"bytes"
	"errors"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func requireNetAdmin(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("TCP repair needs CAP_NET_ADMIN: run the tests as root")
	}
}

// pattern returns n bytes of the stream that starts at offset off.
func pattern(off, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte((off + i) % 251)
	}
	return b
}

// connPair returns an established loopback connection: the accepted server
// side and the client side, both blocking.
func connPair(t *testing.T, v6 bool) (srv, cli int) {
	t.Helper()
	family := unix.AF_INET
	var lsa unix.Sockaddr = &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}
	if v6 {
		family = unix.AF_INET6
		lsa = &unix.SockaddrInet6{Addr: [16]byte{15: 1}}
	}
	ln, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(ln)
	// A small receive buffer on the server so the client's send queue
	// keeps unacknowledged and unsent data.
	if err := unix.SetsockoptInt(ln, unix.SOL_SOCKET, unix.SO_RCVBUF, 8192); err != nil {
		t.Fatal(err)
	}
	if err := unix.Bind(ln, lsa); err != nil {
		if v6 && errors.Is(err, unix.EADDRNOTAVAIL) {
			t.Skip("no IPv6 loopback address")
		}
		t.Fatal(err)
	}
	if err := unix.Listen(ln, 1); err != nil {
		t.Fatal(err)
	}
	addr, err := unix.Getsockname(ln)
	if err != nil {
		t.Fatal(err)
	}
	cli, err = unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Connect(cli, addr); err != nil {
		t.Fatal(err)
	}
	srv, _, err = unix.Accept4(ln, unix.SOCK_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(srv) })
	return srv, cli
}

func readFull(t *testing.T, fd, n int) []byte {
	t.Helper()
	buf := make([]byte, n)
	deadline := time.Now().Add(10 * time.Second)
	for got := 0; got < n; {
		if time.Now().After(deadline) {
			t.Fatalf("read %d of %d bytes before the deadline", got, n)
		}
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

// fillSendQueue writes the client's stream until the kernel refuses more,
// and returns how many bytes were accepted.
func fillSendQueue(t *testing.T, fd int) int {
	t.Helper()
	total := 0
	for {
		n, err := unix.SendmsgN(fd, pattern(total, 65536), nil, nil, unix.MSG_DONTWAIT)
		if err == unix.EAGAIN {
			return total
		}
		if err != nil {
			t.Fatal(err)
		}
		total += n
		if total > 64<<20 {
			t.Fatal("send queue never filled")
		}
	}
}

func TestSaveRestoreMovesConnection(t *testing.T) {
	requireNetAdmin(t)
	for _, v6 := range []bool{false, true} {
		name := "ipv4"
		if v6 {
			name = "ipv6"
		}
		t.Run(name, func(t *testing.T) {
			srv, cli := connPair(t, v6)
			const toClient = 1000
			if _, err := unix.Write(srv, pattern(0, toClient)); err != nil {
				t.Fatal(err)
			}
			if err := unix.SetsockoptInt(cli, unix.SOL_TCP, unix.TCP_NODELAY, 1); err != nil {
				t.Fatal(err)
			}
			time.Sleep(50 * time.Millisecond) // let the loopback deliver and ack
			sent := fillSendQueue(t, cli)

			st, err := Save(cli)
			if err != nil {
				t.Fatal(err)
			}
			if len(st.InQ) != toClient || !bytes.Equal(st.InQ, pattern(0, toClient)) {
				t.Fatalf("receive queue: got %d bytes, want the server's %d", len(st.InQ), toClient)
			}
			if len(st.OutQ) == 0 {
				t.Fatal("send queue is empty although the peer's window is full")
			}
			if !bytes.Equal(st.OutQ, pattern(sent-len(st.OutQ), len(st.OutQ))) {
				t.Fatal("send queue does not hold the tail of the client's stream")
			}
			if !st.NoDelay {
				t.Error("TCP_NODELAY was not saved")
			}
			if err := Drop(cli); err != nil {
				t.Fatal(err)
			}

			fd, err := Restore(st)
			if err != nil {
				t.Fatal(err)
			}
			defer unix.Close(fd)

			// Data the client had not read is still there.
			if got := readFull(t, fd, toClient); !bytes.Equal(got, pattern(0, toClient)) {
				t.Fatal("restored receive queue differs")
			}
			// The server receives the whole client stream, in order, with
			// nothing lost at the switch.
			if got := readFull(t, srv, sent); !bytes.Equal(got, pattern(0, sent)) {
				t.Fatal("server received a damaged client stream")
			}
			// And the connection goes on both ways.
			if _, err := unix.Write(fd, pattern(sent, 4096)); err != nil {
				t.Fatal(err)
			}
			if got := readFull(t, srv, 4096); !bytes.Equal(got, pattern(sent, 4096)) {
				t.Fatal("data written after restore arrived damaged")
			}
			if _, err := unix.Write(srv, pattern(toClient, 777)); err != nil {
				t.Fatal(err)
			}
			if got := readFull(t, fd, 777); !bytes.Equal(got, pattern(toClient, 777)) {
				t.Fatal("data from the server after restore arrived damaged")
			}
		})
	}
}

func TestSaveRejectsNonTCP(t *testing.T) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fds[0])
	defer unix.Close(fds[1])
	if _, err := Save(fds[0]); !errors.Is(err, ErrNotEstablished) {
		t.Fatalf("Save(unix socket) = %v, want ErrNotEstablished", err)
	}
}

func TestRestoreRejectsBadState(t *testing.T) {
	if _, err := Restore(&State{}); !errors.Is(err, ErrBadState) {
		t.Fatalf("Restore(empty) = %v, want ErrBadState", err)
	}
}
