package crit

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/criugo/criugo/images"
	"github.com/criugo/criugo/pkg/image"
)

func compactJSON(t *testing.T, m proto.Message, pretty bool) string {
	t.Helper()
	n, err := MessageToNode(m.ProtoReflect(), pretty)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := WriteJSON(&buf, n, false); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

// TestMessageRules checks crit's pretty rules on messages the fixtures do
// not exercise (unknown flag bits, odd dict values, both address kinds,
// old-style device numbers, inherited hex) and that each reads back.
func TestMessageRules(t *testing.T) {
	for _, c := range []struct {
		name          string
		msg           proto.Message
		pretty, plain string
	}{
		{
			name: "vma flags",
			msg: &images.VmaEntry{Start: proto.Uint64(0x1000), End: proto.Uint64(0x7fffffffffffffff), Pgoff: proto.Uint64(0),
				Shmid: proto.Uint64(0), Prot: proto.Uint32(0), Flags: proto.Uint32(0x2 | 0x8 | 0x20 | 0x400),
				Status: proto.Uint32(1 | 1<<9 | 1<<4 | 1<<31), Fd: proto.Int64(-1)},
			pretty: `{"start": "0x1000", "end": "0x7fffffffffffffff", "pgoff": 0, "shmid": 0, "prot": "", ` +
				`"flags": "MAP_PRIVATE | MAP_DROPPABLE | MAP_ANON | 0x400", ` +
				`"status": "VMA_AREA_REGULAR | VMA_ANON_PRIVATE | VMA_UNSUPP | 0x10", "fd": -1}`,
			plain: `{"start": 4096, "end": 9223372036854775807, "pgoff": 0, "shmid": 0, "prot": 0, "flags": 1066, "status": 2147484177, "fd": -1}`,
		},
		{
			name: "inet socket",
			msg: &images.InetSkEntry{Family: proto.Uint32(10), Type: proto.Uint32(1), Proto: proto.Uint32(6), State: proto.Uint32(99),
				Flags:   proto.Uint32(0x800),
				SrcAddr: []uint32{0, 0, 0, 0x01000000},
				DstAddr: []uint32{0x0100007f}},
			pretty: `{"family": "INET6", "type": "STREAM", "proto": "TCP", "state": 99, "flags": "0x800", "src_addr": ["::1"], "dst_addr": ["127.0.0.1"]}`,
			plain:  `{"family": 10, "type": 1, "proto": 6, "state": 99, "flags": 2048, "src_addr": [0, 0, 0, 16777216], "dst_addr": [16777343]}`,
		},
		{
			// Two words are no address: crit would fail, we keep the numbers.
			name:   "odd address",
			msg:    &images.InetSkEntry{SrcAddr: []uint32{1, 2}},
			pretty: `{"src_addr": [1, 2]}`,
			plain:  `{"src_addr": [1, 2]}`,
		},
		{
			name: "devices",
			msg: &images.GhostFileEntry{Uid: proto.Uint32(0), Gid: proto.Uint32(0), Mode: proto.Uint32(0o20644),
				Dev: proto.Uint32(8<<20 | 1), Rdev: proto.Uint32(0x10303)},
			pretty: `{"uid": 0, "gid": 0, "mode": 8612, "dev": "8:1", "rdev": "259:3"}`,
			plain:  `{"uid": 0, "gid": 0, "mode": 8612, "dev": 8388609, "rdev": 66307}`,
		},
		{
			name: "inherited hex",
			msg: &images.ThreadInfoAarch64{ClearTidAddr: proto.Uint64(16), Tls: proto.Uint64(17),
				Gpregs: &images.UserAarch64RegsEntry{Regs: []uint64{1, 255}, Sp: proto.Uint64(0), Pc: proto.Uint64(10), Pstate: proto.Uint64(1 << 63)}},
			pretty: `{"clear_tid_addr": "0x10", "tls": 17, "gpregs": {"regs": ["0x1", "0xff"], "sp": "0x0", "pc": "0xa", "pstate": "0x8000000000000000"}}`,
			plain:  `{"clear_tid_addr": 16, "tls": 17, "gpregs": {"regs": [1, 255], "sp": 0, "pc": 10, "pstate": 9223372036854775808}}`,
		},
		{
			name:   "unix name",
			msg:    &images.UnixSkEntry{Name: []byte("\x00abc=d\xff"), State: proto.Uint32(10), Type: proto.Uint32(5)},
			pretty: `{"type": "SEQPACKET", "state": "LISTEN", "name": "=00abc=3Dd=FF"}`,
			plain:  `{"type": 5, "state": 10, "name": "=00abc=3Dd=FF"}`,
		},
		{
			name:   "enum and empty message",
			msg:    &images.FdinfoEntry{Type: images.FdTypes_PIPE.Enum(), Fd: proto.Uint32(3), XattrSecuritySelinux: proto.String("caf\u00e9")},
			pretty: `{"type": "PIPE", "fd": 3, "xattr_security_selinux": "caf\u00e9"}`,
			plain:  `{"type": "PIPE", "fd": 3, "xattr_security_selinux": "caf\u00e9"}`,
		},
	} {
		for _, mode := range []struct {
			pretty bool
			want   string
		}{{true, c.pretty}, {false, c.plain}} {
			got := compactJSON(t, c.msg, mode.pretty)
			if got != mode.want {
				t.Errorf("%s (pretty=%v):\n got %s\nwant %s", c.name, mode.pretty, got, mode.want)
				continue
			}
			n, err := ParseJSON([]byte(got))
			if err != nil {
				t.Fatal(err)
			}
			back := c.msg.ProtoReflect().New()
			if err := NodeToMessage(n, back, ""); err != nil {
				t.Errorf("%s (pretty=%v): read back: %v", c.name, mode.pretty, err)
				continue
			}
			if !proto.Equal(back.Interface(), c.msg) {
				t.Errorf("%s (pretty=%v): read back %v, want %v", c.name, mode.pretty, back.Interface(), c.msg)
			}
		}
	}
}

// TestNodeToMessageForms: the string forms crit accepts for integers.
func TestNodeToMessageForms(t *testing.T) {
	n, err := ParseJSON([]byte(`{"start": "4096", "end": "0o20", "pgoff": "0b11", "shmid": " 1_000 ",
		"prot": "PROT_READ|0x4", "flags": "", "status": "VMA_AREA_REGULAR | 0x10", "fd": "-0x1"}`))
	if err != nil {
		t.Fatal(err)
	}
	var got images.VmaEntry
	if err := NodeToMessage(n, got.ProtoReflect(), ""); err != nil {
		t.Fatal(err)
	}
	want := &images.VmaEntry{Start: proto.Uint64(4096), End: proto.Uint64(16), Pgoff: proto.Uint64(3), Shmid: proto.Uint64(1000),
		Prot: proto.Uint32(5), Flags: proto.Uint32(0), Status: proto.Uint32(0x11), Fd: proto.Int64(-1)}
	if !proto.Equal(&got, want) {
		t.Errorf("got %v, want %v", &got, want)
	}
	// A dict field takes a name or a number in any form.
	n, _ = ParseJSON([]byte(`{"family": "0xa", "type": "DGRAM", "state": 7}`))
	var sk images.InetSkEntry
	if err := NodeToMessage(n, sk.ProtoReflect(), ""); err != nil {
		t.Fatal(err)
	}
	if sk.GetFamily() != 10 || sk.GetType() != 2 || sk.GetState() != 7 {
		t.Errorf("dict fields read as %v", &sk)
	}
}

func TestNodeToMessageErrors(t *testing.T) {
	for _, c := range []struct {
		json     string
		sentinel error
		want     string // in the message
	}{
		{`{"start": "0xzz"}`, ErrValue, `start (line 1 column 11): bad value: bad hex number "0xzz"`},
		{`{"start": 1.5}`, ErrType, "expecting an integer, got 1.5"},
		{`{"start": true}`, ErrType, "expecting an integer, got a boolean"},
		{`{"start": -1}`, ErrValue, "-1 out of range for uint64"},
		{`{"prot": 4294967296}`, ErrValue, "out of range for uint32"},
		{`{"fd": "99999999999999999999"}`, ErrValue, "out of range for sint64"},
		{`{"prot": "PROT_READ | PROT_FLY"}`, ErrValue, `prot (line 1 column 10): bad value: unknown flag name "PROT_FLY"`},
		{`{"prot": "PROT_READ |"}`, ErrValue, `unknown flag name ""`},
		{`{"bogus": 1}`, ErrUnknownField, `bogus (line 1 column 11): unknown field: criu.vma_entry has no field "bogus"`},
		{"{\n \"start\": 1,\n \"madv\": {}}", ErrType, "madv (line 3 column 10)"},
		{`[]`, ErrType, "expecting an object for criu.vma_entry"},
	} {
		n, err := ParseJSON([]byte(c.json))
		if err != nil {
			t.Fatal(err)
		}
		var m images.VmaEntry
		err = NodeToMessage(n, m.ProtoReflect(), "")
		if !errors.Is(err, c.sentinel) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want %v with %q", c.json, err, c.sentinel, c.want)
		}
	}
	for _, c := range []struct {
		msg      proto.Message
		json     string
		sentinel error
		want     string
	}{
		{&images.InetSkEntry{}, `{"src_addr": ["1.2.3.256"]}`, ErrValue, `src_addr[0] (line 1 column 15): bad value: bad IP address "1.2.3.256"`},
		{&images.InetSkEntry{}, `{"src_addr": 5}`, ErrType, "expecting a list"},
		{&images.GhostFileEntry{}, `{"dev": "8-1"}`, ErrValue, `bad device number "8-1"`},
		{&images.GhostFileEntry{}, `{"chunks": "yes"}`, ErrType, "expecting true or false"},
		{&images.GhostFileEntry{}, `{"symlnk_target": 5}`, ErrType, "expecting a string"},
		{&images.FdinfoEntry{}, `{"type": "SOCKET"}`, ErrValue, `criu.fd_types has no value "SOCKET"`},
		{&images.FdinfoEntry{}, `{"type": 2}`, ErrType, "expecting an enum name"},
		{&images.UnixSkEntry{}, `{"name": "caf\u00e9"}`, ErrValue, "non-ASCII"},
		{&images.PipeDataEntry{}, `{"bytes": null}`, ErrType, "got a null"},
		{&images.ThreadInfoAarch64{}, `{"gpregs": {"regs": ["0x1", "x"]}}`, ErrValue, `gpregs.regs[1] (line 1 column 29): bad value: bad integer "x"`},
	} {
		n, err := ParseJSON([]byte(c.json))
		if err != nil {
			t.Fatal(err)
		}
		err = NodeToMessage(n, c.msg.ProtoReflect(), "")
		if !errors.Is(err, c.sentinel) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want %v with %q", c.json, err, c.sentinel, c.want)
		}
	}
}

func TestHumanSize(t *testing.T) {
	// crit's human_readable().
	for n, want := range map[uint64]string{0: "0B", 1023: "1023B", 1024: "1KB", 5000: "4.9KB", 65536: "64KB", 1 << 40: "1TB", 1<<64 - 1: "16EB"} {
		if got := humanSize(n); got != want {
			t.Errorf("humanSize(%d) = %q, want %q", n, got, want)
		}
	}
}

// TestFreezeRecord: crit decodes the project's own freeze.img (magic
// FREEZE), times and boot id included, and encodes the JSON back to the
// same bytes.
func TestFreezeRecord(t *testing.T) {
	rec := &images.CriugoFreezeEntry{
		Method:  images.CriugoFreezeMethod_CRIUGO_FREEZE_PTRACE_STOP.Enum(),
		RootPid: proto.Uint32(42),
		Tasks: []*images.CriugoFreezeTaskEntry{{
			Pid: proto.Uint32(42), NsPid: proto.Uint32(1), State: images.CriugoTaskState_CRIUGO_TASK_RUNNING.Enum(),
			StoppedByUs: proto.Bool(true), Shdpnd: proto.Uint64(0), StartTime: proto.Uint64(12345),
			Threads: []*images.CriugoFreezeThreadEntry{{Tid: proto.Uint32(42), NsTid: proto.Uint32(1), Sigpnd: proto.Uint64(0)}},
		}},
		RunId:       proto.String("b9c6043d-5536-4e88-9dde-4da3e458fcc2"),
		BootId:      proto.String("5c2ee3cd-3bb4-4c4e-a7f4-3e0b1dd1a47c"),
		FreezeBegan: proto.Uint64(123456789012345),
		FreezingNs:  proto.Uint64(2500000),
	}
	var img bytes.Buffer
	w, err := image.NewWriter(&img, image.Freeze)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.WriteMessage(rec); err != nil {
		t.Fatal(err)
	}
	for _, pretty := range []bool{false, true} {
		var out bytes.Buffer
		if err := Decode(DecodeOptions{Stdin: bytes.NewReader(img.Bytes()), Pretty: pretty, Stdout: &out}); err != nil {
			t.Fatalf("decode freeze.img (pretty %v): %v", pretty, err)
		}
		js := out.String()
		for _, want := range []string{`"magic": "FREEZE"`, `"method": "CRIUGO_FREEZE_PTRACE_STOP"`,
			`"boot_id": "5c2ee3cd-3bb4-4c4e-a7f4-3e0b1dd1a47c"`, `"freeze_began": 123456789012345`, `"freezing_ns": 2500000`} {
			if !strings.Contains(js, want) {
				t.Errorf("decode (pretty %v) lacks %s:\n%s", pretty, want, js)
			}
		}
		back, err := EncodeJSON(out.Bytes())
		if err != nil {
			t.Fatalf("encode (pretty %v): %v", pretty, err)
		}
		if !bytes.Equal(back, img.Bytes()) {
			t.Errorf("encode of the decode (pretty %v) differs from freeze.img", pretty)
		}
	}
}
