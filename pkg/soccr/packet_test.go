package soccr

import (
	"encoding/binary"
	"net/netip"
	"testing"
)

func TestSegmentPacket(t *testing.T) {
	for _, c := range []struct {
		src, dst string
		ipLen    int
		pseudo   func(p []byte) []byte
	}{
		{"127.0.0.1:40000", "127.0.0.2:80", 20, func(p []byte) []byte {
			return append(append(append([]byte{}, p[12:20]...), 0, ipprotoTCP), 0, 20)
		}},
		{"[::ffff:10.0.0.1]:1", "[::ffff:10.0.0.2]:2", 20, func(p []byte) []byte {
			return append(append(append([]byte{}, p[12:20]...), 0, ipprotoTCP), 0, 20)
		}},
		{"[2001:db8::1]:5", "[::1]:6", 40, func(p []byte) []byte {
			return append(append([]byte{}, p[8:40]...), 0, 0, 0, 20, 0, 0, 0, ipprotoTCP)
		}},
	} {
		seg := segment{Src: netip.MustParseAddrPort(c.src), Dst: netip.MustParseAddrPort(c.dst),
			Seq: 0xdeadbeef, Ack: 0x01020304, Flags: thFIN | thACK, Window: 512}
		p := seg.packet()
		if len(p) != c.ipLen+20 {
			t.Fatalf("%s: packet of %d bytes", c.src, len(p))
		}
		tcp := p[c.ipLen:]
		if binary.BigEndian.Uint16(tcp) != seg.Src.Port() || binary.BigEndian.Uint16(tcp[2:]) != seg.Dst.Port() ||
			binary.BigEndian.Uint32(tcp[4:]) != seg.Seq || binary.BigEndian.Uint32(tcp[8:]) != seg.Ack ||
			tcp[12] != 0x50 || tcp[13] != thFIN|thACK || binary.BigEndian.Uint16(tcp[14:]) != 512 {
			t.Errorf("%s: TCP header % x", c.src, tcp)
		}
		// A segment with its checksum in place sums to zero.
		if sum := checksum(append(c.pseudo(p), tcp...)); sum != 0 {
			t.Errorf("%s: checksum does not verify (%#x)", c.src, sum)
		}
		if c.ipLen == 20 && (p[0] != 0x45 || binary.BigEndian.Uint16(p[2:]) != 40 || p[9] != ipprotoTCP) {
			t.Errorf("%s: IPv4 header % x", c.src, p[:20])
		}
		if c.ipLen == 40 && (p[0] != 0x60 || binary.BigEndian.Uint16(p[4:]) != 20 || p[6] != ipprotoTCP) {
			t.Errorf("%s: IPv6 header % x", c.src, p[:40])
		}
	}
}

func TestChecksumOddLength(t *testing.T) {
	// RFC 1071's example: 00 01 f2 03 f4 f5 f6 f7 sums to 0xddf2.
	if got := checksum([]byte{0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7}); got != ^uint16(0xddf2) {
		t.Errorf("checksum = %#x, want %#x", got, ^uint16(0xddf2))
	}
	if got := checksum([]byte{0xab}); got != ^uint16(0xab00) {
		t.Errorf("odd checksum = %#x", got)
	}
}

func TestParseSockaddr(t *testing.T) {
	b := make([]byte, 16)
	binary.NativeEndian.PutUint16(b, afInet)
	binary.BigEndian.PutUint16(b[2:], 8080)
	copy(b[4:], []byte{10, 1, 2, 3})
	if ap, ok := parseSockaddr(b); !ok || ap != netip.MustParseAddrPort("10.1.2.3:8080") {
		t.Errorf("sockaddr_in: %v %v", ap, ok)
	}
	b6 := make([]byte, 28)
	binary.NativeEndian.PutUint16(b6, afInet6)
	binary.BigEndian.PutUint16(b6[2:], 443)
	b6[23] = 1
	if ap, ok := parseSockaddr(b6); !ok || ap != netip.MustParseAddrPort("[::1]:443") {
		t.Errorf("sockaddr_in6: %v %v", ap, ok)
	}
	if _, ok := parseSockaddr(b6[:10]); ok {
		t.Error("a cut sockaddr_in6 was taken")
	}
}
