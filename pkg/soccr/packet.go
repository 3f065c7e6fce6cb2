package soccr

import (
	"encoding/binary"
	"net/netip"
)

// TCP header flags of the segments a restore makes up (TH_FIN, TH_ACK).
const (
	thFIN = 0x01
	thACK = 0x10
)

// segment describes a TCP segment without data or options, as the peer
// of a connection would send it.
type segment struct {
	Src, Dst netip.AddrPort // the peer's address, the socket's
	Seq, Ack uint32
	Flags    uint8
	Window   uint16
}

// packet lays out seg as an IP packet with its TCP checksum computed:
// IPv4 when both addresses are IPv4 (or IPv4-mapped), IPv6 otherwise.
//
//	IPv4: | 20-byte IPv4 header | 20-byte TCP header |   (total length 40)
//	IPv6: | 40-byte IPv6 header | 20-byte TCP header |   (payload length 20)
//
// The IPv4 header's checksum and id are left zero for the kernel to fill
// in, as it does for a raw socket with IP_HDRINCL.
func (seg *segment) packet() []byte {
	src, dst := seg.Src.Addr(), seg.Dst.Addr()
	v4 := src.Unmap().Is4() && dst.Unmap().Is4()
	tcp := make([]byte, 20)
	binary.BigEndian.PutUint16(tcp[0:], seg.Src.Port())
	binary.BigEndian.PutUint16(tcp[2:], seg.Dst.Port())
	binary.BigEndian.PutUint32(tcp[4:], seg.Seq)
	binary.BigEndian.PutUint32(tcp[8:], seg.Ack)
	tcp[12] = 5 << 4 // data offset: 5 words, no options
	tcp[13] = seg.Flags
	binary.BigEndian.PutUint16(tcp[14:], seg.Window)

	var ip, pseudo []byte
	if v4 {
		s, d := src.Unmap().As4(), dst.Unmap().As4()
		ip = make([]byte, 20)
		ip[0] = 0x45 // version 4, 5 words
		binary.BigEndian.PutUint16(ip[2:], uint16(len(ip)+len(tcp)))
		ip[8] = 64 // TTL
		ip[9] = ipprotoTCP
		copy(ip[12:], s[:])
		copy(ip[16:], d[:])
		pseudo = append(append(append([]byte{}, s[:]...), d[:]...), 0, ipprotoTCP, 0, byte(len(tcp)))
	} else {
		s, d := src.As16(), dst.As16()
		ip = make([]byte, 40)
		ip[0] = 0x60 // version 6
		binary.BigEndian.PutUint16(ip[4:], uint16(len(tcp)))
		ip[6] = ipprotoTCP // next header
		ip[7] = 64         // hop limit
		copy(ip[8:], s[:])
		copy(ip[24:], d[:])
		pseudo = append(append(append([]byte{}, s[:]...), d[:]...), 0, 0, 0, byte(len(tcp)), 0, 0, 0, ipprotoTCP)
	}
	binary.BigEndian.PutUint16(tcp[16:], checksum(append(pseudo, tcp...)))
	return append(ip, tcp...)
}

// checksum is the Internet checksum (RFC 1071) of b.
func checksum(b []byte) uint16 {
	var sum uint32
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	if len(b)%2 == 1 {
		sum += uint32(b[len(b)-1]) << 8
	}
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}

// parseSockaddr reads a struct sockaddr_in or sockaddr_in6 as the kernel
// writes it: the family in host order, the port and address in network
// order.
func parseSockaddr(b []byte) (netip.AddrPort, bool) {
	if len(b) < 4 {
		return netip.AddrPort{}, false
	}
	port := binary.BigEndian.Uint16(b[2:])
	switch binary.NativeEndian.Uint16(b) {
	case afInet:
		if len(b) < 8 {
			return netip.AddrPort{}, false
		}
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte(b[4:8])), port), true
	case afInet6:
		if len(b) < 24 {
			return netip.AddrPort{}, false
		}
		return netip.AddrPortFrom(netip.AddrFrom16([16]byte(b[8:24])), port), true
	}
	return netip.AddrPort{}, false
}
