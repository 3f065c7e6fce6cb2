package sockdiag

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
)

// Sentinel of this package; an error the kernel answered wraps its errno.
var (
	// ErrMalformed: an answer is shorter than its headers say, or an
	// attribute does not fit its message.
	ErrMalformed = errors.New("malformed sock_diag message")
)

// Netlink and sock_diag constants (linux/netlink.h, linux/sock_diag.h,
// linux/unix_diag.h, linux/inet_diag.h).
const (
	nlmsgHdrLen = 16

	nlmsgError = 2
	nlmsgDone  = 3

	nlmFRequest = 0x1
	nlmFDump    = 0x300

	sockDiagByFamily = 20

	unixDiagReqLen = 24
	unixDiagMsgLen = 16
	inetDiagReqLen = 56
	inetDiagMsgLen = 72

	// unix_diag_req.udiag_show bits.
	udiagShowName     = 0x01
	udiagShowVFS      = 0x02
	udiagShowPeer     = 0x04
	udiagShowIcons    = 0x08
	udiagShowRQLen    = 0x10
	udiagShowAll      = udiagShowName | udiagShowVFS | udiagShowPeer | udiagShowIcons | udiagShowRQLen
	unixDiagName      = 0
	unixDiagVFS       = 1
	unixDiagPeer      = 2
	unixDiagIcons     = 3
	unixDiagRQLen     = 4
	unixDiagShutdown  = 6
	inetDiagShutdown  = 8
	inetDiagReqProto  = 3 // INET_DIAG_REQ_PROTOCOL, a request attribute
	afUnix            = 1
	afInet            = 2
	afInet6           = 10
	maxUnixName       = 108 // sizeof(sun_path)
	maxIcons          = 1 << 16
	maxAnswerMessages = 1 << 20
)

// Message is one netlink message of an answer: its type and payload.
type Message struct {
	Type    uint16
	Payload []byte
}

// ParseMessages splits a buffer received from a netlink socket into its
// messages.
func ParseMessages(b []byte) ([]Message, error) {
	var out []Message
	for len(b) > 0 {
		if len(b) < nlmsgHdrLen {
			return nil, fmt.Errorf("netlink header of %d bytes: %w", len(b), ErrMalformed)
		}
		n := int(binary.NativeEndian.Uint32(b))
		if n < nlmsgHdrLen || n > len(b) {
			return nil, fmt.Errorf("netlink message of %d bytes in %d: %w", n, len(b), ErrMalformed)
		}
		out = append(out, Message{Type: binary.NativeEndian.Uint16(b[4:]), Payload: b[nlmsgHdrLen:n]})
		b = b[min(align4(n), len(b)):]
	}
	return out, nil
}

func align4(n int) int { return (n + 3) &^ 3 }

// attrs splits netlink attributes; later ones of a type replace earlier.
func attrs(b []byte) (map[uint16][]byte, error) {
	m := make(map[uint16][]byte)
	for len(b) >= 4 {
		n := int(binary.NativeEndian.Uint16(b))
		if n < 4 || n > len(b) {
			return nil, fmt.Errorf("attribute of %d bytes in %d: %w", n, len(b), ErrMalformed)
		}
		m[binary.NativeEndian.Uint16(b[2:])&0x3fff] = b[4:n]
		b = b[min(align4(n), len(b)):]
	}
	return m, nil
}

// errorOf reads the errno of an NLMSG_ERROR payload (0 for an ack).
func errorOf(p []byte) (int32, error) {
	if len(p) < 4 {
		return 0, fmt.Errorf("netlink error of %d bytes: %w", len(p), ErrMalformed)
	}
	return int32(binary.NativeEndian.Uint32(p)), nil
}

// UnixSock is what the kernel tells of a unix socket.
type UnixSock struct {
	Ino   uint32
	Type  uint8 // SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET
	State uint8 // TCP_ESTABLISHED, TCP_CLOSE or TCP_LISTEN
	// Name is the bound address as the kernel keeps it: nil when not
	// bound; an abstract name starts with a 0 byte; a path name ends with
	// its terminating 0 byte.
	Name []byte
	// VFSIno, VFSDev: the socket file of a path name (kernel dev_t).
	VFSIno, VFSDev uint32
	// Peer is the inode of the other end: of the socket connected to,
	// or of the accepted socket; 0 when none (or not accepted yet).
	Peer uint32
	// Icons are, for a listening socket, the peers of the connections
	// waiting to be accepted (the connecting sockets' inodes).
	Icons []uint32
	// RQueue, WQueue: for a listening socket the number of connections
	// waiting and the backlog; for others the bytes queued to read and
	// to send.
	RQueue, WQueue uint32
	Shutdown       uint8 // RCV_SHUTDOWN 1 | SEND_SHUTDOWN 2
}

// ParseUnix parses the payload of one answer to a unix socket request.
func ParseUnix(p []byte) (*UnixSock, error) {
	if len(p) < unixDiagMsgLen {
		return nil, fmt.Errorf("unix_diag_msg of %d bytes: %w", len(p), ErrMalformed)
	}
	s := &UnixSock{Type: p[1], State: p[2], Ino: binary.NativeEndian.Uint32(p[4:])}
	m, err := attrs(p[unixDiagMsgLen:])
	if err != nil {
		return nil, fmt.Errorf("unix socket %d: %w", s.Ino, err)
	}
	bad := func(what string, v []byte) error {
		return fmt.Errorf("unix socket %d: %s of %d bytes: %w", s.Ino, what, len(v), ErrMalformed)
	}
	if v, ok := m[unixDiagName]; ok {
		if len(v) > maxUnixName {
			return nil, bad("name", v)
		}
		s.Name = append([]byte{}, v...)
	}
	if v, ok := m[unixDiagVFS]; ok {
		if len(v) < 8 {
			return nil, bad("vfs", v)
		}
		s.VFSIno, s.VFSDev = binary.NativeEndian.Uint32(v), binary.NativeEndian.Uint32(v[4:])
	}
	if v, ok := m[unixDiagPeer]; ok {
		if len(v) < 4 {
			return nil, bad("peer", v)
		}
		s.Peer = binary.NativeEndian.Uint32(v)
	}
	if v, ok := m[unixDiagIcons]; ok {
		if len(v)%4 != 0 || len(v)/4 > maxIcons {
			return nil, bad("icons", v)
		}
		for i := 0; i < len(v); i += 4 {
			s.Icons = append(s.Icons, binary.NativeEndian.Uint32(v[i:]))
		}
	}
	if v, ok := m[unixDiagRQLen]; ok {
		if len(v) < 8 {
			return nil, bad("rqlen", v)
		}
		s.RQueue, s.WQueue = binary.NativeEndian.Uint32(v), binary.NativeEndian.Uint32(v[4:])
	}
	if v, ok := m[unixDiagShutdown]; ok {
		if len(v) < 1 {
			return nil, bad("shutdown", v)
		}
		s.Shutdown = v[0]
	}
	return s, nil
}

// InetSock is what the kernel tells of a TCP or UDP socket.
type InetSock struct {
	Family   uint8  // AF_INET or AF_INET6
	Protocol uint16 // the protocol asked for: IPPROTO_TCP, IPPROTO_UDP, IPPROTO_MPTCP
	State    uint8  // TCP_* state (UDP: TCP_ESTABLISHED when connected, else TCP_CLOSE)
	Ino      uint32
	Src, Dst netip.AddrPort
	// RQueue, WQueue: for a listening socket the connections waiting
	// and the backlog; for others the bytes queued.
	RQueue, WQueue uint32
	Shutdown       uint8
}

// ParseInet parses the payload of one answer to an inet socket request
// made for protocol.
func ParseInet(p []byte, protocol uint16) (*InetSock, error) {
	if len(p) < inetDiagMsgLen {
		return nil, fmt.Errorf("inet_diag_msg of %d bytes: %w", len(p), ErrMalformed)
	}
	s := &InetSock{Family: p[0], State: p[1], Protocol: protocol}
	sport, dport := binary.BigEndian.Uint16(p[4:]), binary.BigEndian.Uint16(p[6:])
	var src, dst netip.Addr
	switch s.Family {
	case afInet:
		src, dst = netip.AddrFrom4([4]byte(p[8:12])), netip.AddrFrom4([4]byte(p[24:28]))
	case afInet6:
		src, dst = netip.AddrFrom16([16]byte(p[8:24])), netip.AddrFrom16([16]byte(p[24:40]))
	default:
		return nil, fmt.Errorf("inet socket of family %d: %w", s.Family, ErrMalformed)
	}
	s.Src, s.Dst = netip.AddrPortFrom(src, sport), netip.AddrPortFrom(dst, dport)
	s.RQueue = binary.NativeEndian.Uint32(p[56:])
	s.WQueue = binary.NativeEndian.Uint32(p[60:])
	s.Ino = binary.NativeEndian.Uint32(p[68:])
	m, err := attrs(p[inetDiagMsgLen:])
	if err != nil {
		return nil, fmt.Errorf("inet socket %d: %w", s.Ino, err)
	}
	if v, ok := m[inetDiagShutdown]; ok && len(v) >= 1 {
		s.Shutdown = v[0]
	}
	return s, nil
}

// header builds a netlink header for a request of n payload bytes.
func header(n int, flags uint16, seq uint32) []byte {
	b := make([]byte, nlmsgHdrLen, nlmsgHdrLen+n)
	binary.NativeEndian.PutUint32(b, uint32(nlmsgHdrLen+n))
	binary.NativeEndian.PutUint16(b[4:], sockDiagByFamily)
	binary.NativeEndian.PutUint16(b[6:], flags)
	binary.NativeEndian.PutUint32(b[8:], seq)
	return b
}

// unixRequest asks for every unix socket with everything shown.
func unixRequest(seq uint32) []byte {
	b := header(unixDiagReqLen, nlmFRequest|nlmFDump, seq)
	r := make([]byte, unixDiagReqLen)
	r[0] = afUnix
	binary.NativeEndian.PutUint32(r[4:], ^uint32(0)) // all states
	binary.NativeEndian.PutUint32(r[12:], udiagShowAll)
	// An exact lookup would check the cookie; a dump ignores it.
	binary.NativeEndian.PutUint32(r[16:], ^uint32(0))
	binary.NativeEndian.PutUint32(r[20:], ^uint32(0))
	return append(b, r...)
}

// inetRequest asks for every socket of family and protocol in states
// (a bit mask of 1<<TCP_*). A protocol above 255 (IPPROTO_MPTCP) does
// not fit sdiag_protocol: the request carries it in an
// INET_DIAG_REQ_PROTOCOL attribute, which the kernel reads instead.
//
//	| nlmsghdr | inet_diag_req_v2 (protocol 0) | len 8 | type 3 | protocol u32 |
func inetRequest(seq uint32, family uint8, protocol uint16, states uint32) []byte {
	n := inetDiagReqLen
	if protocol > 0xff {
		n += 8
	}
	b := header(n, nlmFRequest|nlmFDump, seq)
	r := make([]byte, n)
	r[0] = family
	binary.NativeEndian.PutUint32(r[4:], states)
	binary.NativeEndian.PutUint32(r[48:], ^uint32(0)) // no cookie
	binary.NativeEndian.PutUint32(r[52:], ^uint32(0))
	if protocol > 0xff {
		binary.NativeEndian.PutUint16(r[56:], 8)
		binary.NativeEndian.PutUint16(r[58:], inetDiagReqProto)
		binary.NativeEndian.PutUint32(r[60:], uint32(protocol))
	} else {
		r[1] = uint8(protocol)
	}
	return append(b, r...)
}
