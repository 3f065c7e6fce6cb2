package netlink

import (
	"encoding/binary"
	"errors"
	"fmt"
)

var ne = binary.NativeEndian

// ErrTruncated is a message or attribute shorter than its header says.
var ErrTruncated = errors.New("netlink: truncated message")

const (
	hdrLen     = 16
	attrHdrLen = 4
	// IfInfoLen is the size of struct ifinfomsg.
	IfInfoLen = 16
)

func align(n int) int { return (n + 3) &^ 3 }

// Attr is one attribute: its type (with NLA_F_NESTED and friends masked
// off) and its data.
type Attr struct {
	Type uint16
	Data []byte
}

// Attrs are parsed attributes, in the order they came.
type Attrs []Attr

// ParseAttrs splits b into attributes.
func ParseAttrs(b []byte) (Attrs, error) {
	var as Attrs
	for len(b) >= attrHdrLen {
		l := int(ne.Uint16(b))
		if l < attrHdrLen || l > len(b) {
			return nil, ErrTruncated
		}
		as = append(as, Attr{Type: ne.Uint16(b[2:]) & 0x3fff, Data: b[attrHdrLen:l]})
		b = b[min(align(l), len(b)):]
	}
	return as, nil
}

// Get returns the data of the first attribute of type t.
func (as Attrs) Get(t uint16) ([]byte, bool) {
	for _, a := range as {
		if a.Type == t {
			return a.Data, true
		}
	}
	return nil, false
}

// String returns attribute t as a NUL-terminated string.
func (as Attrs) String(t uint16) string {
	d, _ := as.Get(t)
	for i, c := range d {
		if c == 0 {
			return string(d[:i])
		}
	}
	return string(d)
}

// Uint32 returns attribute t as a u32.
func (as Attrs) Uint32(t uint16) (uint32, bool) {
	d, ok := as.Get(t)
	if !ok || len(d) < 4 {
		return 0, false
	}
	return ne.Uint32(d), true
}

// Nested parses attribute t's data as attributes.
func (as Attrs) Nested(t uint16) (Attrs, error) {
	d, ok := as.Get(t)
	if !ok {
		return nil, nil
	}
	return ParseAttrs(d)
}

// Builder appends attributes to a message body.
type Builder struct {
	b []byte
}

// NewBuilder starts a body with the fixed struct fixed.
func NewBuilder(fixed []byte) *Builder {
	return &Builder{b: append([]byte(nil), fixed...)}
}

// Bytes returns the body.
func (b *Builder) Bytes() []byte { return b.b }

// Attr appends an attribute.
func (b *Builder) Attr(t uint16, data []byte) {
	l := attrHdrLen + len(data)
	b.b = ne.AppendUint16(b.b, uint16(l))
	b.b = ne.AppendUint16(b.b, t)
	b.b = append(b.b, data...)
	for len(b.b)%4 != 0 {
		b.b = append(b.b, 0)
	}
}

// String appends a NUL-terminated string attribute.
func (b *Builder) String(t uint16, s string) { b.Attr(t, append([]byte(s), 0)) }

// Uint32 appends a u32 attribute.
func (b *Builder) Uint32(t uint16, v uint32) { b.Attr(t, ne.AppendUint32(nil, v)) }

// Nest appends an attribute whose data is what fill appends.
func (b *Builder) Nest(t uint16, fill func()) {
	start := len(b.b)
	b.b = append(b.b, 0, 0, 0, 0)
	fill()
	ne.PutUint16(b.b[start:], uint16(len(b.b)-start))
	ne.PutUint16(b.b[start+2:], t)
}

// Raw appends bytes as they are (a fixed struct inside a nest).
func (b *Builder) Raw(p []byte) {
	b.b = append(b.b, p...)
	for len(b.b)%4 != 0 {
		b.b = append(b.b, 0)
	}
}

// IfInfo is struct ifinfomsg.
type IfInfo struct {
	Family uint8
	Type   uint16
	Index  int32
	Flags  uint32
	Change uint32
}

// Marshal encodes the struct.
func (i IfInfo) Marshal() []byte {
	b := make([]byte, IfInfoLen)
	b[0] = i.Family
	ne.PutUint16(b[2:], i.Type)
	ne.PutUint32(b[4:], uint32(i.Index))
	ne.PutUint32(b[8:], i.Flags)
	ne.PutUint32(b[12:], i.Change)
	return b
}

// ParseIfInfo decodes a link message body: the struct and its attributes.
func ParseIfInfo(body []byte) (IfInfo, Attrs, error) {
	if len(body) < IfInfoLen {
		return IfInfo{}, nil, fmt.Errorf("link message of %d bytes: %w", len(body), ErrTruncated)
	}
	i := IfInfo{
		Family: body[0], Type: ne.Uint16(body[2:]), Index: int32(ne.Uint32(body[4:])),
		Flags: ne.Uint32(body[8:]), Change: ne.Uint32(body[12:]),
	}
	as, err := ParseAttrs(body[IfInfoLen:])
	return i, as, err
}

// Message is one message received: its type and its body.
type Message struct {
	Type uint16
	Body []byte
}

// parseMessages splits a datagram into messages.
func parseMessages(b []byte) ([]Message, error) {
	var ms []Message
	for len(b) >= hdrLen {
		l := int(ne.Uint32(b))
		if l < hdrLen || l > len(b) {
			return nil, ErrTruncated
		}
		ms = append(ms, Message{Type: ne.Uint16(b[4:]), Body: b[hdrLen:l]})
		b = b[min(align(l), len(b)):]
	}
	return ms, nil
}
