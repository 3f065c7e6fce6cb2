package dump

import (
	"encoding/binary"
	"fmt"
	"os"
	"runtime"

	"golang.org/x/sys/unix"

	"github.com/criugo/criugo/images"
	"github.com/criugo/criugo/pkg/image"
	"github.com/criugo/criugo/pkg/sockdiag"
)

// Sockets. What an fd alone tells of a socket (its options, its local
// and remote address) comes from getsockopt and friends on a copy of the
// fd (pidfd_getfd); what only the kernel's tables tell (the peer of a
// unix socket, its name as bound, connections not accepted yet, queue
// lengths, shutdown state) comes from sock_diag, asked once per network
// namespace and kind, as CRIU collects its sockets before dumping them.

// sockState is what the dump keeps of sockets across tasks.
type sockState struct {
	// tcpEstablished: record established TCP connections (their sockets
	// stay in repair mode until the dump ends).
	tcpEstablished bool
	// tcpClose: record TCP connections in any state without their data,
	// to be restored closed (Options.TCPClose).
	tcpClose bool
	// skipInFlight: record listeners with connections not accepted yet,
	// which are dropped (Options.SkipInFlight).
	skipInFlight bool
	// extUnixSk: the dump was asked to take unix sockets with a peer
	// outside the tree (Options.ExtUnixSk), which it cannot yet.
	extUnixSk bool
	nets      map[uint64]*netSocks // by network namespace inode

	unixDumped  map[uint32]bool
	unixWaiting map[uint32][]*images.FileEntry // by the inode of the peer waited for, newest first
	queues      []image.Entry                  // sk-queues.img

	// repaired are our copies of the TCP sockets put in repair mode.
	repaired []repairedSock
	// inflight are the files passed in queued packets, as the peeks
	// gave them to us; self is criu-parasite as the task that holds
	// them.
	inflight []*os.File
	self     *taskDump
}

// netSocks are the sockets of one network namespace as sock_diag lists
// them, asked for when first needed.
type netSocks struct {
	id    uint32 // the namespace's id in the images
	conn  *sockdiag.Conn
	unix  map[uint32]*sockdiag.UnixSock
	icons map[uint32]uint32 // connecting socket -> listener holding it
	inet  map[inetKind]map[uint32]*sockdiag.InetSock
	// packet: the AF_PACKET sockets, asked for when first needed.
	packet map[uint32]*sockdiag.PacketSock
}

type inetKind struct {
	family   uint8
	protocol uint16
}

// Kernel constants without a name in x/sys/unix.
const (
	siocUnixFile = unix.SIOCPROTOPRIVATE // SIOCUNIXFILE: an O_PATH fd of a bound unix socket's file

	tcpEstablished = 1
	tcpSynSent     = 2
	tcpFinWait1    = 4
	tcpFinWait2    = 5
	tcpClose       = 7
	tcpCloseWait   = 8
	tcpLastAck     = 9
	tcpListen      = 10
	tcpClosing     = 11
)

// socketType classifies a socket fd by its domain, as the socket kinds
// of fdKinds registered them.
func (d *dumper) socketType(t *taskDump, f *fdFile) (images.FdTypes, error) {
	theirs, err := d.stealFd(t, f.fd)
	if err != nil {
		return 0, err
	}
	defer theirs.Close()
	domain, err := unix.GetsockoptInt(int(theirs.Fd()), unix.SOL_SOCKET, unix.SO_DOMAIN)
	if err != nil {
		return 0, fmt.Errorf("read socket domain: %w", err)
	}
	if typ, ok := sockKinds[domain]; ok {
		return typ, nil
	}
	what := map[int]string{unix.AF_INET6: "", unix.AF_ALG: " (AF_ALG)",
		unix.AF_VSOCK: " (AF_VSOCK)", unix.AF_BLUETOOTH: " (AF_BLUETOOTH)", unix.AF_XDP: " (AF_XDP)", unix.AF_KEY: " (AF_KEY)"}[domain]
	return 0, fmt.Errorf("socket of domain %d%s: %w", domain, what, ErrNotSupported)
}

// netOf returns the sockets of the network namespace of the socket fd.
func (d *dumper) netOf(fd int) (*netSocks, error) {
	nsfd, err := unix.IoctlRetInt(fd, unix.SIOCGSKNS)
	if err != nil {
		return nil, fmt.Errorf("read network namespace of socket: %w", err)
	}
	defer unix.Close(nsfd)
	var st unix.Stat_t
	if err := unix.Fstat(nsfd, &st); err != nil {
		return nil, fmt.Errorf("stat network namespace of socket: %w", err)
	}
	if n, ok := d.socks.nets[st.Ino]; ok {
		return n, nil
	}
	// The namespace of this thread (not /proc/self's, the main thread's,
	// which the runtime may have left elsewhere) is the one a socket we
	// create here belongs to.
	runtime.LockOSThread()
	var own unix.Stat_t
	err = unix.Stat("/proc/thread-self/ns/net", &own)
	in := nsfd
	if err == nil && own.Ino == st.Ino {
		in = -1
	}
	var conn *sockdiag.Conn
	if err == nil {
		conn, err = sockdiag.Open(in)
	}
	runtime.UnlockOSThread()
	if err != nil {
		return nil, fmt.Errorf("open sock_diag in network namespace %d: %w", st.Ino, err)
	}
	if d.socks.nets == nil {
		d.socks.nets = make(map[uint64]*netSocks)
	}
	n := &netSocks{id: d.ns.id("net", st.Ino), conn: conn, inet: make(map[inetKind]map[uint32]*sockdiag.InetSock)}
	d.socks.nets[st.Ino] = n
	return n, nil
}

// unixSocks lists the unix sockets of the namespace, once.
func (n *netSocks) unixSocks() (map[uint32]*sockdiag.UnixSock, error) {
	if n.unix != nil {
		return n.unix, nil
	}
	all, err := n.conn.Unix()
	if err != nil {
		return nil, err
	}
	n.icons = make(map[uint32]uint32)
	for _, s := range all {
		for _, c := range s.Icons {
			n.icons[c] = s.Ino
		}
	}
	n.unix = all
	return all, nil
}

// inetSocks lists the sockets of a family and protocol, once: TCP in the
// states CRIU collects (not CLOSE: an unbound or closed socket is not in
// the kernel's tables), UDP in all.
func (n *netSocks) inetSocks(family uint8, protocol uint16) (map[uint32]*sockdiag.InetSock, error) {
	k := inetKind{family, protocol}
	if m, ok := n.inet[k]; ok {
		return m, nil
	}
	states := ^uint32(0)
	if protocol == unix.IPPROTO_TCP || protocol == unix.IPPROTO_MPTCP {
		states = 1<<tcpListen | 1<<tcpEstablished | 1<<2 | 1<<3 | 1<<4 | 1<<5 | 1<<8 | 1<<9 | 1<<11 // SYN_SENT..CLOSING
	}
	m, err := n.conn.Inet(family, protocol, states)
	if err != nil {
		return nil, err
	}
	n.inet[k] = m
	return m, nil
}

// closeSockets closes the sock_diag sockets. The connections in repair
// mode are gone by then: Dump's finish drops them (dropTCP) or takes them
// out of repair mode (unlockTCP), and so does the rollback of a failed
// dump, before the tree is thawed.
func (d *dumper) closeSockets() {
	for _, n := range d.socks.nets {
		n.conn.Close()
	}
	d.socks.nets = nil
	for _, f := range d.socks.inflight {
		f.Close()
	}
	d.socks.inflight = nil
	if d.socks.self != nil {
		d.socks.self.close()
		d.socks.self = nil
	}
}

// skOpts reads the socket options CRIU records for every socket
// (sk_opts_entry): those CRIU sets only when they differ from the default
// (mark, linger, bound device, filter) are left out otherwise, and
// SO_PASSCRED/SO_PASSSEC exist for unix sockets only.
func skOpts(fd int, family int) (*images.SkOptsEntry, error) {
	var err error
	geti := func(level, opt int) uint32 {
		if err != nil {
			return 0
		}
		var v int
		if v, err = unix.GetsockoptInt(fd, level, opt); err != nil {
			err = fmt.Errorf("get socket option %d:%d: %w", level, opt, err)
		}
		return uint32(v)
	}
	getb := func(opt int) *bool { return ptr(geti(unix.SOL_SOCKET, opt) != 0) }
	o := &images.SkOptsEntry{
		SoSndbuf:    ptr(geti(unix.SOL_SOCKET, unix.SO_SNDBUF)),
		SoRcvbuf:    ptr(geti(unix.SOL_SOCKET, unix.SO_RCVBUF)),
		SoBufLock:   ptr(geti(unix.SOL_SOCKET, unix.SO_BUF_LOCK)),
		SoPriority:  ptr(geti(unix.SOL_SOCKET, unix.SO_PRIORITY)),
		SoRcvlowat:  ptr(geti(unix.SOL_SOCKET, unix.SO_RCVLOWAT)),
		Reuseaddr:   getb(unix.SO_REUSEADDR),
		SoReuseport: getb(unix.SO_REUSEPORT),
		SoDontroute: getb(unix.SO_DONTROUTE),
		SoNoCheck:   getb(unix.SO_NO_CHECK),
		SoBroadcast: getb(unix.SO_BROADCAST),
		SoKeepalive: getb(unix.SO_KEEPALIVE),
		SoOobinline: ptr(geti(unix.SOL_SOCKET, unix.SO_OOBINLINE)),
	}
	if mark := geti(unix.SOL_SOCKET, unix.SO_MARK); mark != 0 {
		o.SoMark = ptr(mark)
	}
	if family == unix.AF_UNIX || family == unix.AF_NETLINK {
		o.SoPasscred = getb(unix.SO_PASSCRED)
		o.SoPasssec = getb(unix.SO_PASSSEC)
	}
	if err != nil {
		return nil, err
	}
	for _, t := range []struct {
		opt      int
		sec, use **uint64
	}{{unix.SO_SNDTIMEO, &o.SoSndTmoSec, &o.SoSndTmoUsec}, {unix.SO_RCVTIMEO, &o.SoRcvTmoSec, &o.SoRcvTmoUsec}} {
		tv, err := unix.GetsockoptTimeval(fd, unix.SOL_SOCKET, t.opt)
		if err != nil {
			return nil, fmt.Errorf("get socket timeout: %w", err)
		}
		*t.sec, *t.use = ptr(uint64(tv.Sec)), ptr(uint64(tv.Usec))
	}
	l, err := unix.GetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER)
	if err != nil {
		return nil, fmt.Errorf("get SO_LINGER: %w", err)
	}
	if l.Onoff != 0 {
		o.SoLinger = ptr(uint32(l.Linger))
	}
	dev, err := unix.GetsockoptString(fd, unix.SOL_SOCKET, unix.SO_BINDTODEVICE)
	if err != nil {
		return nil, fmt.Errorf("get SO_BINDTODEVICE: %w", err)
	}
	if dev != "" {
		o.SoBoundDev = ptr(dev)
	}
	if o.SoFilter, err = socketFilter(fd); err != nil {
		return nil, err
	}
	return o, nil
}

// maxFilterLen is BPF_MAXINSNS, the most instructions a classic socket
// filter holds.
const maxFilterLen = 4096

// socketFilter reads the classic BPF filter attached to a socket, one
// instruction a word as CRIU stores them: code<<48 | jt<<40 | jf<<32 | k,
// the fields in this order whatever the byte order, so that the image
// moves across architectures. (SO_GET_FILTER counts its length in
// instructions, each a struct sock_filter: u16 code, u8 jt, u8 jf, u32 k.)
func socketFilter(fd int) ([]uint64, error) {
	n, err := getsockoptRaw(fd, unix.SOL_SOCKET, unix.SO_GET_FILTER, nil, 0)
	if err != nil {
		return nil, fmt.Errorf("get SO_GET_FILTER: %w", err)
	}
	if n == 0 {
		return nil, nil
	}
	if n > maxFilterLen {
		return nil, fmt.Errorf("socket filter of %d instructions: %w", n, ErrKernel)
	}
	b := make([]byte, 8*n)
	got, err := getsockoptRaw(fd, unix.SOL_SOCKET, unix.SO_GET_FILTER, b, n)
	if err != nil {
		return nil, fmt.Errorf("get SO_GET_FILTER: %w", err)
	}
	if got != n {
		return nil, fmt.Errorf("socket filter changed from %d to %d instructions: %w", n, got, ErrKernel)
	}
	out := make([]uint64, n)
	for i := range out {
		in := b[8*i:]
		code := binary.NativeEndian.Uint16(in)
		jt, jf := in[2], in[3]
		k := binary.NativeEndian.Uint32(in[4:])
		out[i] = uint64(code)<<48 | uint64(jt)<<40 | uint64(jf)<<32 | uint64(k)
	}
	return out, nil
}

// shutdownOf turns the kernel's shutdown bits (RCV_SHUTDOWN 1,
// SEND_SHUTDOWN 2) into the image's value, which has the same numbers;
// none is left out, as CRIU does.
func shutdownOf(bits uint8) *images.SkShutdown {
	if bits&3 == 0 {
		return nil
	}
	return images.SkShutdown(bits & 3).Enum()
}
