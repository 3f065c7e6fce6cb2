package soccr

import (
	"errors"
	"path/filepath"
	"reflect"
	"sort"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/criugo/criugo/images"
	"github.com/criugo/criugo/internal/testutil"
	"github.com/criugo/criugo/pkg/image"
)

// zooConn reads the established connection CRIU 4.2 dumped in the zoo set
// socket-tcp6: its inet_sk_entry, tcp-stream entry and queues.
func zooConn(t *testing.T) (*images.InetSkEntry, *images.TcpStreamEntry, *image.Extra) {
	t.Helper()
	dir := filepath.Join(testutil.FixturesDir(t), "criu-4.2-zoo", "images", "socket-tcp6")
	files, err := image.ReadFile(dir, "files.img")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range files.Entries {
		isk := e.Msg.(*images.FileEntry).GetIsk()
		if isk.GetState() != StateEstablished {
			continue
		}
		img, err := image.ReadFile(dir, image.TCPStream.FileName(isk.GetIno()))
		if err != nil {
			t.Fatal(err)
		}
		if len(img.Entries) != 1 || img.Entries[0].Extra == nil {
			t.Fatalf("tcp-stream image of %#x: %d entries", isk.GetIno(), len(img.Entries))
		}
		return isk, img.Entries[0].Msg.(*images.TcpStreamEntry), img.Entries[0].Extra
	}
	t.Fatal("no established connection in socket-tcp6")
	return nil, nil, nil
}

// setFields lists the fields set in m, sorted.
func setFields(m proto.Message) []string {
	var fs []string
	m.ProtoReflect().Range(func(fd protoreflect.FieldDescriptor, _ protoreflect.Value) bool {
		fs = append(fs, string(fd.Name()))
		return true
	})
	sort.Strings(fs)
	return fs
}

// TestImagesAsCRIU42: a connection CRIU 4.2 dumped reads back, and written
// again it sets exactly the tcp-stream fields CRIU 4.2 set (no cork and
// nodelay there: CRIU keeps them in tcp_opts) with the same values.
func TestImagesAsCRIU42(t *testing.T) {
	isk, ts, q := zooConn(t)
	st, err := FromImages(isk, ts, q.InQ, q.OutQ)
	if err != nil {
		t.Fatal(err)
	}
	if !st.Src.Addr().Is6() || st.Src.Port() != uint16(isk.GetSrcPort()) || st.Dst.Port() != uint16(isk.GetDstPort()) ||
		st.InqSeq != ts.GetInqSeq() || st.OutqSeq != ts.GetOutqSeq() || st.MSSClamp != ts.GetMssClamp() ||
		!st.HaveWindow || st.RcvWnd != ts.GetRcvWnd() {
		t.Errorf("state read from CRIU's images: %+v", st)
	}
	fe, ours := ToImages(st, isk.GetId(), isk.GetIno())
	if got, want := setFields(ours), setFields(ts); !reflect.DeepEqual(got, want) {
		t.Errorf("tcp-stream fields set: ours %v, CRIU's %v", got, want)
	}
	if !proto.Equal(ours, ts) {
		t.Errorf("tcp-stream entry written again:\n ours  %v\n CRIU's %v", ours, ts)
	}
	// CRIU's dump_tcp_opts sets nodelay and cork only when on.
	if o := fe.GetIsk().GetTcpOpts(); o == nil || o.Nodelay != nil || o.Cork != nil {
		t.Errorf("tcp_opts of a connection without nodelay and cork: %v", o)
	}
}

// TestNodelayCorkFromTCPOpts: CRIU 4.2 keeps TCP_NODELAY and TCP_CORK in
// the inet entry's tcp_opts; older images only in the tcp-stream entry.
// Where tcp_opts has a value it wins, as in CRIU's restore, which sets the
// tcp-stream entry's first and then tcp_opts'.
func TestNodelayCorkFromTCPOpts(t *testing.T) {
	isk0, ts0, q := zooConn(t)
	for _, c := range []struct {
		name         string
		stream, opts *bool // nodelay and cork in the tcp-stream entry, tcp_opts
		want         bool
	}{
		{"neither", nil, nil, false},
		{"tcp_opts only (CRIU 4.2)", nil, proto.Bool(true), true},
		{"tcp-stream only (older CRIU)", proto.Bool(true), nil, true},
		{"tcp_opts wins", proto.Bool(true), proto.Bool(false), false},
	} {
		isk := proto.Clone(isk0).(*images.InetSkEntry)
		ts := proto.Clone(ts0).(*images.TcpStreamEntry)
		ts.Nodelay, ts.Cork = c.stream, c.stream
		isk.TcpOpts.Nodelay, isk.TcpOpts.Cork = c.opts, c.opts
		st, err := FromImages(isk, ts, q.InQ, q.OutQ)
		if err != nil {
			t.Fatal(err)
		}
		if st.NoDelay != c.want || st.Cork != c.want {
			t.Errorf("%s: nodelay %v, cork %v, want %v", c.name, st.NoDelay, st.Cork, c.want)
		}
		fe, _ := ToImages(st, 1, 1)
		back, err := FromImages(fe.GetIsk(), ts0, q.InQ, q.OutQ)
		if err != nil || back.NoDelay != c.want || back.Cork != c.want {
			t.Errorf("%s: written and read again: %+v, %v", c.name, back, err)
		}
	}
}

// TestFromImagesRefusesWhatCRIURefuses: an entry without unsq_len, or
// with window scaling or timestamps but not their values, is an error (CRIU's
// restore_tcp_conn_state refuses it too).
func TestFromImagesRefusesWhatCRIURefuses(t *testing.T) {
	isk, ts0, q := zooConn(t)
	for name, clear := range map[string]func(*images.TcpStreamEntry){
		"unsq_len":   func(ts *images.TcpStreamEntry) { ts.UnsqLen = nil },
		"rcv_wscale": func(ts *images.TcpStreamEntry) { ts.RcvWscale = nil },
		"timestamp":  func(ts *images.TcpStreamEntry) { ts.Timestamp = nil },
	} {
		ts := proto.Clone(ts0).(*images.TcpStreamEntry)
		clear(ts)
		if _, err := FromImages(isk, ts, q.InQ, q.OutQ); !errors.Is(err, ErrBadState) {
			t.Errorf("without %s: %v, want ErrBadState", name, err)
		}
	}
	ts := proto.Clone(ts0).(*images.TcpStreamEntry)
	ts.OptMask = proto.Uint32(ts.GetOptMask() &^ (OptWScale | OptTimestamps))
	ts.RcvWscale, ts.Timestamp = nil, nil
	if _, err := FromImages(isk, ts, q.InQ, q.OutQ); err != nil {
		t.Errorf("without window scaling and timestamps, and their values: %v", err)
	}
}
