package sockdiag

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
)

func packetMsg(ino uint32, typ uint8, num uint16, as ...[]byte) []byte {
	b := make([]byte, packetDiagMsgLen)
	b[0], b[1] = afPacket, typ
	binary.NativeEndian.PutUint16(b[2:], num)
	binary.NativeEndian.PutUint32(b[4:], ino)
	for _, a := range as {
		b = append(b, a...)
	}
	return b
}

func TestParsePacket(t *testing.T) {
	mc := make([]byte, packetMclistLen)
	copy(mc, u32s(2, 1))
	binary.NativeEndian.PutUint16(mc[8:], 1)
	binary.NativeEndian.PutUint16(mc[10:], 6)
	copy(mc[12:], []byte{1, 0, 0x5e, 0, 0, 1})
	p := packetMsg(42, 3, 0x0003,
		attr(packetDiagInfo, u32s(2, 1, 64, 128, 3, PacketAuxData|PacketLoss)),
		attr(packetDiagMclist, mc),
		attr(packetDiagRxRing, u32s(4096, 4, 2048, 8, 0, 0, 0)),
		attr(packetDiagFanout, u32s(0x00030007)))
	s, err := ParsePacket(p)
	if err != nil {
		t.Fatal(err)
	}
	if s.Ino != 42 || s.Type != 3 || s.Num != 3 || s.Ifindex != 2 || s.Version != 1 || s.Reserve != 64 ||
		s.CopyThresh != 128 || s.Tstamp != 3 || s.Flags != PacketAuxData|PacketLoss {
		t.Errorf("parsed %+v", s)
	}
	if len(s.Mclist) != 1 || s.Mclist[0].Ifindex != 2 || s.Mclist[0].Type != 1 || !bytes.Equal(s.Mclist[0].Addr, []byte{1, 0, 0x5e, 0, 0, 1}) {
		t.Errorf("mclist %+v", s.Mclist)
	}
	if s.RxRing == nil || s.RxRing.BlockSize != 4096 || s.RxRing.FrameNr != 8 || s.TxRing != nil {
		t.Errorf("rings %+v %+v", s.RxRing, s.TxRing)
	}
	if !s.HasFanout || s.Fanout != 0x00030007 {
		t.Errorf("fanout %v %#x", s.HasFanout, s.Fanout)
	}
	// No info, or an address longer than MAX_ADDR_LEN: malformed.
	if _, err := ParsePacket(packetMsg(1, 3, 3)); !errors.Is(err, ErrMalformed) {
		t.Errorf("without info: %v", err)
	}
	binary.NativeEndian.PutUint16(mc[10:], 40)
	if _, err := ParsePacket(packetMsg(1, 3, 3, attr(packetDiagInfo, u32s(0, 0, 0, 0, 0, 0)), attr(packetDiagMclist, mc))); !errors.Is(err, ErrMalformed) {
		t.Errorf("long address: %v", err)
	}
	r := packetRequest(9)
	if len(r) != nlmsgHdrLen+packetDiagReqLen || r[16] != afPacket || binary.NativeEndian.Uint32(r[24:]) != 0xf {
		t.Errorf("packet request % x", r)
	}
}
