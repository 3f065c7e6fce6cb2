package crit

import (
	"sync"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// criuOptsField is the number of CRIU's extension of
// google.protobuf.FieldOptions (opts.proto: optional CRIU_Opts criu = 1018).
const criuOptsField = 1018

// fieldOpts is a field's (criu) option: how crit shows its value.
type fieldOpts struct {
	hex   bool   // "0x%x"
	ipadd bool   // repeated u32 -> one IPv4/IPv6 address string
	dev   bool   // "major:minor", kernel encoding (minor in the low 20 bits)
	odev  bool   // with dev: the old glibc dev_t encoding
	flags string // name of a flag table (flagMaps)
	dict  string // name of a value-name table (dictMaps)
	conv  string // bytes conversion other than base64 ("unix_name")
}

var optsCache sync.Map // protoreflect.FieldDescriptor -> fieldOpts

// optsOf reads the (criu) option of fd. It reads the option's wire form,
// not a generated extension type, so it works whether or not the
// extension is registered (dynamic descriptors keep it as unknown bytes).
func optsOf(fd protoreflect.FieldDescriptor) fieldOpts {
	if v, ok := optsCache.Load(fd); ok {
		return v.(fieldOpts)
	}
	var o fieldOpts
	if opts := fd.Options(); opts != nil {
		if raw, err := proto.Marshal(opts); err == nil {
			o = parseCriuOpts(raw)
		}
	}
	optsCache.Store(fd, o)
	return o
}

// parseCriuOpts finds field 1018 in serialized FieldOptions and decodes the
// CRIU_Opts message in it (hex=1, ipadd=2, flags=3, dev=4, odev=5, dict=6,
// conv=7). Malformed bytes end the scan with what was read so far.
func parseCriuOpts(b []byte) fieldOpts {
	var o fieldOpts
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return o
		}
		b = b[n:]
		if num == criuOptsField && typ == protowire.BytesType {
			inner, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return o
			}
			o = mergeCriuOpts(o, inner)
			b = b[n:]
			continue
		}
		n = protowire.ConsumeFieldValue(num, typ, b)
		if n < 0 {
			return o
		}
		b = b[n:]
	}
	return o
}

func mergeCriuOpts(o fieldOpts, b []byte) fieldOpts {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return o
		}
		b = b[n:]
		switch {
		case typ == protowire.VarintType:
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return o
			}
			b = b[n:]
			switch num {
			case 1:
				o.hex = v != 0
			case 2:
				o.ipadd = v != 0
			case 4:
				o.dev = v != 0
			case 5:
				o.odev = v != 0
			}
		case typ == protowire.BytesType:
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return o
			}
			b = b[n:]
			switch num {
			case 3:
				o.flags = string(v)
			case 6:
				o.dict = string(v)
			case 7:
				o.conv = string(v)
			}
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return o
			}
			b = b[n:]
		}
	}
	return o
}
