package sockdiag

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net/netip"
	"testing"
)

// nlmsg frames a payload as one netlink message of type typ.
func nlmsg(typ uint16, payload []byte) []byte {
	b := make([]byte, nlmsgHdrLen, align4(nlmsgHdrLen+len(payload)))
	binary.NativeEndian.PutUint32(b, uint32(nlmsgHdrLen+len(payload)))
	binary.NativeEndian.PutUint16(b[4:], typ)
	b = append(b, payload...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

// attr frames one netlink attribute.
func attr(typ uint16, v []byte) []byte {
	b := make([]byte, 4)
	binary.NativeEndian.PutUint16(b, uint16(4+len(v)))
	binary.NativeEndian.PutUint16(b[2:], typ)
	b = append(b, v...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

func u32s(vs ...uint32) []byte {
	b := make([]byte, 4*len(vs))
	for i, v := range vs {
		binary.NativeEndian.PutUint32(b[4*i:], v)
	}
	return b
}

func unixMsg(ino uint32, typ, state uint8, as ...[]byte) []byte {
	p := make([]byte, unixDiagMsgLen)
	p[0], p[1], p[2] = afUnix, typ, state
	binary.NativeEndian.PutUint32(p[4:], ino)
	for _, a := range as {
		p = append(p, a...)
	}
	return p
}

func TestParseUnix(t *testing.T) {
	name := []byte("/tmp/x.sock\x00")
	p := unixMsg(77, 1, 10,
		attr(unixDiagName, name),
		attr(unixDiagVFS, u32s(1234, 0x800001)),
		attr(unixDiagPeer, u32s(0)),
		attr(unixDiagIcons, u32s(80, 81)),
		attr(unixDiagRQLen, u32s(2, 16)),
		attr(unixDiagShutdown, []byte{3}),
		attr(5, u32s(1, 2, 3)), // meminfo: not asked for, skipped
	)
	s, err := ParseUnix(p)
	if err != nil {
		t.Fatal(err)
	}
	if s.Ino != 77 || s.Type != 1 || s.State != 10 || !bytes.Equal(s.Name, name) || s.VFSIno != 1234 ||
		s.VFSDev != 0x800001 || s.Peer != 0 || len(s.Icons) != 2 || s.Icons[1] != 81 || s.RQueue != 2 ||
		s.WQueue != 16 || s.Shutdown != 3 {
		t.Errorf("parsed %+v", s)
	}
	// An unbound socket has no name at all; an abstract one starts with 0.
	s, err = ParseUnix(unixMsg(78, 2, 7))
	if err != nil || s.Name != nil {
		t.Errorf("unbound: %+v, %v", s, err)
	}
	s, err = ParseUnix(unixMsg(79, 2, 7, attr(unixDiagName, []byte("\x00abs"))))
	if err != nil || string(s.Name) != "\x00abs" {
		t.Errorf("abstract: %+v, %v", s, err)
	}
}

func TestParseUnixMalformed(t *testing.T) {
	for name, p := range map[string][]byte{
		"short header":  make([]byte, 10),
		"attr too long": append(unixMsg(1, 1, 1), 40, 0, 0, 0, 1, 2),
		"attr too short": func() []byte {
			b := unixMsg(1, 1, 1)
			return append(b, 2, 0, 0, 0)
		}(),
		"short peer":  unixMsg(1, 1, 1, attr(unixDiagPeer, []byte{1, 2})),
		"odd icons":   unixMsg(1, 1, 1, attr(unixDiagIcons, []byte{1, 2, 3, 4, 5})),
		"long name":   unixMsg(1, 1, 1, attr(unixDiagName, make([]byte, 200))),
		"short rqlen": unixMsg(1, 1, 1, attr(unixDiagRQLen, u32s(1))),
		"short vfs":   unixMsg(1, 1, 1, attr(unixDiagVFS, u32s(1))),
	} {
		if _, err := ParseUnix(p); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v, want ErrMalformed", name, err)
		}
	}
}

func inetMsg(family, state uint8, src, dst netip.AddrPort, ino, rq, wq uint32, as ...[]byte) []byte {
	p := make([]byte, inetDiagMsgLen)
	p[0], p[1] = family, state
	binary.BigEndian.PutUint16(p[4:], src.Port())
	binary.BigEndian.PutUint16(p[6:], dst.Port())
	copy(p[8:24], src.Addr().AsSlice())
	copy(p[24:40], dst.Addr().AsSlice())
	binary.NativeEndian.PutUint32(p[56:], rq)
	binary.NativeEndian.PutUint32(p[60:], wq)
	binary.NativeEndian.PutUint32(p[68:], ino)
	for _, a := range as {
		p = append(p, a...)
	}
	return p
}

func TestParseInet(t *testing.T) {
	src, dst := netip.MustParseAddrPort("127.0.0.1:8880"), netip.MustParseAddrPort("127.0.0.2:4000")
	s, err := ParseInet(inetMsg(afInet, 1, src, dst, 99, 5, 6, attr(inetDiagShutdown, []byte{1})), 6)
	if err != nil {
		t.Fatal(err)
	}
	if s.Family != afInet || s.Protocol != 6 || s.State != 1 || s.Src != src || s.Dst != dst || s.Ino != 99 ||
		s.RQueue != 5 || s.WQueue != 6 || s.Shutdown != 1 {
		t.Errorf("parsed %+v", s)
	}
	src6, dst6 := netip.MustParseAddrPort("[::1]:80"), netip.MustParseAddrPort("[fe80::1]:81")
	s, err = ParseInet(inetMsg(afInet6, 10, src6, dst6, 100, 0, 128), 6)
	if err != nil || s.Src != src6 || s.Dst != dst6 || s.WQueue != 128 {
		t.Errorf("v6: %+v, %v", s, err)
	}
	if _, err := ParseInet(make([]byte, 40), 6); !errors.Is(err, ErrMalformed) {
		t.Errorf("short: %v", err)
	}
	if _, err := ParseInet(inetMsg(7, 1, src, dst, 1, 0, 0), 6); !errors.Is(err, ErrMalformed) {
		t.Errorf("bad family: %v", err)
	}
}

func TestParseMessages(t *testing.T) {
	b := append(nlmsg(sockDiagByFamily, unixMsg(1, 1, 7)), nlmsg(sockDiagByFamily, unixMsg(2, 2, 7, attr(unixDiagPeer, u32s(1))))...)
	b = append(b, nlmsg(nlmsgDone, u32s(0))...)
	ms, err := ParseMessages(b)
	if err != nil || len(ms) != 3 || ms[2].Type != nlmsgDone {
		t.Fatalf("%d messages, %v", len(ms), err)
	}
	if s, err := ParseUnix(ms[1].Payload); err != nil || s.Peer != 1 {
		t.Errorf("second message: %+v, %v", s, err)
	}
	for name, b := range map[string][]byte{
		"short header": make([]byte, 8),
		"length past":  func() []byte { m := nlmsg(3, nil); binary.NativeEndian.PutUint32(m, 100); return m }(),
		"length small": func() []byte { m := nlmsg(3, nil); binary.NativeEndian.PutUint32(m, 4); return m }(),
	} {
		if _, err := ParseMessages(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v, want ErrMalformed", name, err)
		}
	}
	if e, err := errorOf(u32s(uint32(0xfffffffe))); err != nil || e != -2 {
		t.Errorf("error payload: %d, %v", e, err)
	}
}

func TestRequests(t *testing.T) {
	r := unixRequest(5)
	if len(r) != nlmsgHdrLen+unixDiagReqLen || binary.NativeEndian.Uint32(r) != uint32(len(r)) ||
		binary.NativeEndian.Uint16(r[4:]) != sockDiagByFamily || binary.NativeEndian.Uint32(r[8:]) != 5 ||
		r[16] != afUnix || binary.NativeEndian.Uint32(r[28:]) != udiagShowAll {
		t.Errorf("unix request % x", r)
	}
	r = inetRequest(6, afInet6, 17, 1<<10)
	if len(r) != nlmsgHdrLen+inetDiagReqLen || r[16] != afInet6 || r[17] != 17 ||
		binary.NativeEndian.Uint32(r[20:]) != 1<<10 {
		t.Errorf("inet request % x", r)
	}
	r = inetRequest(7, afInet, 262, 1<<10)
	if len(r) != nlmsgHdrLen+inetDiagReqLen+8 || binary.NativeEndian.Uint32(r) != uint32(len(r)) || r[17] != 0 ||
		binary.NativeEndian.Uint16(r[72:]) != 8 || binary.NativeEndian.Uint16(r[74:]) != inetDiagReqProto ||
		binary.NativeEndian.Uint32(r[76:]) != 262 {
		t.Errorf("MPTCP request % x", r)
	}
}

// FuzzParse: no input makes the parsers panic or return a result and an
// error together.
func FuzzParse(f *testing.F) {
	f.Add(nlmsg(sockDiagByFamily, unixMsg(1, 1, 10, attr(unixDiagIcons, u32s(3)), attr(unixDiagName, []byte("\x00a")))))
	f.Add(nlmsg(sockDiagByFamily, inetMsg(afInet, 1, netip.MustParseAddrPort("1.2.3.4:5"), netip.MustParseAddrPort("5.6.7.8:9"), 1, 2, 3)))
	f.Fuzz(func(t *testing.T, b []byte) {
		ms, err := ParseMessages(b)
		if err != nil {
			return
		}
		for _, m := range ms {
			if s, err := ParseUnix(m.Payload); (s == nil) == (err == nil) {
				t.Fatalf("unix: %v and %v", s, err)
			}
			if s, err := ParseInet(m.Payload, 6); (s == nil) == (err == nil) {
				t.Fatalf("inet: %v and %v", s, err)
			}
			if s, err := ParsePacket(m.Payload); (s == nil) == (err == nil) {
				t.Fatalf("packet: %v and %v", s, err)
			}
		}
	})
}
