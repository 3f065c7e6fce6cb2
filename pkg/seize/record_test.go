package seize

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"slices"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/criugo/criugo/images"
	"github.com/criugo/criugo/pkg/image"
)

func sampleRecord() *images.CriugoFreezeEntry {
	tr := fixtureTree()
	tr.Tasks[16230].StoppedByUs = true
	return tr.Record(images.CriugoFreezeMethod_CRIUGO_FREEZE_PTRACE_STOP, "", false, "b9c6043d-5536-4e88-9dde-4da3e458fcc2")
}

func TestRecordRoundTrip(t *testing.T) {
	rec := sampleRecord()
	b, err := marshalRecord(rec)
	if err != nil {
		t.Fatal(err)
	}
	if got := binary.LittleEndian.Uint32(b[0:4]); got != image.ImgServiceMagic {
		t.Errorf("set magic %#x, want IMG_SERVICE", got)
	}
	if got := binary.LittleEndian.Uint32(b[4:8]); got != FreezeMagic {
		t.Errorf("magic %#x, want %#x", got, FreezeMagic)
	}
	back, err := ReadRecord(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(rec, back) {
		t.Fatalf("round trip changed the record:\n%v\n%v", rec, back)
	}
}

// TestFreezeMagicIsNotCRIUs checks the magic against every kind pkg/image
// knows, and that it cannot look like one of CRIU's decimal magics.
func TestFreezeMagicIsNotCRIUs(t *testing.T) {
	for _, k := range image.Kinds() {
		if k != image.Freeze && k.Magic == FreezeMagic {
			t.Fatalf("FreezeMagic %#x is CRIU's %s", FreezeMagic, k.Name)
		}
	}
	if image.Freeze.Magic != FreezeMagic {
		t.Fatalf("pkg/image's FREEZE magic %#x differs from FreezeMagic %#x", image.Freeze.Magic, FreezeMagic)
	}
	hasLetter := false
	for m := FreezeMagic; m != 0; m >>= 4 {
		hasLetter = hasLetter || m&0xf > 9
	}
	if !hasLetter {
		t.Fatalf("FreezeMagic %#x has only decimal digits", FreezeMagic)
	}
}

func TestReadRecordErrors(t *testing.T) {
	good, err := marshalRecord(sampleRecord())
	if err != nil {
		t.Fatal(err)
	}
	withSize := func(n uint32) []byte {
		b := append([]byte(nil), good[:8]...)
		return binary.LittleEndian.AppendUint32(b, n)
	}
	badMagic := append([]byte(nil), good...)
	badMagic[4] ^= 0xff
	cases := []struct {
		name  string
		data  []byte
		extra error
	}{
		{"empty", nil, io.ErrUnexpectedEOF},
		{"short header", good[:6], io.ErrUnexpectedEOF},
		{"bad magic", badMagic, image.ErrUnknownMagic},
		{"no size", good[:9], io.ErrUnexpectedEOF},
		{"cut entry", good[:len(good)-1], io.ErrUnexpectedEOF},
		{"huge size", withSize(image.MaxEntrySize + 1), image.ErrTooLarge},
		{"trailing data", append(append([]byte(nil), good...), 0), nil},
		{"not protobuf", append(withSize(3), 0xff, 0xff, 0xff), nil},
	}
	for _, c := range cases {
		_, err := ReadRecord(bytes.NewReader(c.data))
		if !errors.Is(err, ErrBadRecord) {
			t.Errorf("%s: error %v, want ErrBadRecord", c.name, err)
		}
		if c.extra != nil && !errors.Is(err, c.extra) {
			t.Errorf("%s: error %v does not match %v", c.name, err, c.extra)
		}
	}
}

func TestCheckRecord(t *testing.T) {
	ok := sampleRecord()
	if err := CheckRecord(ok); err != nil {
		t.Fatal(err)
	}
	bad := []func(r *images.CriugoFreezeEntry){
		func(r *images.CriugoFreezeEntry) { r.Method = nil },
		func(r *images.CriugoFreezeEntry) { r.RootPid = proto.Uint32(0) },
		func(r *images.CriugoFreezeEntry) { r.Method = images.CriugoFreezeMethod(9).Enum() },
		func(r *images.CriugoFreezeEntry) {
			r.Method = images.CriugoFreezeMethod_CRIUGO_FREEZE_CGROUP_V1.Enum()
		},
		func(r *images.CriugoFreezeEntry) { r.Tasks[1].Pid = proto.Uint32(0) },
		func(r *images.CriugoFreezeEntry) { r.Tasks[1].Pid = proto.Uint32(0xffffffff) },
	}
	for i, mutate := range bad {
		r := proto.Clone(ok).(*images.CriugoFreezeEntry)
		mutate(r)
		if err := CheckRecord(r); !errors.Is(err, ErrBadRecord) {
			t.Errorf("case %d: %v, want ErrBadRecord", i, err)
		}
	}
	if err := CheckRecord(nil); !errors.Is(err, ErrBadRecord) {
		t.Errorf("nil record: %v", err)
	}
}

// TestStreamAndDir writes a result both ways and reads the record back.
func TestStreamAndDir(t *testing.T) {
	tr := fixtureTree()
	res, err := newResult(tr, images.CriugoFreezeMethod_CRIUGO_FREEZE_PTRACE_STOP, "", false)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := res.WriteStream(&buf); err != nil {
		t.Fatal(err)
	}
	sr, err := image.NewStreamReader(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for {
		f, err := sr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, f.Name)
		if f.Name == "pstree.img" {
			img, err := image.ReadImage(f, f.Name)
			if err != nil {
				t.Fatal(err)
			}
			if len(img.Entries) != 5 {
				t.Errorf("pstree.img in the stream has %d entries", len(img.Entries))
			}
		}
	}
	if want := []string{FreezeFile, "inventory.img", "pstree.img"}; !slices.Equal(names, want) {
		t.Errorf("stream members %v, want %v", names, want)
	}
	rec, err := ReadRecordStream(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(rec, res.Record) {
		t.Errorf("record from stream differs")
	}
	if rec.GetRunId() != res.Inventory.GetDumpCriuRunId() {
		t.Errorf("record run id %q, inventory %q", rec.GetRunId(), res.Inventory.GetDumpCriuRunId())
	}

	dir := t.TempDir() + "/imgs"
	if err := res.WriteDir(dir); err != nil {
		t.Fatal(err)
	}
	rec, err = ReadRecordDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(rec, res.Record) {
		t.Errorf("record from dir differs")
	}
	// A second write finds the files there: it fails and leaves them.
	if err := res.WriteDir(dir); err == nil {
		t.Fatal("second WriteDir into the same dir succeeded")
	}
	if _, err := ReadRecordDir(dir); err != nil {
		t.Errorf("failed WriteDir removed the first write's files: %v", err)
	}
	if _, err := ReadRecordStream(bytes.NewReader(nil)); err == nil {
		t.Error("empty stream gave a record")
	}
}

func FuzzReadRecord(f *testing.F) {
	good, err := marshalRecord(sampleRecord())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(good[:10])
	f.Fuzz(func(t *testing.T, data []byte) {
		rec, err := ReadRecord(bytes.NewReader(data))
		if err != nil {
			if !errors.Is(err, ErrBadRecord) {
				t.Fatalf("error %v is not ErrBadRecord", err)
			}
			return
		}
		if err := CheckRecord(rec); err != nil {
			t.Fatalf("ReadRecord returned a record CheckRecord refuses: %v", err)
		}
		again, err := marshalRecord(rec)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ReadRecord(bytes.NewReader(again)); err != nil {
			t.Fatalf("re-encoded record does not read back: %v", err)
		}
	})
}
