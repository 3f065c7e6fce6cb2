package image

import (
	"encoding/binary"
	"fmt"
	"io"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// marshal encodes the way CRIU's protobuf-c does: fields in field-number
// order, packed where the .proto says so, set optional fields only. The
// Deterministic option keeps the bytes stable from run to run.
var marshal = proto.MarshalOptions{Deterministic: true}

// zeros is the source of padding bytes (at most 7 are ever needed).
var zeros [8]byte

// Writer writes an image file one entry at a time. It writes the header
// when created and checks every entry against the kind: the message type,
// and that a payload has the length its message announces.
type Writer struct {
	w    io.Writer
	kind *Kind
	n    int   // entries written
	off  int64 // bytes written
	buf  []byte

	ended bool  // GHOST_FILE written whole: nothing may follow
	err   error // sticky I/O error
}

// NewWriter writes the header of an image of kind k to w and returns a
// Writer for its entries. Raw kinds have no header and no entries:
// ErrRawImage.
func NewWriter(w io.Writer, k *Kind) (*Writer, error) {
	if k == nil {
		return nil, fmt.Errorf("write image: no kind: %w", ErrBadEntry)
	}
	if k.Raw() {
		return nil, fmt.Errorf("write %s image: %w", k.Name, ErrRawImage)
	}
	wr := &Writer{w: w, kind: k}
	var hdr []byte
	if set := k.SetMagic(); set != RawMagic {
		hdr = binary.LittleEndian.AppendUint32(hdr, set)
	}
	hdr = binary.LittleEndian.AppendUint32(hdr, k.Magic)
	if err := wr.write(hdr); err != nil {
		return nil, fmt.Errorf("write %s image header: %w", k.Name, err)
	}
	return wr, nil
}

// Offset returns how many bytes have been written, header included.
func (w *Writer) Offset() int64 { return w.off }

// Write appends one entry and its payload. An entry that does not fit the
// image is ErrBadEntry and writes nothing; after an I/O error every Write
// returns that error.
func (w *Writer) Write(e Entry) error {
	if w.err != nil {
		return w.err
	}
	if err := w.writeEntry(e); err != nil {
		return fmt.Errorf("write %s entry %d: %w", w.kind.Name, w.n, err)
	}
	w.n++
	return nil
}

// WriteMessage appends an entry that has no payload.
func (w *Writer) WriteMessage(m proto.Message) error {
	return w.Write(Entry{Msg: m})
}

func (w *Writer) writeEntry(e Entry) error {
	if w.ended {
		return fmt.Errorf("ghost file content already written: %w", ErrBadEntry)
	}
	want := w.kind.Message
	if w.n == 0 && w.kind.Head != "" {
		want = w.kind.Head
	}
	if e.Msg == nil {
		return fmt.Errorf("no message: %w", ErrBadEntry)
	}
	if got := e.Msg.ProtoReflect().Descriptor().FullName(); got != want {
		return fmt.Errorf("message %s, image holds %s: %w", got, want, ErrBadEntry)
	}
	// Check the payload before writing anything, so a bad entry leaves
	// the file as it was.
	payload, err := w.payload(e)
	if err != nil {
		return err
	}
	if err := w.writeMessage(e.Msg); err != nil {
		return err
	}
	for _, p := range payload {
		if err := w.write(p); err != nil {
			return err
		}
	}
	// A ghost file's whole content runs to the end of the file.
	w.ended = w.kind.layout == layoutGhost && w.n == 0 && !w.chunked(e)
	return nil
}

// chunked reports whether a GHOST_FILE head announces chunk entries; the
// head was checked by payload before this is asked.
func (w *Writer) chunked(head Entry) bool {
	chunks, _ := boolField(head.Msg, fieldGhostChunks)
	return chunks
}

// writeMessage writes one u32 size and the encoded message.
func (w *Writer) writeMessage(m proto.Message) error {
	buf, err := marshal.MarshalAppend(append(w.buf[:0], 0, 0, 0, 0), m)
	if err != nil {
		return fmt.Errorf("encode %s: %w: %w", m.ProtoReflect().Descriptor().FullName(), ErrBadEntry, err)
	}
	w.buf = buf
	size := len(buf) - 4
	if size > MaxEntrySize {
		return fmt.Errorf("entry size %d exceeds limit %d: %w", size, MaxEntrySize, ErrTooLarge)
	}
	binary.LittleEndian.PutUint32(buf, uint32(size))
	return w.write(buf)
}

// payload returns the pieces to write after e.Msg, checked against the
// lengths the message announces.
func (w *Writer) payload(e Entry) ([][]byte, error) {
	ex := e.Extra
	if ex == nil {
		ex = &Extra{}
	}
	if !w.kind.HasPayload() {
		if e.Extra != nil {
			return nil, fmt.Errorf("%s entries carry no payload: %w", w.kind.Name, ErrBadEntry)
		}
		return nil, nil
	}
	switch w.kind.layout {
	case layoutPipeData:
		return sized(e.Msg, fieldPipeDataBytes, ex.Data, 0)
	case layoutSkQueue:
		return sized(e.Msg, fieldSkPacketLength, ex.Data, 0)
	case layoutTCP:
		inq, err := sized(e.Msg, fieldTCPInqLen, ex.InQ, 0)
		if err != nil {
			return nil, err
		}
		outq, err := sized(e.Msg, fieldTCPOutqLen, ex.OutQ, 0)
		if err != nil {
			return nil, err
		}
		return append(inq, outq...), nil
	case layoutGhost:
		if w.n > 0 {
			return sized(e.Msg, fieldGhostChunkLen, ex.Data, 0)
		}
		chunks, err := boolField(e.Msg, fieldGhostChunks)
		if err != nil {
			return nil, err
		}
		if chunks {
			if len(ex.Data) > 0 {
				return nil, fmt.Errorf("chunked ghost file with data in its head entry: %w", ErrBadEntry)
			}
			return nil, nil
		}
		return [][]byte{ex.Data}, nil
	case layoutShm:
		inPagemaps, err := boolField(e.Msg, fieldShmInPagemaps)
		if err != nil {
			return nil, err
		}
		if inPagemaps {
			if len(ex.Data) > 0 {
				return nil, fmt.Errorf("shm segment kept in pagemaps with inline data: %w", ErrBadEntry)
			}
			return nil, nil
		}
		return sized(e.Msg, fieldShmSize, ex.Data, 4)
	case layoutSem:
		nsems, err := uintField(e.Msg, fieldSemNsems)
		if err != nil {
			return nil, err
		}
		if uint64(len(ex.Sems)) != nsems {
			return nil, fmt.Errorf("%d semaphore values, nsems is %d: %w", len(ex.Sems), nsems, ErrBadEntry)
		}
		raw := make([]byte, 0, len(ex.Sems)*2)
		for _, v := range ex.Sems {
			raw = binary.LittleEndian.AppendUint16(raw, v)
		}
		return [][]byte{raw, zeros[:padding(uint64(len(raw)), 8)]}, nil
	case layoutMsg:
		return msgQueue(e.Msg, ex.Msgs)
	case layoutBPF:
		keys, err := uintField(e.Msg, fieldBPFKeysBytes)
		if err != nil {
			return nil, err
		}
		values, err := uintField(e.Msg, fieldBPFValuesBytes)
		if err != nil {
			return nil, err
		}
		if uint64(len(ex.Data)) != keys+values {
			return nil, fmt.Errorf("%d bytes of keys and values, entry says %d+%d: %w", len(ex.Data), keys, values, ErrBadEntry)
		}
		return [][]byte{ex.Data}, nil
	}
	return nil, nil
}

// sized checks that data has the length field num of msg gives, and
// returns it with its padding to align.
func sized(msg proto.Message, num protoreflect.FieldNumber, data []byte, align uint64) ([][]byte, error) {
	n, err := uintField(msg, num)
	if err != nil {
		return nil, err
	}
	if uint64(len(data)) != n {
		name := msg.ProtoReflect().Descriptor().Fields().ByNumber(num).FullName()
		return nil, fmt.Errorf("payload of %d bytes, %s is %d: %w", len(data), name, n, ErrBadEntry)
	}
	return [][]byte{data, zeros[:padding(n, align)]}, nil
}

// msgQueue encodes the messages of one queue: each an ipc_msg entry with
// its size, then its bytes padded to 8.
func msgQueue(entry proto.Message, msgs []IPCMsg) ([][]byte, error) {
	qnum, err := uintField(entry, fieldMsgQnum)
	if err != nil {
		return nil, err
	}
	if uint64(len(msgs)) != qnum {
		return nil, fmt.Errorf("%d messages, qnum is %d: %w", len(msgs), qnum, ErrBadEntry)
	}
	var out [][]byte
	for i, m := range msgs {
		if m.Hdr == nil || m.Hdr.ProtoReflect().Descriptor().FullName() != ipcMsgName {
			return nil, fmt.Errorf("message %d: header is not %s: %w", i, ipcMsgName, ErrBadEntry)
		}
		hdr, err := marshal.MarshalAppend([]byte{0, 0, 0, 0}, m.Hdr)
		if err != nil {
			return nil, fmt.Errorf("encode message %d: %w: %w", i, ErrBadEntry, err)
		}
		binary.LittleEndian.PutUint32(hdr, uint32(len(hdr)-4))
		data, err := sized(m.Hdr, fieldIPCMsgMsize, m.Data, 8)
		if err != nil {
			return nil, fmt.Errorf("message %d: %w", i, err)
		}
		out = append(out, hdr)
		out = append(out, data...)
	}
	return out, nil
}

// write writes p whole, counting it, and remembers a failure.
func (w *Writer) write(p []byte) error {
	if len(p) == 0 {
		return nil
	}
	n, err := w.w.Write(p)
	w.off += int64(n)
	if err != nil {
		w.err = err
		return err
	}
	return nil
}

// WriteImage writes a whole image: header, then every entry with its payload.
func WriteImage(w io.Writer, img *Image) error {
	if img == nil {
		return fmt.Errorf("write image: nil image: %w", ErrBadEntry)
	}
	wr, err := NewWriter(w, img.Kind)
	if err != nil {
		return err
	}
	for _, e := range img.Entries {
		if err := wr.Write(e); err != nil {
			return err
		}
	}
	return nil
}
