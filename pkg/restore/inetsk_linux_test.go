package restore

import (
	"errors"
	"net/netip"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/criugo/criugo/internal/testutil"
	"github.com/criugo/criugo/pkg/image"
	"github.com/criugo/criugo/pkg/soccr"
)

// freePort returns a port no socket of the given type holds on 127.0.0.1
// (and 0.0.0.0) right now.
func freePort(t *testing.T, typ int) uint32 {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, typ, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if err := unix.Bind(fd, &unix.SockaddrInet4{}); err != nil {
		t.Fatal(err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	return uint32(sa.(*unix.SockaddrInet4).Port)
}

func TestInetListen(t *testing.T) {
	f := zooSet(t, "socket_listen")
	e, _ := f.entry(8)
	port := freePort(t, unix.SOCK_STREAM)
	e.Isk.SrcPort = &port
	l := descOf(t, f, 8)
	c, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(c)
	if err := unix.Connect(c, &unix.SockaddrInet4{Port: int(port), Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatalf("connect to the restored listener: %v", err)
	}
	a, _, err := unix.Accept4(int(l.Fd()), unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK)
	if err != nil {
		t.Fatalf("accept: %v", err)
	}
	unix.Close(a)
	if err := f.finish(); err != nil {
		t.Fatal(err)
	}
	// Saved: SO_REUSEADDR on, SO_REUSEPORT off (on during the restore).
	for opt, want := range map[int]int{unix.SO_REUSEADDR: 1, unix.SO_REUSEPORT: 0, unix.SO_ACCEPTCONN: 1} {
		if v, err := unix.GetsockoptInt(int(l.Fd()), unix.SOL_SOCKET, opt); err != nil || v != want {
			t.Errorf("socket option %d is %d (%v), want %d", opt, v, err, want)
		}
	}
	if v, err := unix.GetsockoptInt(int(l.Fd()), unix.SOL_TCP, unix.TCP_KEEPINTVL); err != nil || v != 75 {
		t.Errorf("TCP_KEEPINTVL %d (%v), want 75", v, err)
	}
}

// TestInetMPTCP: CRIU's listener entry with proto 262 comes back as an
// MPTCP listener (an MPTCP client is accepted as MPTCP); a connected
// MPTCP socket is refused.
func TestInetMPTCP(t *testing.T) {
	if fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, unix.IPPROTO_MPTCP); err != nil {
		t.Skipf("no MPTCP here: %v", err)
	} else {
		unix.Close(fd)
	}
	f := zooSet(t, "socket_listen")
	e, _ := f.entry(8)
	port, mptcp := freePort(t, unix.SOCK_STREAM), uint32(unix.IPPROTO_MPTCP)
	e.Isk.SrcPort, e.Isk.Proto = &port, &mptcp
	l := descOf(t, f, 8)
	if v, err := unix.GetsockoptInt(int(l.Fd()), unix.SOL_SOCKET, unix.SO_PROTOCOL); err != nil || v != unix.IPPROTO_MPTCP {
		t.Fatalf("restored listener's protocol %d (%v), want MPTCP", v, err)
	}
	c, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, unix.IPPROTO_MPTCP)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(c)
	if err := unix.Connect(c, &unix.SockaddrInet4{Port: int(port), Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatalf("connect to the restored listener: %v", err)
	}
	a, _, err := unix.Accept4(int(l.Fd()), unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK)
	if err != nil {
		t.Fatalf("accept: %v", err)
	}
	defer unix.Close(a)
	if v, err := unix.GetsockoptInt(a, unix.SOL_SOCKET, unix.SO_PROTOCOL); err != nil || v != unix.IPPROTO_MPTCP {
		t.Errorf("accepted protocol %d (%v), want MPTCP", v, err)
	}
	if err := f.finish(); err != nil {
		t.Fatal(err)
	}
	g := zooSet(t, "socket_listen")
	e, _ = g.entry(8)
	est, dport := uint32(tcpEstablished), uint32(80)
	e.Isk.Proto, e.Isk.State, e.Isk.DstPort = &mptcp, &est, &dport
	if err := g.checkEntry(e); !errors.Is(err, ErrNotSupported) {
		t.Errorf("connected MPTCP socket: %v, want ErrNotSupported", err)
	}
}

func TestInetUDP(t *testing.T) {
	f := zooSet(t, "socket_udp")
	p1, p2 := freePort(t, unix.SOCK_DGRAM), freePort(t, unix.SOCK_DGRAM)
	for p1 == p2 {
		p2 = freePort(t, unix.SOCK_DGRAM)
	}
	e8, _ := f.entry(8)
	e9, _ := f.entry(9)
	e8.Isk.SrcPort = &p1
	e9.Isk.SrcPort, e9.Isk.DstPort = &p2, &p1
	s8, s9 := descOf(t, f, 8), descOf(t, f, 9)
	if _, err := unix.Write(int(s9.Fd()), []byte("datagram")); err != nil {
		t.Fatalf("send on the connected socket: %v", err)
	}
	b := make([]byte, 64)
	deadline := time.Now().Add(2 * time.Second)
	for {
		n, from, err := unix.Recvfrom(int(s8.Fd()), b, unix.MSG_DONTWAIT)
		if err == unix.EAGAIN && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
			continue
		}
		if err != nil {
			t.Fatalf("receive on the bound socket: %v", err)
		}
		if string(b[:n]) != "datagram" || from.(*unix.SockaddrInet4).Port != int(p2) {
			t.Errorf("got %q from %+v, want \"datagram\" from port %d", b[:n], from, p2)
		}
		break
	}
}

func TestInetRefused(t *testing.T) {
	f := zooSet(t, "socket_listen")
	e, _ := f.entry(8)
	seqpacket := uint32(unix.SOCK_SEQPACKET)
	e.Isk.Type = &seqpacket
	if err := f.checkEntry(e); !errors.Is(err, ErrNotSupported) {
		t.Errorf("inet seqpacket socket: %v, want ErrNotSupported", err)
	}
	g := zooSet(t, "socket_listen")
	e, _ = g.entry(8)
	synSent := uint32(2)
	e.Isk.State = &synSent
	e.Isk.DstPort = new(uint32)
	*e.Isk.DstPort = 80
	if err := g.checkEntry(e); !errors.Is(err, ErrNotSupported) {
		t.Errorf("connecting TCP socket: %v, want ErrNotSupported", err)
	}
	// An established connection without its tcp-stream image.
	h := zooSet(t, "socket_listen")
	e, _ = h.entry(8)
	est := uint32(tcpEstablished)
	e.Isk.State = &est
	if err := h.checkEntry(e); !errors.Is(err, ErrBadImage) {
		t.Errorf("established socket without tcp-stream image: %v, want ErrBadImage", err)
	}
}

// loopbackPair connects two TCP sockets over 127.0.0.1.
func loopbackPair(t *testing.T) (client, server int) {
	t.Helper()
	l, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(l)
	if err := unix.Bind(l, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(l, 1); err != nil {
		t.Fatal(err)
	}
	sa, _ := unix.Getsockname(l)
	if client, err = unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0); err != nil {
		t.Fatal(err)
	}
	if err := unix.Connect(client, sa); err != nil {
		t.Fatal(err)
	}
	if server, _, err = unix.Accept4(l, unix.SOCK_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	return client, server
}

// readWithin reads what arrives on fd within d.
func readWithin(t *testing.T, fd int, n int, d time.Duration) string {
	t.Helper()
	b := make([]byte, n)
	got := 0
	deadline := time.Now().Add(d)
	for got < n && time.Now().Before(deadline) {
		k, _, err := unix.Recvfrom(fd, b[got:], unix.MSG_DONTWAIT)
		if err == unix.EAGAIN {
			time.Sleep(time.Millisecond)
			continue
		}
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		if k == 0 {
			break
		}
		got += k
	}
	return string(b[:got])
}

func TestTCPRepair(t *testing.T) {
	testutil.RequireRoot(t) // TCP repair needs CAP_NET_ADMIN
	client, server := loopbackPair(t)
	defer unix.Close(server)
	// Unread by the client when it is saved: its receive queue.
	if _, err := unix.Write(server, []byte("queued")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	st, err := soccr.Save(client)
	if err != nil {
		t.Fatal(err)
	}
	// Closed in repair mode: the server sees nothing.
	unix.Close(client)
	fe, ts := soccr.ToImages(st, 1, 4242)
	dir := t.TempDir()
	if err := image.WriteFile(dir, "files.img", &image.Image{Kind: image.Files, Entries: []image.Entry{{Msg: fe}}}); err != nil {
		t.Fatal(err)
	}
	tsImg := &image.Image{Kind: image.TCPStream, Entries: []image.Entry{{Msg: ts, Extra: &image.Extra{InQ: st.InQ, OutQ: st.OutQ}}}}
	if err := image.WriteFile(dir, image.TCPStream.FileName(4242), tsImg); err != nil {
		t.Fatal(err)
	}
	set, err := openDirSet(dir)
	if err != nil {
		t.Fatal(err)
	}
	r := &restorer{set: set, self: os.Getpid()}
	if r.files, err = newFileObjs(r); err != nil {
		t.Fatal(err)
	}
	defer r.files.close()
	if err := r.files.checkEntry(fe); err != nil {
		t.Fatal(err)
	}
	d := descOf(t, r.files, 1)
	fd := int(d.Fd())
	if v, err := unix.GetsockoptInt(fd, unix.SOL_TCP, unix.TCP_REPAIR); err != nil || v != 1 {
		t.Errorf("restored connection in repair mode: %d (%v), want 1 until the tree runs", v, err)
	}
	if err := r.files.finish(); err != nil {
		t.Fatal(err)
	}
	if v, err := unix.GetsockoptInt(fd, unix.SOL_TCP, unix.TCP_REPAIR); err != nil || v != 0 {
		t.Errorf("repair mode %d (%v) after finish, want 0", v, err)
	}
	if got := readWithin(t, fd, 6, 2*time.Second); got != "queued" {
		t.Errorf("restored receive queue %q, want \"queued\"", got)
	}
	if _, err := unix.Write(server, []byte("after")); err != nil {
		t.Fatal(err)
	}
	if got := readWithin(t, fd, 5, 2*time.Second); got != "after" {
		t.Errorf("read %q from the server after the restore, want \"after\"", got)
	}
	if _, err := unix.Write(fd, []byte("back")); err != nil {
		t.Fatalf("write on the restored connection: %v", err)
	}
	if got := readWithin(t, server, 4, 2*time.Second); got != "back" {
		t.Errorf("server read %q, want \"back\"", got)
	}
	sa, err := unix.Getpeername(fd)
	if err != nil || netip.AddrPortFrom(netip.AddrFrom4(sa.(*unix.SockaddrInet4).Addr), uint16(sa.(*unix.SockaddrInet4).Port)) != st.Dst {
		t.Errorf("peer %+v (%v), want %v", sa, err, st.Dst)
	}
}
