package crit

import (
	"encoding/binary"
	"fmt"
	"math/big"
	"net/netip"
	"slices"
	"strconv"
	"sync"

	"google.golang.org/protobuf/reflect/protoreflect"
)

var fieldOrderCache sync.Map // protoreflect.MessageDescriptor -> []protoreflect.FieldDescriptor

// fieldsByNumber lists md's fields in field-number order, the order of
// Python protobuf's ListFields() and so of crit's keys.
func fieldsByNumber(md protoreflect.MessageDescriptor) []protoreflect.FieldDescriptor {
	if v, ok := fieldOrderCache.Load(md); ok {
		return v.([]protoreflect.FieldDescriptor)
	}
	fds := md.Fields()
	list := make([]protoreflect.FieldDescriptor, fds.Len())
	for i := range list {
		list[i] = fds.Get(i)
	}
	slices.SortFunc(list, func(a, b protoreflect.FieldDescriptor) int {
		return int(a.Number()) - int(b.Number())
	})
	fieldOrderCache.Store(md, list)
	return list
}

// MessageToNode converts one protobuf message to the JSON value crit prints
// for it (pycriu's pb2dict): an object of the fields that are set, in
// field-number order, by field name. With pretty, the (criu) options of the
// fields shape the numbers: hex, flags, dict, dev/odev, ipadd; hex holds
// for every integer inside a message field marked hex. Without pretty,
// numbers stay numbers. Enums are always names, bytes always base64 (or the
// field's conv).
func MessageToNode(m protoreflect.Message, pretty bool) (*Node, error) {
	return messageToNode(m, pretty, false)
}

func messageToNode(m protoreflect.Message, pretty, hex bool) (*Node, error) {
	obj := NewObject()
	for _, fd := range fieldsByNumber(m.Descriptor()) {
		if !m.Has(fd) {
			continue
		}
		o := optsOf(fd)
		fhex := hex || o.hex
		v := m.Get(fd)
		var val *Node
		var err error
		switch {
		case fd.IsMap():
			err = fmt.Errorf("field %s: map fields are not supported", fd.FullName())
		case fd.IsList():
			val, err = listToNode(fd, v.List(), o, pretty, fhex)
		default:
			val, err = valueToNode(fd, v, o, pretty, fhex)
		}
		if err != nil {
			return nil, err
		}
		obj.Set(string(fd.Name()), val)
	}
	return obj, nil
}

func listToNode(fd protoreflect.FieldDescriptor, l protoreflect.List, o fieldOpts, pretty, hex bool) (*Node, error) {
	if pretty && o.ipadd && (l.Len() == 1 || l.Len() == 4) {
		return NewArray(NewString(ipText(l))), nil
	}
	arr := &Node{Kind: Array, Elems: make([]*Node, l.Len())}
	for i := range arr.Elems {
		e, err := valueToNode(fd, l.Get(i), o, pretty, hex)
		if err != nil {
			return nil, err
		}
		arr.Elems[i] = e
	}
	return arr, nil
}

// ipText renders an ipadd field: one u32 is an IPv4 address, four are an
// IPv6 one; each u32 holds its address bytes in network order (the in-memory
// layout, read as a little-endian number).
func ipText(l protoreflect.List) string {
	if l.Len() == 1 {
		var b [4]byte
		binary.LittleEndian.PutUint32(b[:], uint32(l.Get(0).Uint()))
		return netip.AddrFrom4(b).String()
	}
	var b [16]byte
	for i := 0; i < 4; i++ {
		binary.LittleEndian.PutUint32(b[4*i:], uint32(l.Get(i).Uint()))
	}
	return pyIPv6(b)
}

func isSignedKind(k protoreflect.Kind) bool {
	switch k {
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind,
		protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return true
	}
	return false
}

func isUnsignedKind(k protoreflect.Kind) bool {
	switch k {
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind,
		protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return true
	}
	return false
}

func valueToNode(fd protoreflect.FieldDescriptor, v protoreflect.Value, o fieldOpts, pretty, hex bool) (*Node, error) {
	k := fd.Kind()
	switch {
	case k == protoreflect.MessageKind:
		return messageToNode(v.Message(), pretty, hex)
	case k == protoreflect.BytesKind:
		switch o.conv {
		case "":
			return NewString(encodeBase64(v.Bytes())), nil
		case "unix_name":
			return NewString(encodeQP(v.Bytes())), nil
		}
		return nil, fmt.Errorf("field %s: unknown conversion %q", fd.FullName(), o.conv)
	case k == protoreflect.EnumKind:
		if ev := fd.Enum().Values().ByNumber(v.Enum()); ev != nil {
			return NewString(string(ev.Name())), nil
		}
		// A number the enum does not define: crit would fail; show it.
		return NewInt(int64(v.Enum())), nil
	case k == protoreflect.BoolKind:
		return NewBool(v.Bool()), nil
	case k == protoreflect.StringKind:
		return NewString(v.String()), nil
	case isSignedKind(k):
		if !pretty {
			return NewInt(v.Int()), nil
		}
		return prettyInt(fd, new(big.Int).SetInt64(v.Int()), o, hex), nil
	case isUnsignedKind(k):
		if !pretty {
			return NewUint(v.Uint()), nil
		}
		if !hex && o == (fieldOpts{}) {
			return NewUint(v.Uint()), nil
		}
		return prettyInt(fd, new(big.Int).SetUint64(v.Uint()), o, hex), nil
	}
	return nil, fmt.Errorf("field %s: unsupported type %s", fd.FullName(), k)
}

// kernMinorBits is how the kernel splits a dev_t it reports: the minor
// number in the low 20 bits.
const kernMinorBits = 20

// glibcMajor and glibcMinor split a dev_t in glibc's encoding (os.major and
// os.minor in Python).
func glibcMajor(dev uint64) uint64 { return (dev>>8)&0xfff | uint64(uint32(dev>>32)&^0xfff) }
func glibcMinor(dev uint64) uint64 { return dev&0xff | uint64(uint32(dev>>12)&^0xff) }

// glibcMakedev is os.makedev.
func glibcMakedev(major, minor uint64) uint64 {
	return (major&0xfffff000)<<32 | (major&0xfff)<<8 | (minor&0xffffff00)<<12 | minor&0xff
}

// prettyInt applies crit's rules for an integer in pretty mode, in crit's
// order: hex first, then dev, flags, dict.
func prettyInt(fd protoreflect.FieldDescriptor, v *big.Int, o fieldOpts, hex bool) *Node {
	switch {
	case hex:
		return NewString(pyHexBig(v))
	case o.dev:
		if o.odev {
			u := v.Uint64()
			return NewString(strconv.FormatUint(glibcMajor(u), 10) + ":" + strconv.FormatUint(glibcMinor(u), 10))
		}
		major := new(big.Int).Rsh(v, kernMinorBits)
		minor := new(big.Int).And(v, big.NewInt(1<<kernMinorBits-1))
		return NewString(major.String() + ":" + minor.String())
	case o.flags != "":
		bits, ok := flagMaps[o.flags]
		if !ok {
			return NewString(pyHexBig(v))
		}
		return NewString(formatFlags(v, bits))
	case o.dict != "" && v.IsInt64():
		if name, ok := dictLookup(o.dict, string(fd.Name()), v.Int64()); ok {
			return NewString(name)
		}
	}
	return &Node{Kind: Number, Str: v.String()}
}
