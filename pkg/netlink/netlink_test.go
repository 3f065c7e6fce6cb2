package netlink

import (
	"bytes"
	"testing"
)

func TestBuilderRoundTrip(t *testing.T) {
	b := NewBuilder(IfInfo{Family: 17, Index: 3, Flags: 1}.Marshal())
	b.String(3, "ceth0")
	b.Nest(18, func() {
		b.String(1, "veth")
		b.Nest(2, func() { b.Uint32(7, 42) })
	})
	i, as, err := ParseIfInfo(b.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if i.Family != 17 || i.Index != 3 || i.Flags != 1 {
		t.Errorf("ifinfo %+v", i)
	}
	if got := as.String(3); got != "ceth0" {
		t.Errorf("name %q", got)
	}
	l := Link{IfInfo: i, Attrs: as}
	if l.Kind() != "veth" {
		t.Errorf("kind %q", l.Kind())
	}
	d, err := l.InfoData()
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := d.Uint32(7); !ok || v != 42 {
		t.Errorf("nested u32 %d %v", v, ok)
	}
}

func TestParseAttrsTruncated(t *testing.T) {
	if _, err := ParseAttrs([]byte{200, 0, 1, 0, 'x'}); err == nil {
		t.Error("attribute longer than its buffer parsed")
	}
	if _, err := parseMessages(bytes.Repeat([]byte{0xff}, 20)); err == nil {
		t.Error("message longer than its buffer parsed")
	}
}

func FuzzParseAttrs(f *testing.F) {
	f.Add([]byte{8, 0, 3, 0, 'l', 'o', 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		as, err := ParseAttrs(b)
		if err == nil {
			for _, a := range as {
				ParseAttrs(a.Data)
			}
		}
	})
}
