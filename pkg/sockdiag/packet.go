package sockdiag

import (
	"encoding/binary"
	"fmt"
)

// Packet sockets (linux/packet_diag.h):
//
//	packet_diag_req: | family u8 | protocol u8 | pad u16 | ino u32 | show u32 | cookie 2*u32 |
//	packet_diag_msg: | family u8 | type u8 | num u16 | ino u32 | cookie 2*u32 |
//	PACKET_DIAG_INFO:   | ifindex u32 | version u32 | reserve u32 | copy_thresh u32 | tstamp u32 | flags u32 |
//	PACKET_DIAG_MCLIST: | ifindex u32 | count u32 | type u16 | alen u16 | addr [32] |  repeated
//	PACKET_DIAG_RX_RING, _TX_RING: | block_size | block_nr | frame_size | frame_nr | retire_tmo | sizeof_priv | features |  u32 each
//	PACKET_DIAG_FANOUT: | id u16 | type and flags u16 |  (PACKET_FANOUT's getsockopt value)
const (
	afPacket          = 17
	packetDiagReqLen  = 20
	packetDiagMsgLen  = 16
	packetShowInfo    = 0x01
	packetShowMclist  = 0x02
	packetShowRingCfg = 0x04
	packetShowFanout  = 0x08
	packetDiagInfo    = 0
	packetDiagMclist  = 1
	packetDiagRxRing  = 2
	packetDiagTxRing  = 3
	packetDiagFanout  = 4
	packetInfoLen     = 24
	packetMclistLen   = 44
	packetRingLen     = 28
	maxAddrLen        = 32 // MAX_ADDR_LEN
)

// Flags of PacketSock.Flags (PDI_*).
const (
	PacketRunning = 0x1
	PacketAuxData = 0x2
	PacketOrigDev = 0x4
	PacketVnetHdr = 0x8
	PacketLoss    = 0x10
)

// PacketMc is one multicast membership of a packet socket.
type PacketMc struct {
	Ifindex, Count uint32
	Type           uint16 // PACKET_MR_*
	Addr           []byte
}

// PacketRing is the setup of a packet socket's mmap-ed ring.
type PacketRing struct {
	BlockSize, BlockNr, FrameSize, FrameNr, RetireTmo, SizeofPriv, Features uint32
}

// PacketSock is what the kernel tells of an AF_PACKET socket.
type PacketSock struct {
	Ino  uint32
	Type uint8  // SOCK_RAW, SOCK_DGRAM, SOCK_PACKET
	Num  uint16 // the protocol, in host order (the kernel's ntohs(po->num))
	// From PACKET_DIAG_INFO.
	Ifindex, Version, Reserve, CopyThresh, Tstamp, Flags uint32
	Mclist                                               []PacketMc
	RxRing, TxRing                                       *PacketRing
	// Fanout is PACKET_FANOUT's value, or HasFanout false when the socket
	// is in no fanout group.
	Fanout    uint32
	HasFanout bool
}

// ParsePacket parses the payload of one answer to a packet socket request.
func ParsePacket(p []byte) (*PacketSock, error) {
	if len(p) < packetDiagMsgLen {
		return nil, fmt.Errorf("packet_diag_msg of %d bytes: %w", len(p), ErrMalformed)
	}
	s := &PacketSock{Type: p[1], Num: binary.NativeEndian.Uint16(p[2:]), Ino: binary.NativeEndian.Uint32(p[4:])}
	m, err := attrs(p[packetDiagMsgLen:])
	if err != nil {
		return nil, fmt.Errorf("packet socket %d: %w", s.Ino, err)
	}
	bad := func(what string, v []byte) error {
		return fmt.Errorf("packet socket %d: %s of %d bytes: %w", s.Ino, what, len(v), ErrMalformed)
	}
	u32 := func(b []byte, i int) uint32 { return binary.NativeEndian.Uint32(b[4*i:]) }
	v, ok := m[packetDiagInfo]
	if !ok || len(v) < packetInfoLen {
		return nil, bad("info", v)
	}
	s.Ifindex, s.Version, s.Reserve, s.CopyThresh, s.Tstamp, s.Flags = u32(v, 0), u32(v, 1), u32(v, 2), u32(v, 3), u32(v, 4), u32(v, 5)
	if v, ok := m[packetDiagMclist]; ok {
		if len(v)%packetMclistLen != 0 {
			return nil, bad("mclist", v)
		}
		for ; len(v) > 0; v = v[packetMclistLen:] {
			alen := binary.NativeEndian.Uint16(v[10:])
			if alen > maxAddrLen {
				return nil, bad("mclist address", v[12:])
			}
			s.Mclist = append(s.Mclist, PacketMc{Ifindex: u32(v, 0), Count: u32(v, 1),
				Type: binary.NativeEndian.Uint16(v[8:]), Addr: append([]byte{}, v[12:12+alen]...)})
		}
	}
	ring := func(typ uint16) (*PacketRing, error) {
		v, ok := m[typ]
		if !ok {
			return nil, nil
		}
		if len(v) < packetRingLen {
			return nil, bad("ring", v)
		}
		return &PacketRing{u32(v, 0), u32(v, 1), u32(v, 2), u32(v, 3), u32(v, 4), u32(v, 5), u32(v, 6)}, nil
	}
	if s.RxRing, err = ring(packetDiagRxRing); err != nil {
		return nil, err
	}
	if s.TxRing, err = ring(packetDiagTxRing); err != nil {
		return nil, err
	}
	if v, ok := m[packetDiagFanout]; ok {
		if len(v) < 4 {
			return nil, bad("fanout", v)
		}
		s.Fanout, s.HasFanout = u32(v, 0), true
	}
	return s, nil
}

// packetRequest asks for every packet socket with its info, memberships,
// rings and fanout.
func packetRequest(seq uint32) []byte {
	b := header(packetDiagReqLen, nlmFRequest|nlmFDump, seq)
	r := make([]byte, packetDiagReqLen)
	r[0] = afPacket
	binary.NativeEndian.PutUint32(r[8:], packetShowInfo|packetShowMclist|packetShowRingCfg|packetShowFanout)
	binary.NativeEndian.PutUint32(r[12:], ^uint32(0))
	binary.NativeEndian.PutUint32(r[16:], ^uint32(0))
	return append(b, r...)
}
