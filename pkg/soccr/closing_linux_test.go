//go:build linux

package soccr

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func tcpState(t *testing.T, fd int) uint8 {
	t.Helper()
	info, err := getTCPInfo(fd)
	if err != nil {
		t.Fatal(err)
	}
	return info.state
}

// waitState waits until fd is in state want.
func waitState(t *testing.T, fd int, want uint8) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		st := tcpState(t, fd)
		if st == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("socket in state %s, want %s", StateName(st), StateName(want))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// readToEOF reads fd until end of file and returns what it read.
func readToEOF(t *testing.T, fd int) []byte {
	t.Helper()
	var out []byte
	buf := make([]byte, 65536)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if time.Now().After(deadline) {
			t.Fatalf("no end of file after %d bytes", len(out))
		}
		n, err := unix.Read(fd, buf)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			t.Fatalf("read after %d bytes: %v", len(out), err)
		}
		if n == 0 {
			return out
		}
		out = append(out, buf[:n]...)
	}
}

// readNow reads what fd holds without waiting.
func readNow(t *testing.T, fd int) ([]byte, bool) {
	t.Helper()
	var out []byte
	buf := make([]byte, 65536)
	for {
		n, _, err := unix.Recvfrom(fd, buf, unix.MSG_DONTWAIT)
		if err == unix.EAGAIN {
			return out, false
		}
		if err != nil {
			t.Fatalf("read after %d bytes: %v", len(out), err)
		}
		if n == 0 {
			return out, true
		}
		out = append(out, buf[:n]...)
	}
}

func write(t *testing.T, fd int, b []byte) {
	t.Helper()
	if err := writeAll(fd, b); err != nil {
		t.Fatal(err)
	}
}

func shut(t *testing.T, fd int) {
	t.Helper()
	if err := unix.Shutdown(fd, unix.SHUT_WR); err != nil {
		t.Fatal(err)
	}
}

// moveConn saves the connection of fd, drops it and restores it.
func moveConn(t *testing.T, fd int, want uint8) int {
	t.Helper()
	st, err := Save(fd)
	if err != nil {
		t.Fatal(err)
	}
	if st.TCPState != want {
		t.Fatalf("saved in state %s, want %s", StateName(st.TCPState), StateName(want))
	}
	if err := Drop(fd); err != nil {
		t.Fatal(err)
	}
	nfd, err := Restore(st)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(nfd) })
	if got := tcpState(t, nfd); got != want {
		t.Fatalf("restored in state %s, want %s", StateName(got), StateName(want))
	}
	return nfd
}

func wantEPIPE(t *testing.T, fd int) {
	t.Helper()
	if _, err := unix.SendmsgN(fd, []byte("x"), nil, nil, unix.MSG_NOSIGNAL); !errors.Is(err, unix.EPIPE) {
		t.Fatalf("write after the socket's FIN: %v, want EPIPE", err)
	}
}

func TestSaveRestoreClosingStates(t *testing.T) {
	requireNetAdmin(t)
	t.Run("FIN_WAIT2", func(t *testing.T) {
		b, a := connPair(t, false)
		write(t, b, pattern(0, 100))
		write(t, a, pattern(1, 200))
		shut(t, a)
		waitState(t, a, StateFinWait2)
		a = moveConn(t, a, StateFinWait2)
		if got, eof := readNow(t, a); !bytes.Equal(got, pattern(0, 100)) || eof {
			t.Fatalf("receive queue: %d bytes, end of file %v", len(got), eof)
		}
		wantEPIPE(t, a)
		if got := readToEOF(t, b); !bytes.Equal(got, pattern(1, 200)) {
			t.Fatalf("peer read %d bytes", len(got))
		}
		write(t, b, pattern(2, 50))
		if got := readFull(t, a, 50); !bytes.Equal(got, pattern(2, 50)) {
			t.Fatal("data after restore damaged")
		}
		shut(t, b)
		if got := readToEOF(t, a); len(got) != 0 {
			t.Fatalf("%d bytes before end of file", len(got))
		}
		waitState(t, a, StateClose)
	})
	t.Run("CLOSE_WAIT", func(t *testing.T) {
		b, a := connPair(t, false)
		write(t, b, pattern(3, 200))
		shut(t, b)
		waitState(t, a, StateCloseWait)
		waitState(t, b, StateFinWait2)
		a = moveConn(t, a, StateCloseWait)
		if got := readToEOF(t, a); !bytes.Equal(got, pattern(3, 200)) {
			t.Fatalf("receive queue: %d bytes", len(got))
		}
		write(t, a, pattern(4, 30))
		shut(t, a)
		if got := readToEOF(t, b); !bytes.Equal(got, pattern(4, 30)) {
			t.Fatalf("peer read %d bytes", len(got))
		}
		waitState(t, a, StateClose)
	})
	t.Run("FIN_WAIT1", func(t *testing.T) {
		b, a := connPair(t, false)
		n := fillSendQueue(t, a)
		shut(t, a)
		a = moveConn(t, a, StateFinWait1)
		if got := readToEOF(t, b); !bytes.Equal(got, pattern(0, n)) {
			t.Fatalf("peer read %d bytes of %d", len(got), n)
		}
		waitState(t, a, StateFinWait2)
		shut(t, b)
		if got := readToEOF(t, a); len(got) != 0 {
			t.Fatalf("%d bytes before end of file", len(got))
		}
	})
	t.Run("LAST_ACK", func(t *testing.T) {
		b, a := connPair(t, false)
		write(t, b, pattern(5, 30))
		shut(t, b)
		waitState(t, a, StateCloseWait)
		n := fillSendQueue(t, a)
		shut(t, a)
		a = moveConn(t, a, StateLastAck)
		if got, eof := readNow(t, a); !bytes.Equal(got, pattern(5, 30)) || !eof {
			t.Fatalf("receive queue: %d bytes, end of file %v", len(got), eof)
		}
		wantEPIPE(t, a)
		if got := readToEOF(t, b); !bytes.Equal(got, pattern(0, n)) {
			t.Fatalf("peer read %d bytes of %d", len(got), n)
		}
		waitState(t, a, StateClose)
	})
	t.Run("CLOSING", func(t *testing.T) {
		b, a := connPair(t, false)
		write(t, b, pattern(6, 40))
		n := fillSendQueue(t, a)
		shut(t, a)
		shut(t, b)
		waitState(t, a, StateClosing)
		a = moveConn(t, a, StateClosing)
		if got, eof := readNow(t, a); !bytes.Equal(got, pattern(6, 40)) || !eof {
			t.Fatalf("receive queue: %d bytes, end of file %v", len(got), eof)
		}
		wantEPIPE(t, a)
		if got := readToEOF(t, b); !bytes.Equal(got, pattern(0, n)) {
			t.Fatalf("peer read %d bytes of %d", len(got), n)
		}
		waitState(t, a, StateClose)
	})
	for _, v6 := range []bool{false, true} {
		t.Run("CLOSE after TIME_WAIT", func(t *testing.T) {
			b, a := connPair(t, v6)
			write(t, b, pattern(7, 60))
			shut(t, a)
			waitState(t, a, StateFinWait2)
			shut(t, b)
			waitState(t, a, StateClose)
			peer, err := PeerName(a)
			if err != nil {
				t.Fatal(err)
			}
			a = moveConn(t, a, StateClose)
			if got, eof := readNow(t, a); !bytes.Equal(got, pattern(7, 60)) || !eof {
				t.Fatalf("receive queue: %d bytes, end of file %v", len(got), eof)
			}
			wantEPIPE(t, a)
			if got, err := PeerName(a); err != nil || got != peer {
				t.Fatalf("peer %v (%v), want %v", got, err, peer)
			}
			if e, err := unix.GetsockoptInt(a, unix.SOL_SOCKET, unix.SO_ERROR); err != nil || e != 0 {
				t.Fatalf("SO_ERROR %d (%v)", e, err)
			}
		})
	}
	t.Run("CLOSE after LAST_ACK", func(t *testing.T) {
		b, a := connPair(t, false)
		shut(t, b)
		waitState(t, a, StateCloseWait)
		shut(t, a)
		waitState(t, a, StateClose)
		a = moveConn(t, a, StateClose)
		if got, eof := readNow(t, a); len(got) != 0 || !eof {
			t.Fatalf("receive queue: %d bytes, end of file %v", len(got), eof)
		}
		wantEPIPE(t, a)
		if e, err := unix.GetsockoptInt(a, unix.SOL_SOCKET, unix.SO_ERROR); err != nil || e != 0 {
			t.Fatalf("SO_ERROR %d (%v)", e, err)
		}
	})
}
