package restore

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"os"

	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/proto"

	"github.com/criugo/criugo/images"
	"github.com/criugo/criugo/pkg/image"
	"github.com/criugo/criugo/pkg/soccr"
)

// TCP connections leave repair mode at the last stage of finish.
func init() {
	registerFileKind(images.FdTypes_INETSK, &fileKind{
		check:  (*fileObjs).checkInetSk,
		open:   (*fileObjs).inetDesc,
		fown:   func(e *images.FileEntry) *images.FownEntry { return e.GetIsk().GetFown() },
		finish: (*fileObjs).finishInetSockets,
		stage:  finishLive,
	})
}

// Inet sockets (TCP and UDP over IPv4 and IPv6) are made by criu-restore
// and handed over like any file:
//
//	TCP, listening     bind, listen with the saved backlog
//	TCP, established   TCP repair (the state of pkg/soccr, from the
//	  or closing       socket's tcp-stream-<ino>.img): bound and
//	                   "connected" without a handshake, both queues
//	                   refilled; it stays in repair mode, frozen, until
//	                   the tree is about to run (finishInetSockets), so
//	                   that nothing goes out before every end of a
//	                   connection exists again; then a closing one
//	                   (FIN_WAIT1/2, CLOSE_WAIT, LAST_ACK, CLOSING, or
//	                   closed with its peer named) has its FINs replayed,
//	                   through raw sockets of its network namespace
//	TCP, with a peer   with Options.TCPClose (CRIU's --tcp-close), in
//	                   whatever state: a socket neither bound nor
//	                   connected, shut down both ways
//	TCP, not connected bind if it was bound
//	MPTCP              listening or not connected, as TCP: socket(...,
//	                   IPPROTO_MPTCP), bind, listen
//	UDP, UDP-Lite      bind if bound, connect if connected
//
// Every socket is made with SO_REUSEADDR and SO_REUSEPORT, as CRIU does,
// since sockets of the tree may share a port (a listener and the
// connections it accepted); the saved values are put back at the end.
// Other TCP states (connecting), connected MPTCP sockets (the
// kernel cannot repair them, and a dump refuses them) and raw sockets are
// refused; UDP-Lite is made as UDP is. The connections an MPTCP listener accepted from
// plain TCP clients are TCP sockets in the image, as in the kernel.

// inetSk is an inet socket made by criu-restore.
type inetSk struct {
	file *os.File
	e    *images.InetSkEntry
	// tcp is the state of an established connection, in repair mode
	// until finishInetSockets.
	tcp *soccr.State
	// repaired: made through TCP repair, whose end forgets SO_REUSEADDR.
	repaired bool
}

// inetSks are the inet sockets made so far.
type inetSks []*inetSk

// checkInetSk refuses an inet socket entry criu-restore cannot make.
func (f *fileObjs) checkInetSk(e *images.FileEntry) error {
	ie := e.GetIsk()
	if ie == nil {
		return fmt.Errorf("file id %d: INETSK without inet socket entry: %w", e.GetId(), ErrBadImage)
	}
	name := fmt.Sprintf("inet socket %d (inode %d)", ie.GetId(), ie.GetIno())
	switch ie.GetFamily() {
	case unix.AF_INET, unix.AF_INET6:
	default:
		return fmt.Errorf("%s: family %d: %w", name, ie.GetFamily(), ErrNotSupported)
	}
	switch {
	case ie.GetType() == unix.SOCK_STREAM && ie.GetProto() == unix.IPPROTO_TCP:
		switch {
		case ie.GetState() == tcpListen, ie.GetState() == tcpClose && ie.GetDstPort() == 0:
		case f.r.opts.TCPClose && tcpConnection(ie):
			// Restored closed, whatever its state.
		case tcpRepaired(ie):
			if _, err := f.r.set.get(tcpStreamName(ie.GetIno())); err != nil {
				return fmt.Errorf("%s: connection in state %s: %w", name, soccr.StateName(uint8(ie.GetState())), err)
			}
		default:
			return fmt.Errorf("%s: TCP state %d: %w", name, ie.GetState(), ErrNotSupported)
		}
	case ie.GetType() == unix.SOCK_STREAM && ie.GetProto() == unix.IPPROTO_MPTCP:
		if st := ie.GetState(); st != tcpListen && (st != tcpClose || ie.GetDstPort() != 0) {
			return fmt.Errorf("%s: MPTCP state %d (only listening or not connected): %w", name, st, ErrNotSupported)
		}
	case ie.GetType() == unix.SOCK_DGRAM && (ie.GetProto() == unix.IPPROTO_UDP || ie.GetProto() == unix.IPPROTO_UDPLITE):
	case rawOrPing(ie):
	default:
		return fmt.Errorf("%s: type %d protocol %d: %w", name, ie.GetType(), ie.GetProto(), ErrNotSupported)
	}
	if _, err := inetAddr(ie.GetFamily(), ie.GetSrcAddr()); err != nil {
		return fmt.Errorf("%s: source address: %w", name, err)
	}
	if _, err := inetAddr(ie.GetFamily(), ie.GetDstAddr()); err != nil {
		return fmt.Errorf("%s: destination address: %w", name, err)
	}
	if ie.GetSrcPort() > 0xffff || ie.GetDstPort() > 0xffff {
		return fmt.Errorf("%s: port above 65535: %w", name, ErrBadImage)
	}
	if ie.NsId != nil && !f.r.treeNetNs(ie.GetNsId()) {
		return fmt.Errorf("%s: in a network namespace of its own: %w", name, ErrNotSupported)
	}
	return nil
}

func tcpStreamName(ino uint32) string { return image.TCPStream.FileName(ino) }

// tcpRepaired says whether the entry is a TCP connection restored through
// TCP repair from its tcp-stream image: established, closing, or closed
// both ways with its peer named (what CRIU dumps that way).
func tcpRepaired(ie *images.InetSkEntry) bool {
	if ie.GetProto() != unix.IPPROTO_TCP {
		return false
	}
	switch ie.GetState() {
	case soccr.StateEstablished, soccr.StateFinWait1, soccr.StateFinWait2, soccr.StateCloseWait, soccr.StateLastAck, soccr.StateClosing:
		return true
	case soccr.StateClose:
		return ie.GetDstPort() != 0
	}
	return false
}

// tcpConnection says whether the entry is a TCP socket with a peer, as
// CRIU's tcp_connection: what --tcp-close restores closed.
func tcpConnection(ie *images.InetSkEntry) bool {
	return ie.GetProto() == unix.IPPROTO_TCP && ie.GetDstPort() != 0
}

// inetAddr decodes an address as CRIU stores it: the bytes of the
// network-order address read as little-endian u32 words (one for IPv4,
// or four in old images; four for IPv6).
func inetAddr(family uint32, words []uint32) (netip.Addr, error) {
	n := 4
	if family == unix.AF_INET {
		n = 1
	}
	if len(words) < n || family == unix.AF_INET6 && len(words) != n {
		return netip.Addr{}, fmt.Errorf("%d address words: %w", len(words), ErrBadImage)
	}
	b := make([]byte, 0, 16)
	for _, w := range words[:n] {
		b = binary.LittleEndian.AppendUint32(b, w)
	}
	a, _ := netip.AddrFromSlice(b)
	return a, nil
}

func inetSockaddr(family uint32, a netip.Addr, port uint32, ifindex int) unix.Sockaddr {
	if family == unix.AF_INET {
		return &unix.SockaddrInet4{Port: int(port), Addr: a.As4()}
	}
	return &unix.SockaddrInet6{Port: int(port), Addr: a.As16(), ZoneId: uint32(ifindex)}
}

// inetDesc makes the inet socket of file entry e.
func (f *fileObjs) inetDesc(fe *images.FileEntry) (*os.File, error) {
	if err := f.checkInetSk(fe); err != nil {
		return nil, err
	}
	ie := fe.GetIsk()
	fd, err := f.r.netSocket(int(ie.GetFamily()), int(ie.GetType())|unix.SOCK_CLOEXEC, int(ie.GetProto()))
	if err != nil {
		return nil, fmt.Errorf("make inet socket %d: %w", ie.GetId(), err)
	}
	s := &inetSk{e: ie, file: f.keep(os.NewFile(uintptr(fd), fmt.Sprintf("inet socket %d (inode %d)", ie.GetId(), ie.GetIno())))}
	if err := s.make(f); err != nil {
		return nil, fmt.Errorf("restore %s: %w", s.file.Name(), err)
	}
	made := stateOf[inetSks](f, images.FdTypes_INETSK)
	*made = append(*made, s)
	return s.file, nil
}

func (s *inetSk) make(f *fileObjs) error {
	ie := s.e
	fd := int(s.file.Fd())
	if ie.GetV6Only() {
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 1); err != nil {
			return fmt.Errorf("set IPV6_V6ONLY: %w", err)
		}
	}
	for _, opt := range []int{unix.SO_REUSEADDR, unix.SO_REUSEPORT} {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, opt, 1); err != nil {
			return fmt.Errorf("set socket option %d: %w", opt, err)
		}
	}
	switch {
	case f.r.opts.TCPClose && tcpConnection(ie):
		// CRIU's --tcp-close: a fresh socket, neither bound nor
		// connected, shut both ways (which the kernel records even
		// though it answers ENOTCONN): reads give end of file, writes
		// EPIPE, as on a connection closed by its peer.
		if err := unix.Shutdown(fd, unix.SHUT_RDWR); err != nil && err != unix.ENOTCONN {
			return fmt.Errorf("shut down closed connection: %w", err)
		}
	case tcpRepaired(ie):
		if err := s.repair(f); err != nil {
			return err
		}
	default:
		if err := s.bindConnect(); err != nil {
			return err
		}
	}
	if err := s.ipOpts(); err != nil {
		return err
	}
	if err := s.tcpOpts(); err != nil {
		return err
	}
	opts := ie.GetOpts()
	if ie.GetProto() == unix.IPPROTO_MPTCP {
		var err error
		if opts, err = mptcpSockOpts(opts); err != nil {
			return err
		}
	}
	if err := setSockOpts(s.file, opts); err != nil {
		return err
	}
	if how := shutdownHow(ie.GetShutdown()); how >= 0 && s.tcp == nil {
		if err := unix.Shutdown(fd, how); err != nil && err != unix.ENOTCONN {
			return fmt.Errorf("shut down (%v): %w", ie.GetShutdown(), err)
		}
	}
	return setStatusFlags(s.file, int(ie.GetFlags()))
}

// Buffer lock bits of SO_BUF_LOCK (SOCK_SNDBUF_LOCK, SOCK_RCVBUF_LOCK).
const (
	sndbufLock = 1
	rcvbufLock = 2
)

// mptcpSockOpts gives the saved socket options of an MPTCP socket as it
// can take them. Its setsockopt refuses SO_BUF_LOCK and SO_OOBINLINE
// (EOPNOTSUPP, net/mptcp/sockopt.c), and setting a buffer size locks it
// (on the MPTCP socket and its subflows) with no way to unlock: a size
// is put back only if the program had locked it, otherwise the kernel
// goes on tuning it.
func mptcpSockOpts(o *images.SkOptsEntry) (*images.SkOptsEntry, error) {
	if o == nil {
		return nil, nil
	}
	if o.GetSoOobinline() != 0 {
		return nil, fmt.Errorf("SO_OOBINLINE on an MPTCP socket: %w", ErrNotSupported)
	}
	c := proto.CloneOf(o)
	lock := o.GetSoBufLock()
	if lock&sndbufLock == 0 {
		c.SoSndbuf = nil
	}
	if lock&rcvbufLock == 0 {
		c.SoRcvbuf = nil
	}
	c.SoBufLock = nil
	return c, nil
}

// rawOrPing tells a raw IP socket or an ICMP echo ("ping") datagram
// socket. A raw socket is bound to its address (the port, its protocol,
// is not looked at); a ping socket to its address and echo identifier
// (its port), so that replies to requests sent before the dump still
// reach it. (CRIU's restore binds neither: a ping socket gets a new
// identifier when it next sends.)
func rawOrPing(ie *images.InetSkEntry) bool {
	return ie.GetType() == unix.SOCK_RAW || ie.GetType() == unix.SOCK_DGRAM &&
		(ie.GetFamily() == unix.AF_INET && ie.GetProto() == unix.IPPROTO_ICMP || ie.GetFamily() == unix.AF_INET6 && ie.GetProto() == unix.IPPROTO_ICMPV6)
}

// freebindOpt is the option that sets IP_FREEBIND: on a raw IPv6 socket,
// which takes no IPv4-level options, IPV6_FREEBIND (the same flag).
func freebindOpt(ie *images.InetSkEntry) (level, opt int) {
	if ie.GetFamily() == unix.AF_INET6 && ie.GetType() == unix.SOCK_RAW {
		return unix.IPPROTO_IPV6, unix.IPV6_FREEBIND
	}
	return unix.SOL_IP, unix.IP_FREEBIND
}

// bindConnect binds, listens and connects as the socket was.
func (s *inetSk) bindConnect() error {
	ie := s.e
	fd := int(s.file.Fd())
	ifindex := 0
	if name := ie.GetIfname(); name != "" {
		ifi, err := net.InterfaceByName(name)
		if err != nil {
			return fmt.Errorf("find interface %s: %w", name, err)
		}
		ifindex = ifi.Index
	}
	if ie.GetSrcPort() != 0 {
		src, _ := inetAddr(ie.GetFamily(), ie.GetSrcAddr())
		// An IPv6 address may still be tentative: IP_FREEBIND lets the
		// bind through, and is cleared again unless it was set.
		v6 := ie.GetFamily() == unix.AF_INET6
		fbLevel, fbOpt := freebindOpt(ie)
		if v6 {
			if err := unix.SetsockoptInt(fd, fbLevel, fbOpt, 1); err != nil {
				return fmt.Errorf("set IP_FREEBIND: %w", err)
			}
		}
		if err := unix.Bind(fd, inetSockaddr(ie.GetFamily(), src, ie.GetSrcPort(), ifindex)); err != nil {
			return fmt.Errorf("bind to %v: %w", netip.AddrPortFrom(src, uint16(ie.GetSrcPort())), err)
		}
		if v6 && !ie.GetIpOpts().GetFreebind() {
			if err := unix.SetsockoptInt(fd, fbLevel, fbOpt, 0); err != nil {
				return fmt.Errorf("clear IP_FREEBIND: %w", err)
			}
		}
	}
	if ie.GetState() == tcpListen {
		if err := unix.Listen(fd, int(ie.GetBacklog())); err != nil {
			return fmt.Errorf("listen: %w", err)
		}
	}
	if ie.GetDstPort() != 0 {
		dst, _ := inetAddr(ie.GetFamily(), ie.GetDstAddr())
		if err := unix.Connect(fd, inetSockaddr(ie.GetFamily(), dst, ie.GetDstPort(), 0)); err != nil {
			return fmt.Errorf("connect to %v: %w", netip.AddrPortFrom(dst, uint16(ie.GetDstPort())), err)
		}
	}
	return nil
}

// ipOpts sets the saved IP level options.
func (s *inetSk) ipOpts() error {
	o := s.e.GetIpOpts()
	if o == nil {
		return nil
	}
	fd := int(s.file.Fd())
	v6 := s.e.GetFamily() == unix.AF_INET6
	type opt struct {
		name         string
		set          bool
		level, which int
		val          int
	}
	b := func(v bool) int {
		if v {
			return 1
		}
		return 0
	}
	fbLevel, fbOpt := freebindOpt(s.e)
	opts := []opt{
		// An IPv6 socket that was bound has its freebind set already.
		{"IP_FREEBIND", o.Freebind != nil && !(v6 && s.e.GetSrcPort() != 0), fbLevel, fbOpt, b(o.GetFreebind())},
	}
	switch {
	case s.e.GetProto() == unix.IPPROTO_MPTCP:
		// An MPTCP socket has no packet info, TTL, hop limit or traffic
		// class of its own (EOPNOTSUPP for get and set alike, so it has
		// the defaults); for AF_INET it takes IP_TOS.
		if !v6 {
			opts = append(opts, opt{"IP_TOS", o.GetTos() != 0, unix.IPPROTO_IP, unix.IP_TOS, int(o.GetTos())})
		}
	case v6:
		opts = append(opts,
			opt{"IPV6_RECVPKTINFO", o.GetPktinfo(), unix.IPPROTO_IPV6, unix.IPV6_RECVPKTINFO, 1},
			opt{"IPV6_TCLASS", o.GetTos() != 0, unix.IPPROTO_IPV6, unix.IPV6_TCLASS, int(o.GetTos())},
			opt{"IPV6_UNICAST_HOPS", o.Ttl != nil, unix.IPPROTO_IPV6, unix.IPV6_UNICAST_HOPS, int(o.GetTtl())})
	default:
		opts = append(opts,
			opt{"IP_PKTINFO", o.GetPktinfo(), unix.IPPROTO_IP, unix.IP_PKTINFO, 1},
			opt{"IP_TOS", o.GetTos() != 0, unix.IPPROTO_IP, unix.IP_TOS, int(o.GetTos())},
			opt{"IP_TTL", o.Ttl != nil, unix.IPPROTO_IP, unix.IP_TTL, int(o.GetTtl())})
	}
	for _, op := range opts {
		if !op.set {
			continue
		}
		if err := unix.SetsockoptInt(fd, op.level, op.which, op.val); err != nil {
			return fmt.Errorf("set %s to %d: %w", op.name, op.val, err)
		}
	}
	if r := o.GetRaw(); r != nil {
		return s.rawOpts(r)
	}
	return nil
}

// ICMP filters (struct icmp_filter, struct icmp6_filter) and SOL_RAW.
const (
	solRaw       = 255 // SOL_RAW
	icmpFilter   = 1   // ICMP_FILTER
	icmpv6Filter = 1   // ICMPV6_FILTER
)

// rawOpts sets a raw socket's saved options: IP_HDRINCL (IPV6_HDRINCL),
// IP_NODEFRAG and the ICMP filter.
func (s *inetSk) rawOpts(r *images.IpOptsRawEntry) error {
	fd := int(s.file.Fd())
	if s.e.GetType() != unix.SOCK_RAW {
		return fmt.Errorf("raw socket options on a socket of type %d: %w", s.e.GetType(), ErrBadImage)
	}
	v6 := s.e.GetFamily() == unix.AF_INET6
	if r.Hdrincl != nil {
		level, opt := unix.IPPROTO_IP, unix.IP_HDRINCL
		if v6 {
			level, opt = unix.IPPROTO_IPV6, unix.IPV6_HDRINCL
		}
		v := 0
		if r.GetHdrincl() {
			v = 1
		}
		if err := unix.SetsockoptInt(fd, level, opt, v); err != nil {
			return fmt.Errorf("set IP_HDRINCL to %d: %w", v, err)
		}
	}
	if r.Nodefrag != nil && !v6 {
		v := 0
		if r.GetNodefrag() {
			v = 1
		}
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_NODEFRAG, v); err != nil {
			return fmt.Errorf("set IP_NODEFRAG to %d: %w", v, err)
		}
	}
	f := r.GetIcmpvFilter()
	if len(f) == 0 {
		return nil
	}
	level, opt, words := solRaw, icmpFilter, 1
	switch {
	case !v6 && s.e.GetProto() == unix.IPPROTO_ICMP:
	case v6 && s.e.GetProto() == unix.IPPROTO_ICMPV6:
		level, opt, words = unix.IPPROTO_ICMPV6, icmpv6Filter, 8
	default:
		return fmt.Errorf("ICMP filter on a raw socket of protocol %d: %w", s.e.GetProto(), ErrBadImage)
	}
	if len(f) != words {
		return fmt.Errorf("ICMP filter of %d words, not %d: %w", len(f), words, ErrBadImage)
	}
	b := make([]byte, 4*words)
	for i, w := range f {
		binary.NativeEndian.PutUint32(b[4*i:], w)
	}
	if err := unix.SetsockoptString(fd, level, opt, string(b)); err != nil {
		return fmt.Errorf("set ICMP filter: %w", err)
	}
	return nil
}

// tcpOpts sets the saved TCP options (for a repaired connection, nodelay
// and cork are part of its soccr.State, which soccr.FromImages reads from
// tcp_opts, or from the tcp-stream entry of images older than tcp_opts).
func (s *inetSk) tcpOpts() error {
	if p := s.e.GetProto(); p != unix.IPPROTO_TCP && p != unix.IPPROTO_MPTCP {
		return nil
	}
	fd := int(s.file.Fd())
	o := s.e.GetTcpOpts()
	if o == nil {
		o = &images.TcpOptsEntry{}
	}
	so := s.e.GetOpts()
	if so == nil {
		so = &images.SkOptsEntry{}
	}
	keep := []struct {
		name  string
		opt   int
		v, v0 *uint32
	}{
		{"TCP_KEEPCNT", unix.TCP_KEEPCNT, o.Keepcnt, so.TcpKeepcnt},
		{"TCP_KEEPIDLE", unix.TCP_KEEPIDLE, o.Keepidle, so.TcpKeepidle},
		{"TCP_KEEPINTVL", unix.TCP_KEEPINTVL, o.Keepintvl, so.TcpKeepintvl},
	}
	for _, k := range keep {
		v := k.v
		if v == nil {
			v = k.v0 // older images keep them with the socket options
		}
		if v == nil {
			continue
		}
		if err := unix.SetsockoptInt(fd, unix.SOL_TCP, k.opt, int(*v)); err != nil {
			return fmt.Errorf("set %s to %d: %w", k.name, *v, err)
		}
	}
	if s.tcp != nil {
		return nil
	}
	if o.GetNodelay() {
		if err := unix.SetsockoptInt(fd, unix.SOL_TCP, unix.TCP_NODELAY, 1); err != nil {
			return fmt.Errorf("set TCP_NODELAY: %w", err)
		}
	}
	if o.GetCork() {
		if err := unix.SetsockoptInt(fd, unix.SOL_TCP, unix.TCP_CORK, 1); err != nil {
			return fmt.Errorf("set TCP_CORK: %w", err)
		}
	}
	return nil
}

// repair brings back an established connection from its tcp-stream image,
// paused (soccr.RestorePaused): letting it go at once would reset it when
// its peer (another socket of the tree, say) is not back yet. finishTCP
// lets it go once every socket of the tree exists.
func (s *inetSk) repair(f *fileObjs) error {
	name := tcpStreamName(s.e.GetIno())
	img, err := f.r.set.get(name)
	if err != nil {
		return err
	}
	if len(img.Entries) != 1 {
		return fmt.Errorf("read %s: %d entries, want 1: %w", name, len(img.Entries), ErrBadImage)
	}
	ts, ok := img.Entries[0].Msg.(*images.TcpStreamEntry)
	if !ok || img.Entries[0].Extra == nil {
		return fmt.Errorf("read %s: entry is %T: %w", name, img.Entries[0].Msg, ErrBadImage)
	}
	st, err := soccr.FromImages(s.e, ts, img.Entries[0].Extra.InQ, img.Entries[0].Extra.OutQ)
	if err != nil {
		return fmt.Errorf("read %s: %w: %w", name, err, ErrBadImage)
	}
	if err := soccr.RestorePaused(int(s.file.Fd()), st); err != nil {
		return err
	}
	s.tcp = st
	s.repaired = true
	return nil
}

// finishInetSockets lets the repaired connections go and puts back the
// saved SO_REUSEADDR and SO_REUSEPORT of every inet socket. It runs when
// every socket of the tree exists, just before the tree runs.
func (f *fileObjs) finishInetSockets() error {
	for _, s := range *stateOf[inetSks](f, images.FdTypes_INETSK) {
		if s.tcp == nil {
			continue
		}
		if err := s.finishTCP(f); err != nil {
			return fmt.Errorf("restore %s: %w", s.file.Name(), err)
		}
	}
	for _, s := range *stateOf[inetSks](f, images.FdTypes_INETSK) {
		fd := int(s.file.Fd())
		o := s.e.GetOpts()
		for _, r := range []struct {
			name string
			opt  int
			on   bool
		}{
			{"SO_REUSEADDR", unix.SO_REUSEADDR, o.GetReuseaddr()},
			{"SO_REUSEPORT", unix.SO_REUSEPORT, o.GetSoReuseport()},
		} {
			// Leaving repair mode clears SO_REUSEADDR (sk_reuse goes
			// to SK_NO_REUSE): a repaired socket gets its value back
			// either way.
			if r.on && !(s.repaired && r.opt == unix.SO_REUSEADDR) {
				continue
			}
			v := 0
			if r.on {
				v = 1
			}
			if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, r.opt, v); err != nil {
				return fmt.Errorf("restore %s of %s: %w", r.name, s.file.Name(), err)
			}
		}
	}
	return nil
}

// finishTCP takes a repaired connection out of repair mode, sends what
// had never been sent and corks it if it was.
func (s *inetSk) finishTCP(f *fileObjs) error {
	fd := int(s.file.Fd())
	st := s.tcp
	if err := soccr.FinishWith(fd, st, func(family int) (int, error) {
		return f.r.netSocket(family, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_RAW)
	}); err != nil {
		return err
	}
	s.tcp = nil
	if how := shutdownHow(s.e.GetShutdown()); how >= 0 {
		if err := unix.Shutdown(fd, how); err != nil && err != unix.ENOTCONN {
			return fmt.Errorf("shut down (%v): %w", s.e.GetShutdown(), err)
		}
	}
	return nil
}
