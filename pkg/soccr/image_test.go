package soccr

import (
	"bytes"
	"net/netip"
	"reflect"
	"testing"
)

func TestImagesRoundTrip(t *testing.T) {
	for _, st := range []*State{
		{
			TCPState: StateEstablished,
			Src:      netip.MustParseAddrPort("127.0.0.1:40000"), Dst: netip.MustParseAddrPort("127.0.0.1:8080"),
			InqSeq: 0xfffffff0, OutqSeq: 12345, InQ: []byte("unread"), OutQ: []byte("unacked+unsent"), UnsqLen: 6,
			OptMask: OptTimestamps | OptSACK | OptWScale, SndWscale: 7, RcvWscale: 9, MSSClamp: 65483,
			Timestamp: 99, NoDelay: true, SndBuf: 4096, RcvBuf: 8192,
			HaveWindow: true, SndWl1: 1, SndWnd: 2, MaxWindow: 3, RcvWnd: 4, RcvWup: 5,
		},
		{
			TCPState: StateLastAck,
			Src:      netip.MustParseAddrPort("[::1]:1"), Dst: netip.MustParseAddrPort("[::ffff:10.0.0.1]:2"),
			Cork: true,
		},
		{
			TCPState: StateClose, InqSeq: 7, OutqSeq: 9, InQ: []byte("left unread"),
			Src: netip.MustParseAddrPort("10.1.2.3:1"), Dst: netip.MustParseAddrPort("10.1.2.4:2"),
		},
	} {
		fe, ts := ToImages(st, 7, 0x1234)
		if fe.GetId() != 7 || fe.GetIsk().GetIno() != 0x1234 {
			t.Fatalf("ids not kept: %v", fe)
		}
		got, err := FromImages(fe.GetIsk(), ts, st.InQ, st.OutQ)
		if err != nil {
			t.Fatal(err)
		}
		// nil and empty queues are the same state.
		if len(got.InQ) == 0 && len(st.InQ) == 0 {
			got.InQ = st.InQ
		}
		if len(got.OutQ) == 0 && len(st.OutQ) == 0 {
			got.OutQ = st.OutQ
		}
		if !reflect.DeepEqual(got, st) {
			t.Errorf("round trip changed the state:\n got  %+v\n want %+v", got, st)
		}
	}
}

func TestFromImagesRejectsBadQueues(t *testing.T) {
	st := &State{Src: netip.MustParseAddrPort("127.0.0.1:1"), Dst: netip.MustParseAddrPort("127.0.0.1:2"), InQ: []byte("abc")}
	fe, ts := ToImages(st, 1, 1)
	if _, err := FromImages(fe.GetIsk(), ts, bytes.Repeat([]byte("x"), 2), nil); err == nil {
		t.Fatal("a receive queue shorter than inq_len was accepted")
	}
	ts.UnsqLen = ptr(uint32(10))
	if _, err := FromImages(fe.GetIsk(), ts, st.InQ, nil); err == nil {
		t.Fatal("unsq_len longer than the send queue was accepted")
	}
}

func ptr[T any](v T) *T { return &v }
