package crit

import "google.golang.org/protobuf/reflect/protoreflect"

// Field access by name, for the explorers, which read a few fields of
// several messages the way crit reads its dicts. A field the message lacks
// or has not set reads as zero.

func fieldDesc(m protoreflect.Message, name string) protoreflect.FieldDescriptor {
	if m == nil || !m.IsValid() {
		return nil
	}
	return m.Descriptor().Fields().ByName(protoreflect.Name(name))
}

// hasField reports whether m has field name set.
func hasField(m protoreflect.Message, name string) bool {
	fd := fieldDesc(m, name)
	return fd != nil && m.Has(fd)
}

// intByName reads an integer field as int64 (unsigned values keep their
// bits).
func intByName(m protoreflect.Message, name string) int64 {
	fd := fieldDesc(m, name)
	if fd == nil || fd.IsList() {
		return 0
	}
	v := m.Get(fd)
	switch {
	case isSignedKind(fd.Kind()):
		return v.Int()
	case isUnsignedKind(fd.Kind()):
		return int64(v.Uint())
	case fd.Kind() == protoreflect.EnumKind:
		return int64(v.Enum())
	}
	return 0
}

// uintByName reads an integer field as uint64.
func uintByName(m protoreflect.Message, name string) uint64 {
	return uint64(intByName(m, name))
}

// strByName reads a string field, or a bytes field as its bytes.
func strByName(m protoreflect.Message, name string) string {
	fd := fieldDesc(m, name)
	if fd == nil || fd.IsList() {
		return ""
	}
	switch fd.Kind() {
	case protoreflect.StringKind:
		return m.Get(fd).String()
	case protoreflect.BytesKind:
		return string(m.Get(fd).Bytes())
	}
	return ""
}

// enumNameByName reads an enum field as its value's name.
func enumNameByName(m protoreflect.Message, name string) string {
	fd := fieldDesc(m, name)
	if fd == nil || fd.Kind() != protoreflect.EnumKind || fd.IsList() {
		return ""
	}
	if ev := fd.Enum().Values().ByNumber(m.Get(fd).Enum()); ev != nil {
		return string(ev.Name())
	}
	return ""
}

// msgByName returns a message field, or nil when it is not set.
func msgByName(m protoreflect.Message, name string) protoreflect.Message {
	fd := fieldDesc(m, name)
	if fd == nil || fd.Kind() != protoreflect.MessageKind || fd.IsList() || !m.Has(fd) {
		return nil
	}
	return m.Get(fd).Message()
}

// listByName returns a repeated field, or nil when m has no such field.
func listByName(m protoreflect.Message, name string) protoreflect.List {
	fd := fieldDesc(m, name)
	if fd == nil || !fd.IsList() {
		return nil
	}
	return m.Get(fd).List()
}
