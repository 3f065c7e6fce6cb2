package sockdiag

import (
	"bytes"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/criugo/criugo/internal/testutil"
)

func inode(t *testing.T, fd int) uint32 {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		t.Fatal(err)
	}
	return uint32(st.Ino)
}

func sock(t *testing.T, domain, typ int) int {
	t.Helper()
	fd, err := unix.Socket(domain, typ|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	return fd
}

// TestUnixLive: a socketpair, a listener with a connection not accepted
// yet, a bound datagram socket with queued data, as the kernel reports them.
func TestUnixLive(t *testing.T) {
	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(pair[0])
	defer unix.Close(pair[1])
	if err := unix.Shutdown(pair[0], unix.SHUT_WR); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "l.sock")
	l := sock(t, unix.AF_UNIX, unix.SOCK_STREAM)
	if err := unix.Bind(l, &unix.SockaddrUnix{Name: path}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(l, 7); err != nil {
		t.Fatal(err)
	}
	c := sock(t, unix.AF_UNIX, unix.SOCK_STREAM)
	if err := unix.Connect(c, &unix.SockaddrUnix{Name: path}); err != nil {
		t.Fatal(err)
	}
	d := sock(t, unix.AF_UNIX, unix.SOCK_DGRAM)
	if err := unix.Bind(d, &unix.SockaddrUnix{Name: "@criugo-sockdiag-test"}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Sendto(sock(t, unix.AF_UNIX, unix.SOCK_DGRAM), []byte("hello"), 0, &unix.SockaddrUnix{Name: "@criugo-sockdiag-test"}); err != nil {
		t.Fatal(err)
	}

	conn, err := Open(-1)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	all, err := conn.Unix()
	if err != nil {
		t.Fatal(err)
	}
	a, b := all[inode(t, pair[0])], all[inode(t, pair[1])]
	if a == nil || b == nil {
		t.Fatalf("socketpair not listed (%d sockets)", len(all))
	}
	if a.Peer != b.Ino || b.Peer != a.Ino || a.State != 1 || a.Type != unix.SOCK_STREAM || a.Name != nil {
		t.Errorf("socketpair: %+v %+v", a, b)
	}
	if a.Shutdown != 2 || b.Shutdown != 1 {
		t.Errorf("shutdown %d/%d, want SEND on the one shut for writing and RCV on its peer", a.Shutdown, b.Shutdown)
	}
	ls := all[inode(t, l)]
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	if ls == nil || ls.State != 10 || !bytes.Equal(ls.Name, append([]byte(path), 0)) || ls.VFSIno != uint32(st.Ino) ||
		ls.WQueue != 7 || ls.RQueue != 1 {
		t.Errorf("listener: %+v", ls)
	}
	cs := all[inode(t, c)]
	if cs == nil || cs.Peer != 0 || len(ls.Icons) != 1 || ls.Icons[0] != cs.Ino {
		t.Errorf("in-flight connection %+v, listener icons %v", cs, ls.Icons)
	}
	ds := all[inode(t, d)]
	if ds == nil || string(ds.Name) != "\x00criugo-sockdiag-test" || ds.RQueue != 5 || ds.State != 7 {
		t.Errorf("datagram socket: %+v", ds)
	}
}

// TestInetLive: a TCP listener and a connected UDP socket on loopback.
func TestInetLive(t *testing.T) {
	l := sock(t, unix.AF_INET, unix.SOCK_STREAM)
	if err := unix.Bind(l, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(l, 3); err != nil {
		t.Fatal(err)
	}
	sa, _ := unix.Getsockname(l)
	port := sa.(*unix.SockaddrInet4).Port
	u := sock(t, unix.AF_INET6, unix.SOCK_DGRAM)
	if err := unix.Connect(u, &unix.SockaddrInet6{Addr: netip.IPv6Loopback().As16(), Port: 9}); err != nil {
		t.Fatal(err)
	}
	conn, err := Open(-1)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	tcp, err := conn.Inet(unix.AF_INET, unix.IPPROTO_TCP, 1<<10)
	if err != nil {
		t.Fatal(err)
	}
	ls := tcp[inode(t, l)]
	if ls == nil || ls.State != 10 || ls.Src != netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(port)) || ls.WQueue != 3 {
		t.Errorf("listener: %+v", ls)
	}
	udp, err := conn.Inet(unix.AF_INET6, unix.IPPROTO_UDP, ^uint32(0))
	if err != nil {
		t.Fatal(err)
	}
	us := udp[inode(t, u)]
	if us == nil || us.State != 1 || us.Dst != netip.MustParseAddrPort("[::1]:9") {
		t.Errorf("udp: %+v", us)
	}
}

// TestOpenInNamespace: a socket made in another network namespace is seen
// from a Conn opened there and not from one opened in ours.
func TestOpenInNamespace(t *testing.T) {
	testutil.RequireRoot(t)
	type made struct {
		ns   *os.File
		pair [2]int
		err  error
	}
	ch := make(chan made, 1)
	go func() {
		// The thread goes back to its namespace, or ends with the
		// goroutine, still locked.
		runtime.LockOSThread()
		own, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			runtime.UnlockOSThread()
			ch <- made{err: err}
			return
		}
		defer own.Close()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			ch <- made{err: err}
			return
		}
		m := made{}
		m.pair, m.err = unix.Socketpair(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if m.err == nil {
			m.ns, m.err = os.Open("/proc/thread-self/ns/net")
		}
		if unix.Setns(int(own.Fd()), unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		}
		ch <- m
	}()
	m := <-ch
	if m.err != nil {
		t.Fatal(m.err)
	}
	defer m.ns.Close()
	defer unix.Close(m.pair[0])
	defer unix.Close(m.pair[1])
	there, err := Open(int(m.ns.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	defer there.Close()
	here, err := Open(-1)
	if err != nil {
		t.Fatal(err)
	}
	defer here.Close()
	ino := inode(t, m.pair[0])
	if all, err := there.Unix(); err != nil || all[ino] == nil {
		t.Errorf("socket of the new namespace not seen there (%v)", err)
	}
	if all, err := here.Unix(); err != nil || all[ino] != nil {
		t.Errorf("socket of the new namespace seen in ours (%v)", err)
	}
}

// TestMPTCPLive: an MPTCP listener with a connection not accepted yet is
// listed for IPPROTO_MPTCP with its backlog and pending connection, and
// its listening subflow for IPPROTO_TCP under the same inode.
func TestMPTCPLive(t *testing.T) {
	l, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, unix.IPPROTO_MPTCP)
	if err != nil {
		t.Skipf("no MPTCP here: %v", err)
	}
	defer unix.Close(l)
	if err := unix.Bind(l, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(l, 5); err != nil {
		t.Fatal(err)
	}
	sa, _ := unix.Getsockname(l)
	c := sock(t, unix.AF_INET, unix.SOCK_STREAM)
	if err := unix.Connect(c, sa); err != nil {
		t.Fatal(err)
	}
	conn, err := Open(-1)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	m, err := conn.Inet(unix.AF_INET, unix.IPPROTO_MPTCP, 1<<10)
	if err != nil {
		t.Fatal(err)
	}
	want := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(sa.(*unix.SockaddrInet4).Port))
	ls := m[inode(t, l)]
	if ls == nil || ls.Protocol != unix.IPPROTO_MPTCP || ls.State != 10 || ls.Src != want || ls.WQueue != 5 || ls.RQueue != 1 {
		t.Errorf("MPTCP listener: %+v", ls)
	}
	tcp, err := conn.Inet(unix.AF_INET, unix.IPPROTO_TCP, 1<<10)
	if err != nil {
		t.Fatal(err)
	}
	if sf := tcp[inode(t, l)]; sf == nil || sf.Src != want {
		t.Errorf("listening subflow: %+v", sf)
	}
}
