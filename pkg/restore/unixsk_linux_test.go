package restore

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/criugo/criugo/internal/testutil"
)

// recvAll reads the messages queued on a socket without blocking.
func recvAll(t *testing.T, f *os.File) [][]byte {
	t.Helper()
	var out [][]byte
	for {
		b := make([]byte, 4096)
		n, _, err := unix.Recvfrom(int(f.Fd()), b, unix.MSG_DONTWAIT)
		if err == unix.EAGAIN {
			return out
		}
		if err != nil {
			t.Fatalf("receive on %s: %v", f.Name(), err)
		}
		if n == 0 {
			return append(out, nil) // end of stream
		}
		out = append(out, b[:n])
	}
}

func send(t *testing.T, f *os.File, msg string) {
	t.Helper()
	if _, err := unix.Write(int(f.Fd()), []byte(msg)); err != nil {
		t.Fatalf("send on %s: %v", f.Name(), err)
	}
}

// wantMsgs checks the messages queued on f.
func wantMsgs(t *testing.T, f *os.File, want ...string) {
	t.Helper()
	got := recvAll(t, f)
	var g []string
	for _, m := range got {
		g = append(g, string(m))
	}
	if len(g) != len(want) {
		t.Errorf("%s holds %q, want %q", f.Name(), g, want)
		return
	}
	for i := range want {
		if g[i] != want[i] {
			t.Errorf("%s holds %q, want %q", f.Name(), g, want)
			return
		}
	}
}

func TestUnixSocketPair(t *testing.T) {
	f := zooSet(t, "sockets_spair")
	a, b := descOf(t, f, 8), descOf(t, f, 9)
	send(t, a, "ping")
	wantMsgs(t, b, "ping")
	send(t, b, "pong")
	wantMsgs(t, a, "pong")
	if typ, err := unix.GetsockoptInt(int(a.Fd()), unix.SOL_SOCKET, unix.SO_TYPE); err != nil || typ != unix.SOCK_STREAM {
		t.Errorf("socket type %d (%v), want SOCK_STREAM", typ, err)
	}
	if fl, _ := unix.FcntlInt(a.Fd(), unix.F_GETFL, 0); fl&unix.O_NONBLOCK != 0 {
		t.Errorf("socket flags %#o: O_NONBLOCK was not set", fl)
	}
}

func TestUnixSocketQueues(t *testing.T) {
	f := zooSet(t, "socket_queues")
	// A stream queue comes back as its bytes; datagrams one by one, in
	// order.
	wantMsgs(t, descOf(t, f, 8), "packet stream right\x00packet stream left\x00")
	wantMsgs(t, descOf(t, f, 9), "packet stream left\x00packet stream right\x00")
	wantMsgs(t, descOf(t, f, 10), "packet dgram right\x00", "packet dgram left\x00")
	wantMsgs(t, descOf(t, f, 11), "packet dgram left\x00", "packet dgram right\x00")
	// Senders got their saved buffer sizes back after the refill.
	for _, id := range []uint32{8, 9, 10, 11} {
		d := descOf(t, f, id)
		if n, err := unix.GetsockoptInt(int(d.Fd()), unix.SOL_SOCKET, unix.SO_SNDBUF); err != nil || n != 212992 {
			t.Errorf("socket %d: SO_SNDBUF %d (%v), want 212992", id, n, err)
		}
		if n, err := unix.GetsockoptInt(int(d.Fd()), unix.SOL_SOCKET, unix.SO_BUF_LOCK); err != nil || n != 0 {
			t.Errorf("socket %d: SO_BUF_LOCK %d (%v), want 0", id, n, err)
		}
	}
}

func TestUnixSocketShutdown(t *testing.T) {
	f := zooSet(t, "sockets01")
	// Stream pair 8 (READ) / 9 (WRITE): 9 cannot send, 8 reads the end.
	s8, s9 := descOf(t, f, 8), descOf(t, f, 9)
	if _, err := unix.SendmsgN(int(s9.Fd()), []byte("x"), nil, nil, unix.MSG_NOSIGNAL); !errors.Is(err, unix.EPIPE) {
		t.Errorf("send on a socket shut down for writing: %v, want EPIPE", err)
	}
	wantMsgs(t, s8, "")
	// 10 and 11 both shut down.
	s10, s11 := descOf(t, f, 10), descOf(t, f, 11)
	for _, s := range []*os.File{s10, s11} {
		if _, err := unix.SendmsgN(int(s.Fd()), []byte("x"), nil, nil, unix.MSG_NOSIGNAL); !errors.Is(err, unix.EPIPE) {
			t.Errorf("send on %s, shut down: %v, want EPIPE", s.Name(), err)
		}
	}
	// Datagram pair 16 (WRITE) / 17: 17 holds the saved message, and
	// still sends to 16.
	s16, s17 := descOf(t, f, 16), descOf(t, f, 17)
	wantMsgs(t, s17, "test-message\x00")
	send(t, s17, "back")
	wantMsgs(t, s16, "back")
	if _, err := unix.SendmsgN(int(s16.Fd()), []byte("x"), nil, nil, unix.MSG_NOSIGNAL); !errors.Is(err, unix.EPIPE) {
		t.Errorf("send on datagram socket 16, shut down for writing: %v, want EPIPE", err)
	}
}

// moveName points a unix socket of the images (and every socket of the
// same name) at a path in dir.
func moveName(f *fileObjs, old []byte, path string) {
	for _, e := range f.table {
		if ue := e.GetUsk(); ue != nil && bytes.Equal(ue.Name, old) {
			ue.Name = append([]byte(path), 0)
		}
	}
}

func TestUnixSocketListen(t *testing.T) {
	testutil.RequireRoot(t) // the socket file belongs to uid 18943
	f := zooSet(t, "sockets00")
	path := filepath.Join(t.TempDir(), "sk")
	// A stale socket file from an earlier life is replaced.
	stale, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Bind(stale, &unix.SockaddrUnix{Name: path}); err != nil {
		t.Fatal(err)
	}
	unix.Close(stale)
	l, _ := f.entry(8)
	moveName(f, l.Usk.Name, path)
	ls := descOf(t, f, 8)
	// 9 waits in the listener's queue; 10 and 11 are the connection it
	// had accepted: 11 has the listener's name, and is 10's peer name.
	fd, _, err := unix.Accept4(int(ls.Fd()), unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
	if err != nil {
		t.Fatalf("accept the waiting connection: %v", err)
	}
	acc := os.NewFile(uintptr(fd), "accepted")
	defer acc.Close()
	send(t, descOf(t, f, 9), "hello")
	wantMsgs(t, acc, "hello")
	s10, s11 := descOf(t, f, 10), descOf(t, f, 11)
	send(t, s10, "to 11")
	wantMsgs(t, s11, "to 11")
	for what, get := range map[string]func() (unix.Sockaddr, error){
		"listener's name": func() (unix.Sockaddr, error) { return unix.Getsockname(int(ls.Fd())) },
		"name of 11":      func() (unix.Sockaddr, error) { return unix.Getsockname(int(s11.Fd())) },
		"peer name of 10": func() (unix.Sockaddr, error) { return unix.Getpeername(int(s10.Fd())) },
	} {
		if sa, err := get(); err != nil || sa.(*unix.SockaddrUnix).Name != path {
			t.Errorf("%s: %+v (%v), want %s", what, sa, err, path)
		}
	}
	if n, err := unix.GetsockoptInt(int(ls.Fd()), unix.SOL_SOCKET, unix.SO_ACCEPTCONN); err != nil || n != 1 {
		t.Errorf("SO_ACCEPTCONN %d (%v)", n, err)
	}
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil || st.Mode != 0o140640 || st.Uid != 18943 || st.Gid != 58467 {
		t.Errorf("socket file mode %#o uid %d gid %d (%v), want 0140640 18943:58467", st.Mode, st.Uid, st.Gid, err)
	}
}

func TestUnixSocketRelativeName(t *testing.T) {
	f := zooSet(t, "sockets00")
	dir := t.TempDir()
	l, _ := f.entry(8)
	old := l.Usk.Name
	for _, e := range f.table {
		if ue := e.GetUsk(); ue != nil && bytes.Equal(ue.Name, old) {
			ue.Name = []byte("rel.sock\x00")
			ue.NameDir = &dir
			ue.FilePerms = nil
		}
	}
	ls := descOf(t, f, 8)
	wd, _ := os.Getwd()
	if wd == dir {
		t.Fatal("criu-restore moved to the socket's directory")
	}
	if sa, err := unix.Getsockname(int(ls.Fd())); err != nil || sa.(*unix.SockaddrUnix).Name != "rel.sock" {
		t.Errorf("listener's name %+v (%v), want rel.sock", sa, err)
	}
	if sa, err := unix.Getpeername(int(descOf(t, f, 10).Fd())); err != nil || sa.(*unix.SockaddrUnix).Name != "rel.sock" {
		t.Errorf("peer name of 10: %+v (%v), want rel.sock", sa, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "rel.sock")); err != nil {
		t.Errorf("socket file: %v", err)
	}
}

func TestUnixSocketDgram(t *testing.T) {
	f := zooSet(t, "sockets_dgram")
	dir := t.TempDir()
	names := map[uint32]string{}
	for _, id := range []uint32{9, 12, 13} {
		e, _ := f.entry(id)
		names[id] = filepath.Join(dir, filepath.Base(string(bytes.TrimRight(e.Usk.Name, "\x00"))))
		moveName(f, e.Usk.Name, names[id])
	}
	for _, id := range []uint32{8, 9, 10, 11, 12, 13} {
		descOf(t, f, id)
	}
	// 10 and 11 are connected to 12.
	send(t, descOf(t, f, 10), "from 10")
	send(t, descOf(t, f, 11), "from 11")
	wantMsgs(t, descOf(t, f, 12), "from 10", "from 11")
	// 13 is connected to itself.
	send(t, descOf(t, f, 13), "to myself")
	wantMsgs(t, descOf(t, f, 13), "to myself")
	// 9 is bound: an unconnected socket reaches it by name.
	s8 := descOf(t, f, 8)
	if err := unix.Sendto(int(s8.Fd()), []byte("to 9"), 0, &unix.SockaddrUnix{Name: names[9]}); err != nil {
		t.Fatalf("send to %s: %v", names[9], err)
	}
	wantMsgs(t, descOf(t, f, 9), "to 9")
	if sa, err := unix.Getpeername(int(descOf(t, f, 10).Fd())); err != nil || sa.(*unix.SockaddrUnix).Name != names[12] {
		t.Errorf("peer of 10: %+v (%v), want %s", sa, err, names[12])
	}
}

func TestUnixSocketAbstract(t *testing.T) {
	f := zooSet(t, "sk-unix-unconn")
	e, _ := f.entry(8)
	// Give the name a suffix of this test's own, trailing 0 byte kept.
	name := append(append(bytes.TrimRight(e.Usk.Name, "\x00"), []byte(filepath.Base(t.TempDir()))...), 0)
	e.Usk.Name = name
	d := descOf(t, f, 8)
	// /proc/net/unix shows every 0 byte of an abstract name as '@'
	// (unix.Getsockname would stop at the trailing one).
	want := "@" + string(name[1:len(name)-1]) + "@"
	if got := procNetUnixName(t, d); got != want {
		t.Errorf("name %q, want %q", got, want)
	}
	descOf(t, f, 9)
}

// procNetUnixName returns the name /proc/net/unix shows for a socket.
func procNetUnixName(t *testing.T, f *os.File) string {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile("/proc/net/unix")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		fields := strings.Fields(line)
		if len(fields) >= 7 && fields[6] == strconv.FormatUint(st.Ino, 10) {
			if len(fields) > 7 {
				return fields[7]
			}
			return ""
		}
	}
	t.Fatalf("socket inode %d not in /proc/net/unix", st.Ino)
	return ""
}

func TestUnixSocketRights(t *testing.T) {
	f := zooSet(t, "scm00")
	s9 := descOf(t, f, 9)
	b := make([]byte, 16)
	oob := make([]byte, unix.CmsgSpace(4))
	n, oobn, _, _, err := unix.Recvmsg(int(s9.Fd()), b, oob, unix.MSG_DONTWAIT|unix.MSG_CMSG_CLOEXEC)
	if err != nil || n != 1 {
		t.Fatalf("receive the queued message: %d bytes, %v", n, err)
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) != 1 {
		t.Fatalf("control messages %v (%v)", msgs, err)
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) != 1 {
		t.Fatalf("passed fds %v (%v)", fds, err)
	}
	defer unix.Close(fds[0])
	// The passed file is the read end of pipe 10, the same description.
	var got, want unix.Stat_t
	unix.Fstat(fds[0], &got)
	unix.Fstat(int(descOf(t, f, 10).Fd()), &want)
	if got.Ino != want.Ino || got.Dev != want.Dev {
		t.Errorf("passed file is inode %d, want the pipe's %d", got.Ino, want.Ino)
	}
}

func TestUnixSocketRefused(t *testing.T) {
	f := zooSet(t, "sockets00")
	// A peer outside the images is an external socket.
	e, _ := f.entry(9)
	e.Usk.Peer = new(uint32)
	*e.Usk.Peer = 4242
	if _, err := f.descFor(8); !errors.Is(err, ErrNotSupported) {
		t.Errorf("socket with a peer outside the tree: %v, want ErrNotSupported", err)
	}
	if err := f.checkEntry(e); !errors.Is(err, ErrNotSupported) {
		t.Errorf("check: %v, want ErrNotSupported", err)
	}
	g := zooSet(t, "sockets00")
	e, _ = g.entry(8)
	e.Usk.Uflags = new(uint32)
	*e.Usk.Uflags = 1 // USK_EXTERN
	if err := g.checkEntry(e); !errors.Is(err, ErrNotSupported) {
		t.Errorf("external socket: %v, want ErrNotSupported", err)
	}
	e.Usk = nil
	if err := g.checkEntry(e); !errors.Is(err, ErrBadImage) {
		t.Errorf("UNIXSK without its entry: %v, want ErrBadImage", err)
	}
}
