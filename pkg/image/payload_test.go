package image

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/criugo/criugo/images"
	"github.com/criugo/criugo/internal/testutil"
)

// crit's JSON for an image: entry count and the "extra" of each entry.
type critImage struct {
	Magic   string            `json:"magic"`
	Entries []json.RawMessage `json:"entries"`
}

func b64(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(strings.ReplaceAll(s, "\n", ""))
	if err != nil {
		t.Fatalf("bad base64 in fixture: %v", err)
	}
	return b
}

// TestPayloadsMatchCrit checks, for every fixture image, the magic name and
// the entry count against crit's JSON, and every payload against crit's
// "extra".
func TestPayloadsMatchCrit(t *testing.T) {
	checked := 0
	for _, set := range testutil.ImageSets(t) {
		jsonDir := filepath.Join(filepath.Dir(filepath.Dir(set)), "json", filepath.Base(set))
		ents, err := os.ReadDir(set)
		if err != nil {
			t.Fatal(err)
		}
		for _, de := range ents {
			if k := KindForFile(de.Name()); k == nil || k.Raw() {
				continue
			}
			raw, err := os.ReadFile(filepath.Join(jsonDir, de.Name()+".json"))
			if err != nil {
				t.Errorf("%s: no crit JSON: %v", de.Name(), err)
				continue
			}
			var want critImage
			if err := json.Unmarshal(raw, &want); err != nil {
				t.Fatal(err)
			}
			f, err := os.Open(filepath.Join(set, de.Name()))
			if err != nil {
				t.Fatal(err)
			}
			img, err := ReadImage(f, de.Name())
			f.Close()
			if err != nil {
				t.Fatal(err)
			}
			where := filepath.Base(set) + "/" + de.Name()
			if img.Kind.Name != want.Magic {
				t.Errorf("%s: kind %s, crit says %s", where, img.Kind.Name, want.Magic)
			}
			if len(img.Entries) != len(want.Entries) {
				t.Errorf("%s: %d entries, crit shows %d", where, len(img.Entries), len(want.Entries))
				continue
			}
			for i, e := range img.Entries {
				comparePayload(t, where, i, e, want.Entries[i])
			}
			checked++
		}
	}
	if checked < 680 {
		t.Errorf("only %d images checked", checked)
	}
}

func comparePayload(t *testing.T, where string, i int, e Entry, rawEntry json.RawMessage) {
	t.Helper()
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(rawEntry, &fields); err != nil {
		t.Fatal(err)
	}
	extra, has := fields["extra"]
	if !has {
		if e.Extra != nil {
			t.Errorf("%s entry %d: payload where crit shows none", where, i)
		}
		return
	}
	if e.Extra == nil {
		t.Errorf("%s entry %d: no payload, crit shows %s", where, i, extra)
		return
	}
	var s string
	var tcp struct{ Inq, Outq string }
	var list []json.RawMessage
	switch {
	case json.Unmarshal(extra, &s) == nil:
		if got, want := e.Extra.Data, b64(t, s); !bytes.Equal(got, want) {
			t.Errorf("%s entry %d: payload %q, crit %q", where, i, got, want)
		}
	case json.Unmarshal(extra, &tcp) == nil:
		if !bytes.Equal(e.Extra.InQ, b64(t, tcp.Inq)) || !bytes.Equal(e.Extra.OutQ, b64(t, tcp.Outq)) {
			t.Errorf("%s entry %d: tcp queues differ from crit", where, i)
		}
	case json.Unmarshal(extra, &list) == nil && len(e.Extra.Sems) > 0:
		var sems []uint16
		if err := json.Unmarshal(extra, &sems); err != nil {
			t.Fatal(err)
		}
		if !slicesEqual(e.Extra.Sems, sems) {
			t.Errorf("%s entry %d: semaphores %v, crit %v", where, i, e.Extra.Sems, sems)
		}
	case json.Unmarshal(extra, &list) == nil:
		if len(list) != 2*len(e.Extra.Msgs) {
			t.Errorf("%s entry %d: %d messages, crit shows %d", where, i, len(e.Extra.Msgs), len(list)/2)
			return
		}
		for j, m := range e.Extra.Msgs {
			var hdr struct{ Mtype, Msize uint64 }
			var data string
			if json.Unmarshal(list[2*j], &hdr) != nil || json.Unmarshal(list[2*j+1], &data) != nil {
				t.Fatalf("%s: unexpected message JSON", where)
			}
			h := m.Hdr.(*images.IpcMsg)
			if h.GetMtype() != hdr.Mtype || uint64(h.GetMsize()) != hdr.Msize || !bytes.Equal(m.Data, b64(t, data)) {
				t.Errorf("%s entry %d message %d differs from crit", where, i, j)
			}
		}
	default:
		t.Errorf("%s entry %d: unexpected extra %s", where, i, extra)
	}
}

func slicesEqual[T comparable](a, b []T) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// roundTrip writes img, checks the bytes against want (when given), reads
// them back and returns what was read.
func roundTrip(t *testing.T, img *Image, want []byte) *Image {
	t.Helper()
	var buf bytes.Buffer
	if err := WriteImage(&buf, img); err != nil {
		t.Fatalf("write: %v", err)
	}
	if want != nil && !bytes.Equal(buf.Bytes(), want) {
		t.Fatalf("wrote\n% x\nwant\n% x", buf.Bytes(), want)
	}
	got, err := ReadImage(bytes.NewReader(buf.Bytes()), "")
	if err != nil {
		t.Fatalf("read back: %v", err)
	}
	var again bytes.Buffer
	if err := WriteImage(&again, got); err != nil || !bytes.Equal(again.Bytes(), buf.Bytes()) {
		t.Fatalf("second round trip differs (err %v)", err)
	}
	return got
}

// frame builds the expected file bytes: header for k, then the pieces.
func frame(k *Kind, pieces ...[]byte) []byte {
	var b []byte
	if k.SetMagic() != RawMagic {
		b = binary.LittleEndian.AppendUint32(b, k.SetMagic())
	}
	b = binary.LittleEndian.AppendUint32(b, k.Magic)
	for _, p := range pieces {
		b = append(b, p...)
	}
	return b
}

// msgBytes is a message with its u32 size in front.
func msgBytes(t *testing.T, m proto.Message) []byte {
	t.Helper()
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return append(binary.LittleEndian.AppendUint32(nil, uint32(len(b))), b...)
}

func TestPayloadLayouts(t *testing.T) {
	t.Run("tcp", func(t *testing.T) {
		m := &images.TcpStreamEntry{InqLen: proto.Uint32(3), InqSeq: proto.Uint32(1), OutqLen: proto.Uint32(2),
			OutqSeq: proto.Uint32(2), OptMask: proto.Uint32(0), SndWscale: proto.Uint32(0), MssClamp: proto.Uint32(0)}
		img := &Image{Kind: TCPStream, Entries: []Entry{{Msg: m, Extra: &Extra{InQ: []byte("abc"), OutQ: []byte("de")}}}}
		got := roundTrip(t, img, frame(TCPStream, msgBytes(t, m), []byte("abcde")))
		if string(got.Entries[0].Extra.InQ) != "abc" || string(got.Entries[0].Extra.OutQ) != "de" {
			t.Errorf("queues %q %q", got.Entries[0].Extra.InQ, got.Entries[0].Extra.OutQ)
		}
	})
	t.Run("shm inline padded to 4", func(t *testing.T) {
		m := &images.IpcShmEntry{Desc: ipcDesc(), Size: proto.Uint64(5)}
		img := &Image{Kind: IPCNSShm, Entries: []Entry{{Msg: m, Extra: &Extra{Data: []byte("12345")}}, {Msg: m, Extra: &Extra{Data: []byte("abcde")}}}}
		got := roundTrip(t, img, frame(IPCNSShm, msgBytes(t, m), []byte("12345\x00\x00\x00"), msgBytes(t, m), []byte("abcde\x00\x00\x00")))
		if string(got.Entries[1].Extra.Data) != "abcde" {
			t.Errorf("data %q", got.Entries[1].Extra.Data)
		}
	})
	t.Run("shm in pagemaps", func(t *testing.T) {
		m := &images.IpcShmEntry{Desc: ipcDesc(), Size: proto.Uint64(4096), InPagemaps: proto.Bool(true)}
		roundTrip(t, &Image{Kind: IPCNSShm, Entries: []Entry{{Msg: m}}}, frame(IPCNSShm, msgBytes(t, m)))
	})
	t.Run("sem padded to 8", func(t *testing.T) {
		m := &images.IpcSemEntry{Desc: ipcDesc(), Nsems: proto.Uint32(3)}
		img := &Image{Kind: IPCNSSem, Entries: []Entry{{Msg: m, Extra: &Extra{Sems: []uint16{1, 0x0203, 0xffff}}}}}
		got := roundTrip(t, img, frame(IPCNSSem, msgBytes(t, m), []byte{1, 0, 3, 2, 0xff, 0xff, 0, 0}))
		if !slicesEqual(got.Entries[0].Extra.Sems, []uint16{1, 0x0203, 0xffff}) {
			t.Errorf("sems %v", got.Entries[0].Extra.Sems)
		}
	})
	t.Run("msg queue padded to 8", func(t *testing.T) {
		m := &images.IpcMsgEntry{Desc: ipcDesc(), Qbytes: proto.Uint32(100), Qnum: proto.Uint32(2)}
		h1 := &images.IpcMsg{Mtype: proto.Uint64(1), Msize: proto.Uint32(9)}
		h2 := &images.IpcMsg{Mtype: proto.Uint64(7), Msize: proto.Uint32(8)}
		img := &Image{Kind: IPCNSMsg, Entries: []Entry{{Msg: m, Extra: &Extra{Msgs: []IPCMsg{
			{Hdr: h1, Data: []byte("ninebytes")}, {Hdr: h2, Data: []byte("eightbyt")}}}}}}
		got := roundTrip(t, img, frame(IPCNSMsg, msgBytes(t, m),
			msgBytes(t, h1), []byte("ninebytes\x00\x00\x00\x00\x00\x00\x00"), msgBytes(t, h2), []byte("eightbyt")))
		if len(got.Entries[0].Extra.Msgs) != 2 || string(got.Entries[0].Extra.Msgs[1].Data) != "eightbyt" {
			t.Errorf("messages %+v", got.Entries[0].Extra.Msgs)
		}
	})
	t.Run("bpf map data", func(t *testing.T) {
		m := &images.BpfmapDataEntry{MapId: proto.Uint32(1), KeysBytes: proto.Uint32(2), ValuesBytes: proto.Uint32(3), Count: proto.Uint32(1)}
		roundTrip(t, &Image{Kind: BPFMapData, Entries: []Entry{{Msg: m, Extra: &Extra{Data: []byte("kkvvv")}}}},
			frame(BPFMapData, msgBytes(t, m), []byte("kkvvv")))
	})
	t.Run("ghost chunks", func(t *testing.T) {
		head := &images.GhostFileEntry{Uid: proto.Uint32(0), Gid: proto.Uint32(0), Mode: proto.Uint32(0o100644), Chunks: proto.Bool(true)}
		c1 := &images.GhostChunkEntry{Len: proto.Uint64(3), Off: proto.Uint64(0)}
		c2 := &images.GhostChunkEntry{Len: proto.Uint64(2), Off: proto.Uint64(8192)}
		img := &Image{Kind: GhostFile, Entries: []Entry{{Msg: head},
			{Msg: c1, Extra: &Extra{Data: []byte("abc")}}, {Msg: c2, Extra: &Extra{Data: []byte("xy")}}}}
		got := roundTrip(t, img, frame(GhostFile, msgBytes(t, head), msgBytes(t, c1), []byte("abc"), msgBytes(t, c2), []byte("xy")))
		if len(got.Entries) != 3 || got.Entries[0].Extra != nil || string(got.Entries[2].Extra.Data) != "xy" {
			t.Errorf("entries %+v", got.Entries)
		}
	})
	t.Run("ghost whole", func(t *testing.T) {
		head := &images.GhostFileEntry{Uid: proto.Uint32(0), Gid: proto.Uint32(0), Mode: proto.Uint32(0o100644)}
		img := &Image{Kind: GhostFile, Entries: []Entry{{Msg: head, Extra: &Extra{Data: []byte("the whole file")}}}}
		roundTrip(t, img, frame(GhostFile, msgBytes(t, head), []byte("the whole file")))
		var buf bytes.Buffer
		w, err := NewWriter(&buf, GhostFile)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Write(img.Entries[0]); err != nil {
			t.Fatal(err)
		}
		if err := w.Write(img.Entries[0]); !errors.Is(err, ErrBadEntry) {
			t.Errorf("entry after whole ghost content: got %v, want ErrBadEntry", err)
		}
	})
	t.Run("pagemap", func(t *testing.T) {
		head := &images.PagemapHead{PagesId: proto.Uint32(7)}
		pe := &images.PagemapEntry{Vaddr: proto.Uint64(0x400000), CompatNrPages: proto.Uint32(0), Flags: proto.Uint32(1)}
		if err := SetPagemapNrPages(pe, 1<<33); err != nil {
			t.Fatal(err)
		}
		got := roundTrip(t, &Image{Kind: Pagemap, Entries: []Entry{{Msg: head}, {Msg: pe}}}, frame(Pagemap, msgBytes(t, head), msgBytes(t, pe)))
		if id, err := PagemapPagesID(got.Entries[0].Msg); err != nil || id != 7 {
			t.Errorf("pages id %d, %v", id, err)
		}
		if n, err := PagemapNrPages(got.Entries[1].Msg); err != nil || n != 1<<33 {
			t.Errorf("nr pages %d, %v", n, err)
		}
		old := &images.PagemapEntry{Vaddr: proto.Uint64(0), CompatNrPages: proto.Uint32(12)}
		if n, err := PagemapNrPages(old); err != nil || n != 12 {
			t.Errorf("compat nr pages %d, %v", n, err)
		}
	})
}

func ipcDesc() *images.IpcDescEntry {
	return &images.IpcDescEntry{Key: proto.Uint32(1), Uid: proto.Uint32(0), Gid: proto.Uint32(0),
		Cuid: proto.Uint32(0), Cgid: proto.Uint32(0), Mode: proto.Uint32(0o600), Id: proto.Uint32(0)}
}

// TestWriterRejects checks that entries that do not fit are refused before
// anything of them is written.
func TestWriterRejects(t *testing.T) {
	pipe := &images.PipeDataEntry{PipeId: proto.Uint32(1), Bytes: proto.Uint32(4)}
	cases := []struct {
		name string
		kind *Kind
		e    Entry
	}{
		{"wrong message", Core, Entry{Msg: pipe}},
		{"no message", Core, Entry{}},
		{"short payload", PipesData, Entry{Msg: pipe, Extra: &Extra{Data: []byte("abc")}}},
		{"missing payload", PipesData, Entry{Msg: pipe}},
		{"payload on plain kind", Pipes, Entry{Msg: &images.PipeEntry{Id: proto.Uint32(1), PipeId: proto.Uint32(1), Flags: proto.Uint32(0), Fown: nil}, Extra: &Extra{}}},
		{"sems count", IPCNSSem, Entry{Msg: &images.IpcSemEntry{Desc: ipcDesc(), Nsems: proto.Uint32(2)}, Extra: &Extra{Sems: []uint16{1}}}},
		{"msgs count", IPCNSMsg, Entry{Msg: &images.IpcMsgEntry{Desc: ipcDesc(), Qbytes: proto.Uint32(1), Qnum: proto.Uint32(1)}}},
		{"pagemap entry first", Pagemap, Entry{Msg: &images.PagemapEntry{Vaddr: proto.Uint64(0), CompatNrPages: proto.Uint32(0)}}},
	}
	for _, c := range cases {
		var buf bytes.Buffer
		w, err := NewWriter(&buf, c.kind)
		if err != nil {
			t.Fatal(err)
		}
		before := buf.Len()
		if err := w.Write(c.e); !errors.Is(err, ErrBadEntry) {
			t.Errorf("%s: got %v, want ErrBadEntry", c.name, err)
		}
		if buf.Len() != before {
			t.Errorf("%s: %d bytes written for a refused entry", c.name, buf.Len()-before)
		}
	}
	if _, err := NewWriter(&bytes.Buffer{}, Pages); !errors.Is(err, ErrRawImage) {
		t.Errorf("writer for raw kind: got %v, want ErrRawImage", err)
	}
}
