package dump

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"

	"golang.org/x/sys/unix"

	"github.com/criugo/criugo/images"
	"github.com/criugo/criugo/pkg/image"
	"github.com/criugo/criugo/pkg/proc"
	"github.com/criugo/criugo/pkg/soccr"
	"github.com/criugo/criugo/pkg/sockdiag"
)

func init() {
	registerFdKind(images.FdTypes_INETSK, &fdKind{link: proc.LinkSocket, domains: []int{unix.AF_INET, unix.AF_INET6},
		dump: func(d *dumper, x *fdDump) error { return d.inetSocket(x.t, x.f, x.id, x.flags, x.fown, x.theirs) }})
}

// TCP and UDP sockets, as CRIU records them: addresses, ports, state,
// options, and for an established TCP connection (only with
// Options.TCPEstablished, CRIU's --tcp-established) its whole state read
// through TCP repair mode into tcp-stream-<inode>.img:
//
//	files.img:            inet_sk_entry {family, type, proto, state, ports, addresses, opts, ...}
//	tcp-stream-<ino>.img: tcp_stream_entry {seqs, windows, options} | receive queue | send queue
//
// A connection put in repair mode stays there until the dump ends: it
// sends nothing, and when the dump kills the tree it closes without a
// word to its peer, so that a restored copy takes it over. After a dump
// that leaves the tree running, or one that fails, repair mode is left
// and the connection goes on. Before it goes into repair mode the
// connection is locked (lockConn, netns_linux.go) when the tree shares
// our network namespace; a namespace of its own is locked whole.
//
// A connection closing (FIN_WAIT1, FIN_WAIT2, CLOSE_WAIT, LAST_ACK,
// CLOSING) is read the same way, with the same --tcp-established, and so
// is a connection closed both ways whose socket is still open (in
// TCP_CLOSE, after TIME_WAIT or LAST_ACK, or reset), which keeps its
// peer's name and unread data (CRIU reads it even without the option);
// the restore replays their FINs (pkg/soccr).
//
// As CRIU does, a UDP socket's received datagrams are dropped (a network
// may lose them too); a corked UDP socket, a listener with connections
// not accepted yet (unless Options.SkipInFlight, which leaves them out)
// and TCP connections still connecting (SYN_SENT: unless
// Options.TCPClose, with which every connection is recorded without its
// data, to be restored closed) are refused. A connection's state is read
// until the reading is consistent (soccr.Save): in repair mode it still
// takes what its peer sends.
//
// MPTCP sockets (IPPROTO_MPTCP, what Go listens with since 1.24) are
// recorded with proto 262, listening or not connected, from the MPTCP
// list of sock_diag (mptcpSockets). A connection such a listener
// accepts from a client speaking plain TCP is no MPTCP socket at all:
// the kernel hands the accepted file over to TCP (SO_PROTOCOL 6,
// TCP_REPAIR allowed), so it is dumped as any TCP connection. A
// connected MPTCP socket, whether it runs MPTCP with its peer or has
// fallen back to TCP (an MPTCP client of a plain TCP server), is
// refused: its data sequence numbers, keys, subflows and MPTCP-level
// queues have no repair mode in the kernel (TCP_REPAIR gives
// ENOPROTOOPT on it, fallen back or not) and no image field.

// inetSocket records a TCP, UDP or MPTCP socket.
func (d *dumper) inetSocket(t *taskDump, f *fdFile, id, flags uint32, fown *images.FownEntry, theirs *os.File) error {
	fd := int(theirs.Fd())
	ino := uint32(f.fs.st.Ino)
	var so [3]int
	for i, opt := range []int{unix.SO_DOMAIN, unix.SO_TYPE, unix.SO_PROTOCOL} {
		v, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, opt)
		if err != nil {
			return fmt.Errorf("inet socket %d: get socket option %d: %w", ino, opt, err)
		}
		so[i] = v
	}
	family, typ, proto := so[0], so[1], so[2]
	switch {
	case typ == unix.SOCK_STREAM && (proto == unix.IPPROTO_TCP || proto == unix.IPPROTO_MPTCP):
	case typ == unix.SOCK_DGRAM && (proto == unix.IPPROTO_UDP || proto == unix.IPPROTO_UDPLITE):
	case rawOrPing(family, typ, proto):
	default:
		return fmt.Errorf("inet socket %d of type %d, protocol %d: %w", ino, typ, proto, ErrNotSupported)
	}
	n, err := d.netOf(fd)
	if err != nil {
		return err
	}
	var m map[uint32]*sockdiag.InetSock
	// Raw and ping sockets are not asked for: inet_diag lists raw ones
	// only with CONFIG_INET_RAW_DIAG and ping ones never, and what it
	// would tell (addresses) the fd tells as well.
	if !rawOrPing(family, typ, proto) {
		if m, err = n.inetSocks(uint8(family), uint16(proto)); err != nil {
			return err
		}
	}
	sk := m[ino]
	var nsID *uint32
	if sk != nil {
		nsID = ptr(n.id)
	} else if sk, err = unlistedSocket(fd, family, proto); err != nil {
		return fmt.Errorf("inet socket %d: %w", ino, err)
	}
	sk.Ino = ino
	if err := d.canDumpInet(fd, sk, typ, proto); err != nil {
		return fmt.Errorf("inet socket %d: %w", ino, err)
	}

	ie := &images.InetSkEntry{
		Id:      ptr(id),
		Ino:     ptr(ino),
		Family:  ptr(uint32(family)),
		Type:    ptr(uint32(typ)),
		Proto:   ptr(uint32(proto)),
		State:   ptr(uint32(sk.State)),
		SrcPort: ptr(uint32(sk.Src.Port())),
		DstPort: ptr(uint32(sk.Dst.Port())),
		Flags:   ptr(flags),
		Backlog: ptr(sk.WQueue),
		SrcAddr: addrWords(sk.Src.Addr(), family),
		DstAddr: addrWords(sk.Dst.Addr(), family),
		Fown:    fown,
		NsId:    nsID,
		TcpOpts: &images.TcpOptsEntry{},
	}
	if family == unix.AF_INET6 {
		v6only, err := unix.GetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY)
		if err != nil {
			return fmt.Errorf("inet socket %d: get IPV6_V6ONLY: %w", ino, err)
		}
		ie.V6Only = ptr(v6only != 0)
		if sk.Src.Port() != 0 && (sk.Src.Addr().IsLinkLocalUnicast() || sk.Src.Addr().IsLinkLocalMulticast()) {
			dev, err := unix.GetsockoptString(fd, unix.SOL_SOCKET, unix.SO_BINDTODEVICE)
			if err != nil || dev == "" {
				return fmt.Errorf("inet socket %d: bound to link-local %v without a device (%v): %w", ino, sk.Src, err, ErrNotSupported)
			}
			ie.Ifname = ptr(dev)
		}
	}
	if ie.IpOpts, err = ipOpts(fd, family, typ, proto); err != nil {
		return fmt.Errorf("inet socket %d: %w", ino, err)
	}
	if ie.Opts, err = skOpts(fd, family); err != nil {
		return fmt.Errorf("inet socket %d: %w", ino, err)
	}
	if proto == unix.IPPROTO_TCP || proto == unix.IPPROTO_MPTCP {
		if ie.TcpOpts, err = tcpOpts(fd); err != nil {
			return fmt.Errorf("inet socket %d: %w", ino, err)
		}
	}
	ie.Shutdown = shutdownOf(sk.Shutdown)
	if proto == unix.IPPROTO_TCP && tcpRepairable(sk) && !d.socks.tcpClose {
		if err := d.lockConn(sk.Src, sk.Dst); err != nil {
			return fmt.Errorf("inet socket %d: %w", ino, err)
		}
		st, err := d.tcpStream(fd, ino)
		if err != nil {
			return fmt.Errorf("inet socket %d: %w", ino, err)
		}
		// The frozen tree's connection still takes its peer's FIN:
		// what the stream was read in is its state (as CRIU's).
		ie.State = ptr(uint32(st))
	}
	d.addFile(&images.FileEntry{Type: images.FdTypes_INETSK.Enum(), Id: ptr(id), Isk: ie})
	return nil
}

// rawOrPing tells raw IP sockets (any protocol) and ICMP echo ("ping")
// datagram sockets, which CRIU keeps in inet_sk_entry too. As CRIU, a
// raw socket is recorded with the address it is bound to (its "port" is
// its protocol) and a ping socket with its address and echo identifier
// (its port); a connect(2) on either leaves no trace getpeername shows
// (the kernel gives ENOTCONN: the destination port stays 0), so it is
// not kept, nor are the datagrams queued to be read.
func rawOrPing(family, typ, proto int) bool {
	return typ == unix.SOCK_RAW ||
		typ == unix.SOCK_DGRAM && (family == unix.AF_INET && proto == unix.IPPROTO_ICMP || family == unix.AF_INET6 && proto == unix.IPPROTO_ICMPV6)
}

// canDumpInet refuses what the image cannot hold, as CRIU does.
func (d *dumper) canDumpInet(fd int, sk *sockdiag.InetSock, typ, proto int) error {
	if rawOrPing(int(sk.Family), typ, proto) {
		return nil
	}
	if proto == unix.IPPROTO_MPTCP {
		return canDumpMPTCP(fd, sk)
	}
	if proto != unix.IPPROTO_TCP {
		// UDP-Lite takes UDP's options at its own level.
		cork, err := unix.GetsockoptInt(fd, proto, unix.UDP_CORK)
		if err != nil {
			return fmt.Errorf("get UDP_CORK: %w", err)
		}
		if cork != 0 {
			return fmt.Errorf("corked UDP socket: %w", ErrNotSupported)
		}
		return nil
	}
	switch sk.State {
	case tcpClose:
	case tcpListen:
		// The connections waiting are the kernel's, with no file: with
		// --skip-in-flight they are left out, and the restored
		// listener has none (CRIU's restore has none either way).
		if sk.RQueue != 0 && !d.socks.skipInFlight {
			return fmt.Errorf("listening socket %v with %d connections not accepted yet (--skip-in-flight drops them): %w", sk.Src, sk.RQueue, ErrNotSupported)
		}
	case tcpEstablished, tcpFinWait1, tcpFinWait2, tcpCloseWait, tcpLastAck, tcpClosing:
		// Established or closing: through TCP repair (soccr), closing
		// states replayed at restore, as CRIU does.
		if !d.socks.tcpEstablished && !d.socks.tcpClose {
			return fmt.Errorf("TCP connection %v -> %v in state %s (consider --tcp-established): %w", sk.Src, sk.Dst, tcpStateName(sk.State), ErrNotSupported)
		}
	case tcpSynSent:
		// With --tcp-close a connection in any state is restored
		// closed: its state needs no repair.
		if !d.socks.tcpClose {
			return fmt.Errorf("TCP connection %v -> %v in state %s (--tcp-close restores it closed): %w", sk.Src, sk.Dst, tcpStateName(sk.State), ErrNotSupported)
		}
	default:
		return fmt.Errorf("TCP socket in state %s: %w", tcpStateName(sk.State), ErrNotSupported)
	}
	return nil
}

// tcpRepairable says whether a TCP socket's connection is read through
// TCP repair into a tcp-stream image: established or closing, or closed
// (TCP_CLOSE) with a peer still named, whose unread data and end of file
// CRIU keeps that way too, with or without --tcp-established.
func tcpRepairable(sk *sockdiag.InetSock) bool {
	switch sk.State {
	case tcpEstablished, tcpFinWait1, tcpFinWait2, tcpCloseWait, tcpLastAck, tcpClosing:
		return true
	case tcpClose:
		return sk.Dst.Port() != 0
	}
	return false
}

// tcpStateName names a TCP state as the kernel does.
func tcpStateName(st uint8) string { return soccr.StateName(st) }

// unlistedSocket describes a socket sock_diag does not list (an unbound
// UDP socket, a TCP socket neither listening nor connected) from the fd,
// as CRIU does: addresses from getsockname and getpeername, and for TCP
// the state, backlog and shutdown from TCP_INFO and poll.
func unlistedSocket(fd, family, proto int) (*sockdiag.InetSock, error) {
	sk := &sockdiag.InetSock{Family: uint8(family), Protocol: uint16(proto), State: tcpClose}
	zero := netip.IPv4Unspecified()
	if family == unix.AF_INET6 {
		zero = netip.IPv6Unspecified()
	}
	sk.Src, sk.Dst = netip.AddrPortFrom(zero, 0), netip.AddrPortFrom(zero, 0)
	if sa, err := unix.Getsockname(fd); err == nil {
		sk.Src = sockaddrPort(sa, zero)
	} else {
		return nil, fmt.Errorf("get socket name: %w", err)
	}
	if proto != unix.IPPROTO_TCP && proto != unix.IPPROTO_MPTCP {
		if sa, err := unix.Getpeername(fd); err == nil {
			sk.Dst = sockaddrPort(sa, zero)
		} else if !errors.Is(err, unix.ENOTCONN) {
			return nil, fmt.Errorf("get peer name: %w", err)
		}
		return sk, nil
	}
	// A TCP connection closed both ways (its other half in TIME_WAIT, or
	// gone after LAST_ACK) is no longer hashed, so sock_diag does not
	// list it, and getpeername says ENOTCONN; SO_PEERNAME still names
	// the peer, as CRIU reads it.
	if dst, err := soccr.PeerName(fd); err == nil {
		sk.Dst = dst
	} else if !errors.Is(err, unix.ENOTCONN) {
		return nil, fmt.Errorf("get SO_PEERNAME: %w", err)
	}
	var info [8]byte
	if _, err := getsockoptRaw(fd, unix.IPPROTO_TCP, unix.TCP_INFO, info[:], uint32(len(info))); err != nil {
		return nil, fmt.Errorf("get TCP_INFO: %w", err)
	}
	if info[0] != tcpClose {
		return nil, fmt.Errorf("TCP socket in state %d not listed by sock_diag: %w", info[0], ErrKernel)
	}
	sk.WQueue = uint32(info[4]) // tcpi_backoff, which CRIU takes as the backlog
	pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLRDHUP | unix.POLLHUP}}
	if _, err := unix.Poll(pfd, 0); err != nil {
		return nil, fmt.Errorf("poll socket: %w", err)
	}
	if pfd[0].Revents&unix.POLLHUP != 0 && pfd[0].Revents&unix.POLLRDHUP != 0 {
		sk.Shutdown = 1 // RCV_SHUTDOWN
	}
	return sk, nil
}

func sockaddrPort(sa unix.Sockaddr, zero netip.Addr) netip.AddrPort {
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4(a.Addr), uint16(a.Port))
	case *unix.SockaddrInet6:
		return netip.AddrPortFrom(netip.AddrFrom16(a.Addr), uint16(a.Port))
	}
	return netip.AddrPortFrom(zero, 0)
}

// addrWords stores an address as CRIU does: the network-order bytes read
// as little-endian 32-bit words, one word for AF_INET, four for AF_INET6.
func addrWords(a netip.Addr, family int) []uint32 {
	var b []byte
	if family == unix.AF_INET6 {
		s := a.As16()
		b = s[:]
	} else {
		s := a.Unmap().As4()
		b = s[:]
	}
	w := make([]uint32, len(b)/4)
	for i := range w {
		w[i] = binary.LittleEndian.Uint32(b[4*i:])
	}
	return w
}

// ipOpts reads the IP-level options: IP_FREEBIND and the packet info
// flag when set, and for AF_INET the TOS when set and the TTL. An MPTCP
// socket has no packet info and no TTL (EOPNOTSUPP): only IP_FREEBIND
// and IP_TOS. A raw socket has also IP_HDRINCL (IPV6_HDRINCL), for
// AF_INET IP_NODEFRAG, and for ICMP its filter (ip_opts_raw_entry).
func ipOpts(fd, family, typ, proto int) (*images.IpOptsEntry, error) {
	o := &images.IpOptsEntry{}
	get := func(level, opt int) (int, error) {
		v, err := unix.GetsockoptInt(fd, level, opt)
		if err != nil {
			return 0, fmt.Errorf("get IP option %d:%d: %w", level, opt, err)
		}
		return v, nil
	}
	// A raw IPv6 socket takes no IPv4-level options (ENOPROTOOPT).
	fbLevel, fbOpt := freebindOpt(family, typ)
	v, err := get(fbLevel, fbOpt)
	if err != nil {
		return nil, err
	}
	if v != 0 {
		o.Freebind = ptr(true)
	}
	if proto == unix.IPPROTO_MPTCP {
		if family == unix.AF_INET {
			if v, err = get(unix.IPPROTO_IP, unix.IP_TOS); err != nil {
				return nil, err
			}
			if v != 0 {
				o.Tos = ptr(uint32(v))
			}
		}
		return o, nil
	}
	level, opt := unix.IPPROTO_IP, unix.IP_PKTINFO
	if family == unix.AF_INET6 {
		level, opt = unix.IPPROTO_IPV6, unix.IPV6_RECVPKTINFO
	}
	if v, err = get(level, opt); err != nil {
		return nil, err
	}
	if v != 0 {
		o.Pktinfo = ptr(true)
	}
	if typ == unix.SOCK_RAW {
		if o.Raw, err = rawOpts(fd, family, proto); err != nil {
			return nil, err
		}
	}
	if family != unix.AF_INET {
		return o, nil
	}
	if v, err = get(unix.IPPROTO_IP, unix.IP_TOS); err != nil {
		return nil, err
	}
	if v != 0 {
		o.Tos = ptr(uint32(v))
	}
	if v, err = get(unix.IPPROTO_IP, unix.IP_TTL); err != nil {
		return nil, err
	}
	o.Ttl = ptr(uint32(v))
	return o, nil
}

// freebindOpt is the option that sets IP_FREEBIND on a socket: for a raw
// IPv6 socket IPV6_FREEBIND (the same flag), which takes no IPv4-level
// options.
func freebindOpt(family, typ int) (level, opt int) {
	if family == unix.AF_INET6 && typ == unix.SOCK_RAW {
		return unix.IPPROTO_IPV6, unix.IPV6_FREEBIND
	}
	return unix.IPPROTO_IP, unix.IP_FREEBIND
}

// ICMP filters of raw sockets: struct icmp_filter (one word, a bit for
// each ICMP type to drop) and struct icmp6_filter (eight words).
const (
	solRaw        = 255 // SOL_RAW
	icmpFilter    = 1   // ICMP_FILTER
	icmpv6Filter  = 1   // ICMPV6_FILTER
	icmpFilterW   = 1
	icmpv6FilterW = 8
)

// rawOpts reads what CRIU keeps of a raw socket: IP_HDRINCL (or
// IPV6_HDRINCL) and IP_NODEFRAG when set, the ICMP filter of an ICMP one.
func rawOpts(fd, family, proto int) (*images.IpOptsRawEntry, error) {
	r := &images.IpOptsRawEntry{}
	level, hdrincl := unix.IPPROTO_IP, unix.IP_HDRINCL
	if family == unix.AF_INET6 {
		level, hdrincl = unix.IPPROTO_IPV6, unix.IPV6_HDRINCL
	}
	v, err := unix.GetsockoptInt(fd, level, hdrincl)
	if err != nil {
		return nil, fmt.Errorf("get IP_HDRINCL: %w", err)
	}
	if v != 0 {
		r.Hdrincl = ptr(true)
	}
	if family == unix.AF_INET {
		if v, err = unix.GetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_NODEFRAG); err != nil {
			return nil, fmt.Errorf("get IP_NODEFRAG: %w", err)
		}
		if v != 0 {
			r.Nodefrag = ptr(true)
		}
	}
	words, flevel, fopt := 0, 0, 0
	switch {
	case family == unix.AF_INET && proto == unix.IPPROTO_ICMP:
		words, flevel, fopt = icmpFilterW, solRaw, icmpFilter
	case family == unix.AF_INET6 && proto == unix.IPPROTO_ICMPV6:
		words, flevel, fopt = icmpv6FilterW, unix.IPPROTO_ICMPV6, icmpv6Filter
	default:
		return r, nil
	}
	b := make([]byte, 4*words)
	n, err := getsockoptRaw(fd, flevel, fopt, b, uint32(len(b)))
	if err != nil {
		return nil, fmt.Errorf("get ICMP filter: %w", err)
	}
	if n != uint32(len(b)) {
		return nil, fmt.Errorf("ICMP filter of %d bytes: %w", n, ErrKernel)
	}
	for i := 0; i < words; i++ {
		r.IcmpvFilter = append(r.IcmpvFilter, binary.NativeEndian.Uint32(b[4*i:]))
	}
	return r, nil
}

// tcpOpts reads the TCP options CRIU keeps in inet_sk_entry: cork and
// nodelay when set, the keepalive parameters always.
func tcpOpts(fd int) (*images.TcpOptsEntry, error) {
	var vals [5]int
	for i, opt := range []int{unix.TCP_CORK, unix.TCP_NODELAY, unix.TCP_KEEPCNT, unix.TCP_KEEPIDLE, unix.TCP_KEEPINTVL} {
		v, err := unix.GetsockoptInt(fd, unix.IPPROTO_TCP, opt)
		if err != nil {
			return nil, fmt.Errorf("get TCP option %d: %w", opt, err)
		}
		vals[i] = v
	}
	o := &images.TcpOptsEntry{Keepcnt: ptr(uint32(vals[2])), Keepidle: ptr(uint32(vals[3])), Keepintvl: ptr(uint32(vals[4]))}
	if vals[0] != 0 {
		o.Cork = ptr(true)
	}
	if vals[1] != 0 {
		o.Nodelay = ptr(true)
	}
	return o, nil
}

// tcpStream puts an established or closing connection in repair mode,
// reads its state and queues into tcp-stream-<ino>.img and keeps a copy
// of the socket, which stays in repair mode until the dump ends. It
// returns the TCP state it read the connection in.
func (d *dumper) tcpStream(fd int, ino uint32) (uint8, error) {
	cp, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return 0, fmt.Errorf("copy socket fd: %w", err)
	}
	reuse, err := unix.GetsockoptInt(cp, unix.SOL_SOCKET, unix.SO_REUSEADDR)
	if err != nil {
		unix.Close(cp)
		return 0, fmt.Errorf("get SO_REUSEADDR: %w", err)
	}
	st, err := soccr.Save(cp)
	if err != nil {
		// Save left repair mode again, which cleared SO_REUSEADDR.
		_ = unix.SetsockoptInt(cp, unix.SOL_SOCKET, unix.SO_REUSEADDR, reuse)
		unix.Close(cp)
		if errors.Is(err, soccr.ErrNotEstablished) {
			err = fmt.Errorf("%w: %w", err, ErrNotSupported)
		}
		return 0, err
	}
	d.socks.repaired = append(d.socks.repaired, repairedSock{os.NewFile(uintptr(cp), fmt.Sprintf("tcp socket %d", ino)), reuse})
	_, ts := soccr.ToImages(st, 0, ino)
	img, err := encodeImage(image.TCPStream, image.Entry{Msg: ts, Extra: &image.Extra{InQ: st.InQ, OutQ: st.OutQ}})
	if err != nil {
		return 0, err
	}
	d.out[image.TCPStream.FileName(ino)] = img
	return st.TCPState, nil
}

// repairedSock is our copy of a socket the dump put in repair mode, with
// the SO_REUSEADDR it had (leaving repair mode clears it).
type repairedSock struct {
	f         *os.File
	reuseaddr int
}

// unlockTCP takes every connection the dump put in repair mode out of
// it, with its SO_REUSEADDR as it was: the connections go on. A dump
// that fails does it in its rollback, before the tree thaws.
func (d *dumper) unlockTCP() error {
	var errs []error
	for _, r := range d.socks.repaired {
		fd := int(r.f.Fd())
		if err := soccr.Resume(fd); err != nil {
			errs = append(errs, err)
		} else if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, r.reuseaddr); err != nil {
			errs = append(errs, fmt.Errorf("set SO_REUSEADDR of %s back: %w", r.f.Name(), err))
		}
		r.f.Close()
	}
	d.socks.repaired = nil
	return errors.Join(errs...)
}

// dropTCP closes our copies of the connections in repair mode once the
// tree is killed: the sockets go away still in repair mode, without a
// word to their peers, for a restored copy to take over.
func (d *dumper) dropTCP() {
	for _, r := range d.socks.repaired {
		r.f.Close()
	}
	d.socks.repaired = nil
}

// MPTCP_INFO (linux/mptcp.h): struct mptcp_info, of which the flags
// word at offset 8 is read here.
const (
	mptcpInfo             = 1
	mptcpInfoFlagsOff     = 8
	mptcpInfoFlagFallback = 1 << 0
)

// canDumpMPTCP takes an MPTCP socket listening (with no connection
// waiting) or not connected, and refuses a connected one, saying whether
// it runs MPTCP or has fallen back to TCP.
func canDumpMPTCP(fd int, sk *sockdiag.InetSock) error {
	switch sk.State {
	case tcpClose:
		return nil
	case tcpListen:
		if sk.RQueue != 0 {
			return fmt.Errorf("MPTCP listener with %d connections not accepted yet: %w", sk.RQueue, ErrNotSupported)
		}
		return nil
	}
	what := "MPTCP connection"
	var info [mptcpInfoFlagsOff + 4]byte
	n, err := getsockoptRaw(fd, unix.SOL_MPTCP, mptcpInfo, info[:], uint32(len(info)))
	switch {
	case errors.Is(err, unix.EOPNOTSUPP):
		// What the kernel answers for a socket fallen back to TCP.
		what = "MPTCP connection fallen back to TCP"
	case err == nil && n >= uint32(len(info)):
		if binary.NativeEndian.Uint32(info[mptcpInfoFlagsOff:])&mptcpInfoFlagFallback != 0 {
			what = "MPTCP connection fallen back to TCP"
		} else {
			what = fmt.Sprintf("MPTCP connection with %d extra subflows", info[0])
		}
	}
	return fmt.Errorf("%s %v -> %v in state %d (the kernel has no repair mode for MPTCP): %w", what, sk.Src, sk.Dst, sk.State, ErrNotSupported)
}
