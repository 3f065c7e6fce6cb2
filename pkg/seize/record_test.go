package seize

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"slices"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/criugo/criugo/images"
	"github.com/criugo/criugo/pkg/image"
)

func sampleRecord() *images.CriugoFreezeEntry {
	tr := fixtureTree()
	tr.Tasks[16230].StoppedByUs = true
	rec := tr.Record(images.CriugoFreezeMethod_CRIUGO_FREEZE_PTRACE_STOP, "", false, "b9c6043d-5536-4e88-9dde-4da3e458fcc2")
	stampTimes(rec, "5c2ee3cd-3bb4-4c4e-a7f4-3e0b1dd1a47c", 7_000_000_000, 7_002_500_000)
	return rec
}

func TestTimes(t *testing.T) {
	const boot = "5c2ee3cd-3bb4-4c4e-a7f4-3e0b1dd1a47c"
	rec := sampleRecord()
	if rec.GetBootId() != boot || rec.GetFreezeBegan() != 7_000_000_000 || rec.GetFreezingNs() != 2_500_000 {
		t.Fatalf("stamped %q %d %d", rec.GetBootId(), rec.GetFreezeBegan(), rec.GetFreezingNs())
	}
	now := time.Date(2026, 11, 23, 1, 0, 0, 0, time.UTC)
	// Read 1.5 s after freezing began: began 1.5 s ago, frozen since 1.4975 s ago.
	ft, ok := timesAt(rec, clockReading{bootID: boot, mono: 8_500_000_000, now: now})
	if !ok {
		t.Fatal("times of the same boot refused")
	}
	if want := now.Add(-1500 * time.Millisecond); !ft.Began.Equal(want) || ft.Freezing != 2500*time.Microsecond {
		t.Errorf("times %v, %v; want %v, 2.5ms", ft.Began, ft.Freezing, want)
	}
	if want := now.Add(-1497500 * time.Microsecond); !ft.Frozen().Equal(want) {
		t.Errorf("frozen since %v, want %v", ft.Frozen(), want)
	}

	refused := []struct {
		name  string
		clock clockReading
		mod   func(*images.CriugoFreezeEntry)
	}{
		{"another boot", clockReading{bootID: "0b1dd1a4-7c5c-4c4e-a7f4-3bb43e2ee3cd", mono: 8_500_000_000}, nil},
		{"boot unknown here", clockReading{mono: 8_500_000_000}, nil},
		{"no boot id", clockReading{bootID: boot, mono: 8_500_000_000}, func(r *images.CriugoFreezeEntry) { r.BootId = nil }},
		{"no began", clockReading{bootID: boot, mono: 8_500_000_000}, func(r *images.CriugoFreezeEntry) { r.FreezeBegan = nil }},
		{"no freezing", clockReading{bootID: boot, mono: 8_500_000_000}, func(r *images.CriugoFreezeEntry) { r.FreezingNs = nil }},
		{"began later", clockReading{bootID: boot, mono: 6_000_000_000}, nil},
		{"freezing ends later", clockReading{bootID: boot, mono: 7_001_000_000}, nil},
		{"out of range", clockReading{bootID: boot, mono: math.MaxUint64}, func(r *images.CriugoFreezeEntry) { r.FreezeBegan = proto.Uint64(0) }},
	}
	for _, c := range refused {
		r := proto.Clone(rec).(*images.CriugoFreezeEntry)
		if c.mod != nil {
			c.mod(r)
		}
		if ft, ok := timesAt(r, c.clock); ok {
			t.Errorf("%s: times %+v accepted", c.name, ft)
		}
	}

	// Without a boot id, or with a clock going back, nothing is recorded.
	for _, c := range []struct {
		boot          string
		began, ending uint64
	}{{"", 1, 2}, {boot, 2, 1}} {
		r := fixtureTree().Record(images.CriugoFreezeMethod_CRIUGO_FREEZE_PTRACE_STOP, "", false, "run")
		stampTimes(r, c.boot, c.began, c.ending)
		if r.BootId != nil || r.FreezeBegan != nil || r.FreezingNs != nil {
			t.Errorf("stampTimes(%q, %d, %d) recorded %v %v %v", c.boot, c.began, c.ending, r.BootId, r.FreezeBegan, r.FreezingNs)
		}
	}
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
