package crit

import (
	"encoding/binary"
	"math"
	"math/big"
	"strconv"
	"strings"

	"google.golang.org/protobuf/reflect/protoreflect"
)

// NodeToMessage fills m from n, the reverse of MessageToNode (pycriu's
// dict2pb): every key must name a field of m; a value may be in the pretty
// form (hex strings, flag names, "major:minor", addresses, dict names) or
// plain numbers. path names n in error messages ("entries[3]").
func NodeToMessage(n *Node, m protoreflect.Message, path string) error {
	if n.Kind != Object {
		return pathError(path, n, ErrType, "expecting an object for %s, got a %s", m.Descriptor().FullName(), n.Kind)
	}
	fields := m.Descriptor().Fields()
	for i, key := range n.Keys {
		val := n.Vals[i]
		fpath := joinPath(path, key)
		fd := fields.ByName(protoreflect.Name(key))
		if fd == nil {
			return pathError(fpath, val, ErrUnknownField, "%s has no field %q", m.Descriptor().FullName(), key)
		}
		if err := setField(m, fd, val, fpath); err != nil {
			return err
		}
	}
	return nil
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func setField(m protoreflect.Message, fd protoreflect.FieldDescriptor, n *Node, path string) error {
	o := optsOf(fd)
	if fd.IsMap() {
		return pathError(path, n, ErrType, "map fields are not supported")
	}
	if !fd.IsList() {
		if fd.Kind() == protoreflect.MessageKind {
			// Like SetInParent: an empty object still marks the field set.
			return NodeToMessage(n, m.Mutable(fd).Message(), path)
		}
		v, err := nodeToScalar(fd, n, o, path)
		if err != nil {
			return err
		}
		m.Set(fd, v)
		return nil
	}
	if n.Kind != Array {
		return pathError(path, n, ErrType, "expecting a list, got a %s", n.Kind)
	}
	l := m.Mutable(fd).List()
	if o.ipadd && len(n.Elems) > 0 && n.Elems[0].Kind == String {
		// crit reads only the first element as an address.
		words, err := ipWords(n.Elems[0], path+"[0]")
		if err != nil {
			return err
		}
		for _, w := range words {
			l.Append(protoreflect.ValueOfUint32(w))
		}
		return nil
	}
	for i, e := range n.Elems {
		epath := path + "[" + strconv.Itoa(i) + "]"
		if fd.Kind() == protoreflect.MessageKind {
			elem := l.NewElement()
			if err := NodeToMessage(e, elem.Message(), epath); err != nil {
				return err
			}
			l.Append(elem)
			continue
		}
		v, err := nodeToScalar(fd, e, o, epath)
		if err != nil {
			return err
		}
		l.Append(v)
	}
	return nil
}

// ipWords turns an address into the u32 words of an ipadd field.
func ipWords(n *Node, path string) ([]uint32, error) {
	a, err := parseIP(n.Str)
	if err != nil {
		return nil, pathError(path, n, ErrValue, "bad IP address %q", n.Str)
	}
	if a.Is4() {
		b := a.As4()
		return []uint32{binary.LittleEndian.Uint32(b[:])}, nil
	}
	b := a.As16()
	words := make([]uint32, 4)
	for i := range words {
		words[i] = binary.LittleEndian.Uint32(b[4*i:])
	}
	return words, nil
}

func nodeToScalar(fd protoreflect.FieldDescriptor, n *Node, o fieldOpts, path string) (protoreflect.Value, error) {
	k := fd.Kind()
	switch {
	case k == protoreflect.BytesKind:
		if n.Kind != String {
			return protoreflect.Value{}, pathError(path, n, ErrType, "expecting a string, got a %s", n.Kind)
		}
		var b []byte
		var err error
		switch o.conv {
		case "":
			b, err = decodeBase64(n.Str)
		case "unix_name":
			b, err = decodeQP(n.Str)
		default:
			return protoreflect.Value{}, pathError(path, n, ErrValue, "unknown conversion %q", o.conv)
		}
		if err != nil {
			return protoreflect.Value{}, pathError(path, n, ErrValue, "%v", err)
		}
		return protoreflect.ValueOfBytes(b), nil
	case k == protoreflect.EnumKind:
		if n.Kind == Number {
			// decode shows a number only for a value the enum does not
			// define (crit itself would fail there); take it back as is.
			// A defined value must be given by name, as crit requires.
			v, ok := new(big.Int).SetString(n.Str, 10)
			if !ok || !v.IsInt64() || v.Int64() < math.MinInt32 || v.Int64() > math.MaxInt32 {
				return protoreflect.Value{}, pathError(path, n, ErrValue, "enum number %s out of range", n.Str)
			}
			num := protoreflect.EnumNumber(v.Int64())
			if ev := fd.Enum().Values().ByNumber(num); ev != nil {
				return protoreflect.Value{}, pathError(path, n, ErrType, "expecting an enum name, got a number (%d is %s)", num, ev.Name())
			}
			return protoreflect.ValueOfEnum(num), nil
		}
		if n.Kind != String {
			return protoreflect.Value{}, pathError(path, n, ErrType, "expecting an enum name, got a %s", n.Kind)
		}
		ev := fd.Enum().Values().ByName(protoreflect.Name(n.Str))
		if ev == nil {
			return protoreflect.Value{}, pathError(path, n, ErrValue, "%s has no value %q", fd.Enum().FullName(), n.Str)
		}
		return protoreflect.ValueOfEnum(ev.Number()), nil
	case k == protoreflect.BoolKind:
		if n.Kind != Bool {
			return protoreflect.Value{}, pathError(path, n, ErrType, "expecting true or false, got a %s", n.Kind)
		}
		return protoreflect.ValueOfBool(n.Bool), nil
	case k == protoreflect.StringKind:
		if n.Kind != String {
			return protoreflect.Value{}, pathError(path, n, ErrType, "expecting a string, got a %s", n.Kind)
		}
		return protoreflect.ValueOfString(n.Str), nil
	case isSignedKind(k) || isUnsignedKind(k):
		v, err := nodeToInt(fd, n, o, path)
		if err != nil {
			return protoreflect.Value{}, err
		}
		return intValue(k, v, n, path)
	}
	return protoreflect.Value{}, pathError(path, n, ErrType, "unsupported field type %s", k)
}

// nodeToInt reads an integer field's value: a JSON integer, or one of the
// strings pretty output uses, read as crit does (dev, then flags, then
// dict, then int(s, 0)).
func nodeToInt(fd protoreflect.FieldDescriptor, n *Node, o fieldOpts, path string) (*big.Int, error) {
	switch n.Kind {
	case Number:
		v, ok := new(big.Int).SetString(n.Str, 10)
		if !ok {
			return nil, pathError(path, n, ErrType, "expecting an integer, got %s", n.Str)
		}
		return v, nil
	case String:
	default:
		return nil, pathError(path, n, ErrType, "expecting an integer, got a %s", n.Kind)
	}
	s := n.Str
	if o.dev {
		v, err := parseDev(s, o.odev)
		if err != nil {
			return nil, pathError(path, n, ErrValue, "bad device number %q, expecting \"major:minor\"", s)
		}
		return v, nil
	}
	if o.flags != "" {
		if bits, ok := flagMaps[o.flags]; ok {
			v, err := parseFlags(s, bits)
			if err != nil {
				return nil, pathError(path, n, ErrValue, "%v", err)
			}
			return v, nil
		}
	}
	if o.dict != "" {
		if v, ok := dictReverse(o.dict, string(fd.Name()), s); ok {
			return big.NewInt(v), nil
		}
	}
	v, err := parsePyInt(s)
	if err != nil {
		what := "integer"
		if o.hex || strings.HasPrefix(strings.TrimSpace(s), "0x") {
			what = "hex number"
		}
		return nil, pathError(path, n, ErrValue, "bad %s %q", what, s)
	}
	return v, nil
}

// parseDev reads "major:minor" (decimal parts, as Python's int(x)).
func parseDev(s string, odev bool) (*big.Int, error) {
	parts := strings.Split(s, ":")
	if len(parts) != 2 {
		return nil, errBadInt
	}
	var mm [2]uint64
	for i, p := range parts {
		v, err := strconv.ParseUint(strings.ReplaceAll(strings.TrimSpace(p), "_", ""), 10, 32)
		if err != nil {
			return nil, err
		}
		mm[i] = v
	}
	if odev {
		return new(big.Int).SetUint64(glibcMakedev(mm[0], mm[1])), nil
	}
	return new(big.Int).SetUint64(mm[0]<<kernMinorBits | mm[1]), nil
}

// intValue checks that v fits the field's type and wraps it.
func intValue(k protoreflect.Kind, v *big.Int, n *Node, path string) (protoreflect.Value, error) {
	var lo, hi *big.Int
	switch k {
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		lo, hi = big.NewInt(math.MinInt32), big.NewInt(math.MaxInt32)
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		lo, hi = big.NewInt(math.MinInt64), big.NewInt(math.MaxInt64)
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		lo, hi = new(big.Int), big.NewInt(math.MaxUint32)
	default:
		lo, hi = new(big.Int), new(big.Int).SetUint64(math.MaxUint64)
	}
	if v.Cmp(lo) < 0 || v.Cmp(hi) > 0 {
		return protoreflect.Value{}, pathError(path, n, ErrValue, "%s out of range for %s", v, k)
	}
	switch k {
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return protoreflect.ValueOfInt32(int32(v.Int64())), nil
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return protoreflect.ValueOfInt64(v.Int64()), nil
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return protoreflect.ValueOfUint32(uint32(v.Uint64())), nil
	}
	return protoreflect.ValueOfUint64(v.Uint64()), nil
}
