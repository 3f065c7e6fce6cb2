package soccr

import (
	"encoding/binary"
	"fmt"
	"net/netip"

	"github.com/criugo/criugo/images"
	"google.golang.org/protobuf/proto"
)

// Constants as CRIU's inet_sk_entry stores them (Linux values).
const (
	afInet         = 2
	afInet6        = 10
	sockStream     = 1
	ipprotoTCP     = 6
	fileFlagsRdwr  = 2 // O_RDWR
	fdTypeInetSock = images.FdTypes_INETSK
)

// addrWords encodes an address the way CRIU stores it: the bytes of the
// network-order address read as little-endian u32 words.
func addrWords(a netip.Addr) []uint32 {
	b := a.AsSlice()
	w := make([]uint32, len(b)/4)
	for i := range w {
		w[i] = binary.LittleEndian.Uint32(b[4*i:])
	}
	return w
}

func wordsAddr(w []uint32) (netip.Addr, bool) {
	b := make([]byte, 4*len(w))
	for i, v := range w {
		binary.LittleEndian.PutUint32(b[4*i:], v)
	}
	return netip.AddrFromSlice(b)
}

// ToImages describes st in CRIU's format: the files.img entry of the socket
// (with the given file id and socket inode) and its tcp-stream entry, whose
// queues (InQ, OutQ) go into the image right after the entry. The fields set
// are the ones CRIU 4.2 sets: TCP_NODELAY and TCP_CORK go into the inet
// entry's tcp_opts, and only when on (CRIU's dump_tcp_opts); the
// tcp-stream entry's cork and nodelay are left to the CRIU versions that
// had no tcp_opts.
func ToImages(st *State, id, ino uint32) (*images.FileEntry, *images.TcpStreamEntry) {
	family := uint32(afInet6)
	if st.Src.Addr().Is4() {
		family = afInet
	}
	isk := &images.InetSkEntry{
		Id:      proto.Uint32(id),
		Ino:     proto.Uint32(ino),
		Family:  proto.Uint32(family),
		Type:    proto.Uint32(sockStream),
		Proto:   proto.Uint32(ipprotoTCP),
		State:   proto.Uint32(uint32(st.state())),
		SrcPort: proto.Uint32(uint32(st.Src.Port())),
		DstPort: proto.Uint32(uint32(st.Dst.Port())),
		Flags:   proto.Uint32(fileFlagsRdwr),
		Backlog: proto.Uint32(0),
		SrcAddr: addrWords(st.Src.Addr()),
		DstAddr: addrWords(st.Dst.Addr()),
		Fown:    &images.FownEntry{Uid: proto.Uint32(0), Euid: proto.Uint32(0), Signum: proto.Uint32(0), PidType: proto.Uint32(0), Pid: proto.Uint32(0)},
		Opts:    &images.SkOptsEntry{SoSndbuf: proto.Uint32(st.SndBuf), SoRcvbuf: proto.Uint32(st.RcvBuf), SoSndTmoSec: proto.Uint64(0), SoSndTmoUsec: proto.Uint64(0), SoRcvTmoSec: proto.Uint64(0), SoRcvTmoUsec: proto.Uint64(0)},
		TcpOpts: &images.TcpOptsEntry{},
	}
	if st.NoDelay {
		isk.TcpOpts.Nodelay = proto.Bool(true)
	}
	if st.Cork {
		isk.TcpOpts.Cork = proto.Bool(true)
	}
	if family == afInet6 {
		isk.V6Only = proto.Bool(false)
	}
	fe := &images.FileEntry{Type: fdTypeInetSock.Enum(), Id: proto.Uint32(id), Isk: isk}
	ts := &images.TcpStreamEntry{
		InqLen:    proto.Uint32(uint32(len(st.InQ))),
		InqSeq:    proto.Uint32(st.InqSeq),
		OutqLen:   proto.Uint32(uint32(len(st.OutQ))),
		OutqSeq:   proto.Uint32(st.OutqSeq),
		OptMask:   proto.Uint32(st.OptMask),
		SndWscale: proto.Uint32(st.SndWscale), // required, even without window scaling
		MssClamp:  proto.Uint32(st.MSSClamp),
		UnsqLen:   proto.Uint32(st.UnsqLen),
	}
	if st.OptMask&OptWScale != 0 {
		ts.RcvWscale = proto.Uint32(st.RcvWscale)
	}
	if st.OptMask&OptTimestamps != 0 {
		ts.Timestamp = proto.Uint32(st.Timestamp)
	}
	if st.HaveWindow {
		ts.SndWl1 = proto.Uint32(st.SndWl1)
		ts.SndWnd = proto.Uint32(st.SndWnd)
		ts.MaxWindow = proto.Uint32(st.MaxWindow)
		ts.RcvWnd = proto.Uint32(st.RcvWnd)
		ts.RcvWup = proto.Uint32(st.RcvWup)
	}
	return fe, ts
}

// FromImages rebuilds a State from a socket's inet_sk_entry, its tcp-stream
// entry and the queue bytes that followed that entry. TCP_NODELAY and
// TCP_CORK are read as CRIU 4.2's restore applies them: the tcp-stream
// entry's (written by CRIU before tcp_opts existed), then the inet entry's
// tcp_opts where it has them.
func FromImages(isk *images.InetSkEntry, ts *images.TcpStreamEntry, inq, outq []byte) (*State, error) {
	if isk.GetProto() != ipprotoTCP || isk.GetType() != sockStream {
		return nil, fmt.Errorf("socket %#x: %w", isk.GetIno(), ErrNotEstablished)
	}
	if uint32(len(inq)) != ts.GetInqLen() || uint32(len(outq)) != ts.GetOutqLen() {
		return nil, fmt.Errorf("socket %#x: queues of %d and %d bytes, entry says %d and %d: %w",
			isk.GetIno(), len(inq), len(outq), ts.GetInqLen(), ts.GetOutqLen(), ErrBadState)
	}
	// What CRIU's restore refuses an image without (restore_tcp_conn_state).
	switch {
	case ts.UnsqLen == nil:
		return nil, fmt.Errorf("socket %#x: no unsq_len: %w", isk.GetIno(), ErrBadState)
	case ts.GetOptMask()&OptWScale != 0 && ts.RcvWscale == nil:
		return nil, fmt.Errorf("socket %#x: window scaling without rcv_wscale: %w", isk.GetIno(), ErrBadState)
	case ts.GetOptMask()&OptTimestamps != 0 && ts.Timestamp == nil:
		return nil, fmt.Errorf("socket %#x: timestamps without timestamp: %w", isk.GetIno(), ErrBadState)
	}
	src, ok1 := wordsAddr(isk.GetSrcAddr())
	dst, ok2 := wordsAddr(isk.GetDstAddr())
	if !ok1 || !ok2 || isk.GetSrcPort() > 0xffff || isk.GetDstPort() > 0xffff {
		return nil, fmt.Errorf("socket %#x: bad address: %w", isk.GetIno(), ErrBadState)
	}
	if isk.GetState() > 0xff {
		return nil, fmt.Errorf("socket %#x: state %d: %w", isk.GetIno(), isk.GetState(), ErrBadState)
	}
	st := &State{
		TCPState:  uint8(isk.GetState()),
		Src:       netip.AddrPortFrom(src.Unmap(), uint16(isk.GetSrcPort())),
		Dst:       netip.AddrPortFrom(dst.Unmap(), uint16(isk.GetDstPort())),
		InqSeq:    ts.GetInqSeq(),
		OutqSeq:   ts.GetOutqSeq(),
		InQ:       inq,
		OutQ:      outq,
		UnsqLen:   ts.GetUnsqLen(),
		OptMask:   ts.GetOptMask(),
		SndWscale: ts.GetSndWscale(),
		RcvWscale: ts.GetRcvWscale(),
		MSSClamp:  ts.GetMssClamp(),
		Timestamp: ts.GetTimestamp(),
		Cork:      ts.GetCork(),
		NoDelay:   ts.GetNodelay(),
		SndBuf:    isk.GetOpts().GetSoSndbuf(),
		RcvBuf:    isk.GetOpts().GetSoRcvbuf(),
	}
	if o := isk.GetTcpOpts(); o != nil {
		if o.Nodelay != nil {
			st.NoDelay = o.GetNodelay()
		}
		if o.Cork != nil {
			st.Cork = o.GetCork()
		}
	}
	if ts.SndWnd != nil { // CRIU's restore tests has_snd_wnd
		st.HaveWindow = true
		st.SndWl1, st.SndWnd, st.MaxWindow = ts.GetSndWl1(), ts.GetSndWnd(), ts.GetMaxWindow()
		st.RcvWnd, st.RcvWup = ts.GetRcvWnd(), ts.GetRcvWup()
	}
	if isk.GetFamily() == afInet6 {
		// Keep v6 addresses as v6 even when they are v4-mapped.
		st.Src = netip.AddrPortFrom(src, uint16(isk.GetSrcPort()))
		st.Dst = netip.AddrPortFrom(dst, uint16(isk.GetDstPort()))
	}
	if err := st.check(); err != nil {
		return nil, fmt.Errorf("socket %#x: %w", isk.GetIno(), err)
	}
	return st, nil
}
