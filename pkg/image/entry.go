package image

import "google.golang.org/protobuf/proto"

// Image is one decoded image file: its kind and its entries in file order.
//
// For PAGEMAP (and SHMEM_PAGEMAP) images Entries[0] holds the head message
// (pagemap_head) and the rest hold pagemap_entry messages. For GHOST_FILE
// images Entries[0] holds the ghost_file_entry; when it has chunks set, each
// following entry is a ghost_chunk_entry with its bytes in Extra.Data,
// otherwise the whole file content is Entries[0].Extra.Data.
type Image struct {
	Kind    *Kind
	Entries []Entry
}

// Entry is one protobuf message of an image and the payload, if any, that the
// format places right after it in the file.
//
// A Reader sets Extra on every entry of a kind with payloads (Kind.HasPayload),
// empty when the payload is, except on the head of a chunked GHOST_FILE; it
// is nil for other kinds. A Writer takes a nil Extra as an empty payload.
type Entry struct {
	Msg   proto.Message
	Extra *Extra
}

// Extra is the payload that follows an entry in the kinds that carry one.
// Only the fields of the entry's kind are set.
type Extra struct {
	// Data: PIPES_DATA, FIFO_DATA, SK_QUEUES, BPFMAP_DATA, IPCNS_SHM, GHOST_FILE
	// (unpadded; padding is added back on write).
	Data []byte
	// InQ and OutQ: TCP_STREAM receive and send queues.
	InQ, OutQ []byte
	// Sems: IPCNS_SEM semaphore values.
	Sems []uint16
	// Msgs: IPCNS_MSG queued messages, each an ipc_msg header and its bytes.
	Msgs []IPCMsg
}

// IPCMsg is one message of a SysV message queue in an IPCNS_MSG image.
type IPCMsg struct {
	Hdr  proto.Message
	Data []byte
}
