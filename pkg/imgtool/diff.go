package imgtool

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"sort"
	"strconv"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/criugo/criugo/pkg/image"
)

// Difference is one place where two sets, A and B, differ.
type Difference struct {
	File string // the file's name ("core-42.img")
	// Entry is the index of the entry that differs, or -1 when the
	// difference is about the whole file.
	Entry int
	// Path says where in the file or entry: a field path
	// ("core_entry.tc.task_state", list elements indexed "vmas[3]"),
	// "extra.data" and the like for the payload after an entry, "byte N"
	// for raw contents, "entries" or "size" for the file as a whole, or
	// "" when only one set has the file.
	Path string
	A, B string // what each set holds there
}

// String writes d on one line:
//
//	tty.img: A absent, B present
//	core-42.img[0] core_entry.tc.task_state: A 1, B 2
//	pages-1.img byte 4096: A 0x00, B 0x17
func (d Difference) String() string {
	s := d.File
	if d.Entry >= 0 {
		s += "[" + strconv.Itoa(d.Entry) + "]"
	}
	if d.Path != "" {
		s += " " + d.Path
	}
	return s + ": A " + d.A + ", B " + d.B
}

// maxShown bounds how many bytes of a bytes field a difference prints.
const maxShown = 32

// Diff lists how sets a and b differ, file by file in name order: files
// only one holds, then for files both hold the entries that differ, field
// by field. Raw images are compared byte by byte, and only the first
// differing byte is reported; a and b must have been loaded with
// LoadOptions.KeepRaw for that. A file that did not decode in either set
// is an error: what it holds is unknown.
func Diff(a, b *Set) ([]Difference, error) {
	names := map[string]bool{}
	for n := range a.Files {
		names[n] = true
	}
	for n := range b.Files {
		names[n] = true
	}
	sorted := make([]string, 0, len(names))
	for n := range names {
		sorted = append(sorted, n)
	}
	sort.Strings(sorted)

	var out []Difference
	for _, name := range sorted {
		fa, fb := a.Files[name], b.Files[name]
		switch {
		case fb == nil:
			out = append(out, Difference{File: name, Entry: -1, A: "present", B: "absent"})
			continue
		case fa == nil:
			out = append(out, Difference{File: name, Entry: -1, A: "absent", B: "present"})
			continue
		}
		for _, x := range []struct {
			s *Set
			f *File
		}{{a, fa}, {b, fb}} {
			if x.f.Err != nil {
				return nil, fmt.Errorf("diff %s: %s: %w", x.s.Source, name, x.f.Err)
			}
			if x.f.Image == nil && !x.s.opts.KeepRaw {
				return nil, fmt.Errorf("diff %s: %s: raw contents not kept", x.s.Source, name)
			}
		}
		if fa.Image == nil || fb.Image == nil {
			if d, ok := diffBytes(fa.Raw, fb.Raw); ok {
				d.File, d.Entry = name, -1
				out = append(out, d)
			}
			continue
		}
		out = append(out, diffImages(name, fa.Image, fb.Image)...)
	}
	return out, nil
}

// diffBytes compares two byte strings: the first byte that differs, or
// the sizes when one is a prefix of the other.
func diffBytes(a, b []byte) (Difference, bool) {
	n := min(len(a), len(b))
	for i := range n {
		if a[i] != b[i] {
			return Difference{Path: "byte " + strconv.Itoa(i), A: fmt.Sprintf("0x%02x", a[i]), B: fmt.Sprintf("0x%02x", b[i])}, true
		}
	}
	if len(a) != len(b) {
		return Difference{Path: "size", A: strconv.Itoa(len(a)), B: strconv.Itoa(len(b))}, true
	}
	return Difference{}, false
}

func diffImages(name string, a, b *image.Image) []Difference {
	var out []Difference
	if len(a.Entries) != len(b.Entries) {
		out = append(out, Difference{File: name, Entry: -1, Path: "entries",
			A: strconv.Itoa(len(a.Entries)), B: strconv.Itoa(len(b.Entries))})
	}
	for i := range min(len(a.Entries), len(b.Entries)) {
		ea, eb := a.Entries[i], b.Entries[i]
		ma, mb := ea.Msg.ProtoReflect(), eb.Msg.ProtoReflect()
		var ds []Difference
		if ma.Descriptor().FullName() != mb.Descriptor().FullName() {
			ds = append(ds, Difference{Path: "message", A: string(ma.Descriptor().FullName()), B: string(mb.Descriptor().FullName())})
		} else {
			ds = diffMessages(ma, mb, string(ma.Descriptor().Name()), ds)
		}
		ds = append(ds, diffExtra(ea.Extra, eb.Extra)...)
		for _, d := range ds {
			d.File, d.Entry = name, i
			out = append(out, d)
		}
	}
	return out
}

// diffMessages appends to out the fields in which a and b, messages of
// one type, differ.
func diffMessages(a, b protoreflect.Message, prefix string, out []Difference) []Difference {
	fields := a.Descriptor().Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		p := prefix + "." + string(fd.Name())
		hasA, hasB := a.Has(fd), b.Has(fd)
		switch {
		case !hasA && !hasB:
		case hasA != hasB:
			out = append(out, Difference{Path: p, A: showField(a, fd), B: showField(b, fd)})
		case fd.IsMap():
			if !equalMaps(fd, a.Get(fd).Map(), b.Get(fd).Map()) {
				out = append(out, Difference{Path: p, A: showField(a, fd), B: showField(b, fd)})
			}
		case fd.IsList():
			la, lb := a.Get(fd).List(), b.Get(fd).List()
			if la.Len() != lb.Len() {
				out = append(out, Difference{Path: p + " length", A: strconv.Itoa(la.Len()), B: strconv.Itoa(lb.Len())})
			}
			for j := range min(la.Len(), lb.Len()) {
				out = diffValues(fd, la.Get(j), lb.Get(j), p+"["+strconv.Itoa(j)+"]", out)
			}
		default:
			out = diffValues(fd, a.Get(fd), b.Get(fd), p, out)
		}
	}
	if ua, ub := a.GetUnknown(), b.GetUnknown(); !bytes.Equal(ua, ub) {
		out = append(out, Difference{Path: prefix + " (unknown fields)", A: showBytes(ua), B: showBytes(ub)})
	}
	return out
}

// diffValues compares one value of field fd (a singular field or one
// element of a list).
func diffValues(fd protoreflect.FieldDescriptor, a, b protoreflect.Value, p string, out []Difference) []Difference {
	switch {
	case fd.Message() != nil:
		return diffMessages(a.Message(), b.Message(), p, out)
	case fd.Kind() == protoreflect.BytesKind:
		ab, bb := a.Bytes(), b.Bytes()
		switch {
		case bytes.Equal(ab, bb):
		case len(ab) <= maxShown && len(bb) <= maxShown:
			out = append(out, Difference{Path: p, A: showBytes(ab), B: showBytes(bb)})
		default:
			d, _ := diffBytes(ab, bb)
			d.Path = p + " " + d.Path
			out = append(out, d)
		}
		return out
	case !a.Equal(b):
		return append(out, Difference{Path: p, A: showValue(fd, a), B: showValue(fd, b)})
	}
	return out
}

func equalMaps(fd protoreflect.FieldDescriptor, a, b protoreflect.Map) bool {
	if a.Len() != b.Len() {
		return false
	}
	eq := true
	a.Range(func(k protoreflect.MapKey, va protoreflect.Value) bool {
		vb := b.Get(k)
		if !b.Has(k) {
			eq = false
		} else if fd.MapValue().Message() != nil {
			eq = len(diffMessages(va.Message(), vb.Message(), "", nil)) == 0
		} else {
			eq = va.Equal(vb)
		}
		return eq
	})
	return eq
}

// showField prints field fd of m briefly: "unset", a scalar's value, or
// what a set message or list holds.
func showField(m protoreflect.Message, fd protoreflect.FieldDescriptor) string {
	if !m.Has(fd) {
		return "unset"
	}
	v := m.Get(fd)
	switch {
	case fd.IsMap():
		return strconv.Itoa(v.Map().Len()) + " keys"
	case fd.IsList():
		return strconv.Itoa(v.List().Len()) + " elements"
	case fd.Message() != nil:
		return "set"
	}
	return showValue(fd, v)
}

func showValue(fd protoreflect.FieldDescriptor, v protoreflect.Value) string {
	switch fd.Kind() {
	case protoreflect.EnumKind:
		if ev := fd.Enum().Values().ByNumber(v.Enum()); ev != nil {
			return string(ev.Name())
		}
		return strconv.Itoa(int(v.Enum()))
	case protoreflect.StringKind:
		return strconv.Quote(v.String())
	case protoreflect.BytesKind:
		return showBytes(v.Bytes())
	}
	return v.String()
}

func showBytes(b []byte) string {
	if len(b) <= maxShown {
		return "0x" + hex.EncodeToString(b)
	}
	return strconv.Itoa(len(b)) + " bytes"
}

// diffExtra compares the payloads that follow two entries.
func diffExtra(a, b *image.Extra) []Difference {
	if a == nil {
		a = &image.Extra{}
	}
	if b == nil {
		b = &image.Extra{}
	}
	var out []Difference
	for _, x := range []struct {
		path string
		a, b []byte
	}{{"extra.data", a.Data, b.Data}, {"extra.inq", a.InQ, b.InQ}, {"extra.outq", a.OutQ, b.OutQ}} {
		if d, ok := diffBytes(x.a, x.b); ok {
			d.Path = x.path + " " + d.Path
			out = append(out, d)
		}
	}
	if len(a.Sems) != len(b.Sems) {
		out = append(out, Difference{Path: "extra.sems length", A: strconv.Itoa(len(a.Sems)), B: strconv.Itoa(len(b.Sems))})
	}
	for i := range min(len(a.Sems), len(b.Sems)) {
		if a.Sems[i] != b.Sems[i] {
			out = append(out, Difference{Path: fmt.Sprintf("extra.sems[%d]", i), A: strconv.Itoa(int(a.Sems[i])), B: strconv.Itoa(int(b.Sems[i]))})
		}
	}
	if len(a.Msgs) != len(b.Msgs) {
		out = append(out, Difference{Path: "extra.msgs length", A: strconv.Itoa(len(a.Msgs)), B: strconv.Itoa(len(b.Msgs))})
	}
	for i := range min(len(a.Msgs), len(b.Msgs)) {
		p := fmt.Sprintf("extra.msgs[%d]", i)
		ha, hb := a.Msgs[i].Hdr, b.Msgs[i].Hdr
		if ha != nil && hb != nil {
			ma := ha.ProtoReflect()
			out = diffMessages(ma, hb.ProtoReflect(), p+"."+string(ma.Descriptor().Name()), out)
		}
		if d, ok := diffBytes(a.Msgs[i].Data, b.Msgs[i].Data); ok {
			d.Path = p + ".data " + d.Path
			out = append(out, d)
		}
	}
	return out
}
