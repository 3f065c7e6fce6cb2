package image

import (
	"fmt"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	// The table names messages; this registers them.
	_ "github.com/criugo/criugo/images"
)

// Field numbers the framing reads. They are CRIU's and never change, so
// the framing does not depend on what the generated Go fields are called.
const (
	fieldPipeDataBytes    = 2 // pipe_data_entry.bytes
	fieldSkPacketLength   = 2 // sk_packet_entry.length
	fieldTCPInqLen        = 1 // tcp_stream_entry.inq_len
	fieldTCPOutqLen       = 3 // tcp_stream_entry.outq_len
	fieldShmSize          = 2 // ipc_shm_entry.size
	fieldShmInPagemaps    = 3 // ipc_shm_entry.in_pagemaps
	fieldSemNsems         = 2 // ipc_sem_entry.nsems
	fieldMsgQnum          = 3 // ipc_msg_entry.qnum
	fieldIPCMsgMsize      = 2 // ipc_msg.msize
	fieldBPFKeysBytes     = 2 // bpfmap_data_entry.keys_bytes
	fieldBPFValuesBytes   = 3 // bpfmap_data_entry.values_bytes
	fieldGhostChunks      = 9 // ghost_file_entry.chunks
	fieldGhostChunkLen    = 1 // ghost_chunk_entry.len
	fieldPagemapCompatNr  = 2 // pagemap_entry.compat_nr_pages (u32, CRIU < 4 wrote the count here)
	fieldPagemapNrPages   = 5 // pagemap_entry.nr_pages (u64, CRIU 4.x)
	fieldPagemapHeadPages = 1 // pagemap_head.pages_id
)

// ipcMsgName is the message of one queued SysV message in IPCNS_MSG images.
const ipcMsgName protoreflect.FullName = "criu.ipc_msg"

// NewMessage returns a new empty message of the registered type name.
func NewMessage(name protoreflect.FullName) (proto.Message, error) {
	mt, err := protoregistry.GlobalTypes.FindMessageByName(name)
	if err != nil {
		return nil, fmt.Errorf("find message %s: %w", name, ErrSchema)
	}
	return mt.New().Interface(), nil
}

// fieldByNumber finds field num of m's message or says the schema lacks it.
func fieldByNumber(m protoreflect.Message, num protoreflect.FieldNumber) (protoreflect.FieldDescriptor, error) {
	fd := m.Descriptor().Fields().ByNumber(num)
	if fd == nil {
		return nil, fmt.Errorf("%s has no field %d: %w", m.Descriptor().FullName(), num, ErrSchema)
	}
	return fd, nil
}

// uintField reads integer field num of m; unset fields read as their default.
func uintField(m proto.Message, num protoreflect.FieldNumber) (uint64, error) {
	mr := m.ProtoReflect()
	fd, err := fieldByNumber(mr, num)
	if err != nil {
		return 0, err
	}
	v := mr.Get(fd)
	switch fd.Kind() {
	case protoreflect.Uint32Kind, protoreflect.Uint64Kind, protoreflect.Fixed32Kind, protoreflect.Fixed64Kind:
		return v.Uint(), nil
	case protoreflect.Int32Kind, protoreflect.Int64Kind, protoreflect.Sint32Kind, protoreflect.Sint64Kind,
		protoreflect.Sfixed32Kind, protoreflect.Sfixed64Kind:
		if v.Int() < 0 {
			return 0, fmt.Errorf("%s is negative (%d): %w", fd.FullName(), v.Int(), ErrCorrupt)
		}
		return uint64(v.Int()), nil
	}
	return 0, fmt.Errorf("%s is not an integer: %w", fd.FullName(), ErrSchema)
}

// boolField reads bool field num of m; unset reads as its default.
func boolField(m proto.Message, num protoreflect.FieldNumber) (bool, error) {
	mr := m.ProtoReflect()
	fd, err := fieldByNumber(mr, num)
	if err != nil {
		return false, err
	}
	if fd.Kind() != protoreflect.BoolKind {
		return false, fmt.Errorf("%s is not a bool: %w", fd.FullName(), ErrSchema)
	}
	return mr.Get(fd).Bool(), nil
}

// PagemapNrPages returns how many pages a pagemap_entry covers: nr_pages
// (field 5) when set, as CRIU 4.x writes it, otherwise compat_nr_pages
// (field 2), where older CRIU kept the count.
func PagemapNrPages(m proto.Message) (uint64, error) {
	mr := m.ProtoReflect()
	fd, err := fieldByNumber(mr, fieldPagemapNrPages)
	if err != nil {
		return 0, err
	}
	if mr.Has(fd) {
		return uintField(m, fieldPagemapNrPages)
	}
	return uintField(m, fieldPagemapCompatNr)
}

// SetPagemapNrPages stores n in a pagemap_entry the way CRIU 4.2 does:
// nr_pages (field 5) set to n and compat_nr_pages (field 2) set to 0.
func SetPagemapNrPages(m proto.Message, n uint64) error {
	mr := m.ProtoReflect()
	nr, err := fieldByNumber(mr, fieldPagemapNrPages)
	if err != nil {
		return err
	}
	compat, err := fieldByNumber(mr, fieldPagemapCompatNr)
	if err != nil {
		return err
	}
	if nr.Kind() != protoreflect.Uint64Kind || compat.Kind() != protoreflect.Uint32Kind {
		return fmt.Errorf("%s: nr_pages fields have unexpected types: %w", mr.Descriptor().FullName(), ErrSchema)
	}
	mr.Set(nr, protoreflect.ValueOfUint64(n))
	mr.Set(compat, protoreflect.ValueOfUint32(0))
	return nil
}

// PagemapPagesID returns pages_id of a pagemap_head: the n of the
// pages-<n>.img file that holds the pages the pagemap describes.
func PagemapPagesID(head proto.Message) (uint64, error) {
	return uintField(head, fieldPagemapHeadPages)
}
