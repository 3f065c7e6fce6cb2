package image

import (
	"encoding/binary"
	"fmt"
	"io"
	"path"
	"slices"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// unmarshal decodes like CRIU's protobuf-c: unknown fields are kept (so a
// re-encode gives them back) and missing required fields are an error.
var unmarshal = proto.UnmarshalOptions{}

// Reader reads an image file one entry at a time, so that a pagemap of a
// huge task or a long list of files never has to sit in memory at once.
type Reader struct {
	r    io.Reader
	name string
	kind *Kind
	off  int64 // bytes consumed so far
	n    int   // entries returned so far

	ghostChunks bool  // GHOST_FILE: entries after the head are chunks
	ended       bool  // GHOST_FILE: the content ran to the end of the file
	err         error // sticky: once set, every Next returns it
}

// NewReader reads the header of an image file and returns a Reader for its
// entries. name is used in errors and, when it is a CRIU file name, checked
// against the magic: "core-1.img" holding an MM header is ErrBadMagic. A
// raw image name (pages-1.img) is ErrRawImage before anything is read.
// The Reader reads r in small pieces (a u32, then one message); give it a
// buffered reader when r is a file or a pipe.
func NewReader(r io.Reader, name string) (*Reader, error) {
	rd := &Reader{r: r, name: name}
	fileKind := KindForFile(path.Base(name))
	if name != "" && fileKind != nil && fileKind.Raw() {
		return nil, atOffset(name, 0, fmt.Errorf("%s: %w", fileKind.Name, ErrRawImage))
	}
	first, err := rd.readU32()
	if err != nil {
		return nil, atOffset(name, 0, fmt.Errorf("header: %w", truncated(err)))
	}
	var k *Kind
	switch first {
	case ImgCommonMagic, ImgServiceMagic:
		m, err := rd.readU32()
		if err != nil {
			return nil, atOffset(name, 4, fmt.Errorf("header: %w", truncated(err)))
		}
		if k = KindByMagic(m); k == nil {
			return nil, atOffset(name, 4, fmt.Errorf("magic %#08x: %w", m, ErrUnknownMagic))
		}
		if k.SetMagic() != first {
			return nil, atOffset(name, 0, fmt.Errorf("%s image after set magic %#08x: %w", k.Name, first, ErrBadMagic))
		}
	case Inventory.Magic:
		k = Inventory
	default:
		return nil, atOffset(name, 0, fmt.Errorf("magic %#08x: %w", first, ErrBadMagic))
	}
	if fileKind != nil && fileKind.Magic != k.Magic {
		return nil, atOffset(name, 0, fmt.Errorf("file name is for %s, magic is %s: %w", fileKind.Name, k.Name, ErrBadMagic))
	}
	rd.kind = k
	return rd, nil
}

// Kind returns the image's kind, found from its magic. For magics several
// kinds share it is the one crit names (PAGEMAP for pagemap-shmem-*.img).
func (r *Reader) Kind() *Kind { return r.kind }

// Offset returns how many bytes of the file have been consumed.
func (r *Reader) Offset() int64 { return r.off }

// Next returns the next entry with its payload. At a clean end of the file
// (the input ends right after an entry) it returns io.EOF; an input that
// ends inside an entry is ErrTruncated. After an error, Next keeps
// returning that error.
func (r *Reader) Next() (Entry, error) {
	if r.err != nil {
		return Entry{}, r.err
	}
	e, err := r.next()
	if err != nil {
		r.err = err
	}
	return e, err
}

func (r *Reader) next() (Entry, error) {
	if r.ended {
		return Entry{}, io.EOF
	}
	msgName := r.kind.Message
	if r.n == 0 && r.kind.Head != "" {
		msgName = r.kind.Head
	}
	start := r.off
	msg, err := r.readMessage(msgName)
	if err == io.EOF {
		return Entry{}, io.EOF
	}
	if err != nil {
		return Entry{}, atOffset(r.name, start, err)
	}
	r.n++
	e := Entry{Msg: msg}
	payloadAt := r.off
	if e.Extra, err = r.readPayload(msg); err != nil {
		return Entry{}, atOffset(r.name, payloadAt, fmt.Errorf("payload of %s entry %d: %w", r.kind.Name, r.n-1, err))
	}
	return e, nil
}

// readMessage reads one u32 size and the message after it. It returns a
// bare io.EOF only when the input ends exactly before the size.
func (r *Reader) readMessage(name protoreflect.FullName) (proto.Message, error) {
	size, err := r.readU32()
	if err == io.EOF {
		return nil, io.EOF
	}
	if err != nil {
		return nil, fmt.Errorf("entry size: %w", truncated(err))
	}
	if size > MaxEntrySize {
		return nil, fmt.Errorf("entry size %d exceeds limit %d: %w", size, MaxEntrySize, ErrTooLarge)
	}
	buf, err := r.readN(uint64(size))
	if err != nil {
		return nil, fmt.Errorf("entry of %d bytes: %w", size, err)
	}
	msg, err := NewMessage(name)
	if err != nil {
		return nil, err
	}
	if err := unmarshal.Unmarshal(buf, msg); err != nil {
		return nil, fmt.Errorf("decode %s: %w: %w", name, ErrCorrupt, err)
	}
	return msg, nil
}

// readPayload reads what the kind's layout puts after msg.
func (r *Reader) readPayload(msg proto.Message) (*Extra, error) {
	switch r.kind.layout {
	case layoutPipeData:
		return r.sizedData(msg, fieldPipeDataBytes)
	case layoutSkQueue:
		return r.sizedData(msg, fieldSkPacketLength)
	case layoutTCP:
		inq, err := r.fieldData(msg, fieldTCPInqLen, 0)
		if err != nil {
			return nil, err
		}
		outq, err := r.fieldData(msg, fieldTCPOutqLen, 0)
		if err != nil {
			return nil, err
		}
		return &Extra{InQ: inq, OutQ: outq}, nil
	case layoutGhost:
		return r.ghostPayload(msg)
	case layoutShm:
		inPagemaps, err := boolField(msg, fieldShmInPagemaps)
		if err != nil {
			return nil, err
		}
		if inPagemaps {
			// CRIU 4.x keeps the segment's contents in a pagemap-shmem image.
			return &Extra{}, nil
		}
		data, err := r.fieldData(msg, fieldShmSize, 4)
		if err != nil {
			return nil, err
		}
		return &Extra{Data: data}, nil
	case layoutSem:
		return r.semPayload(msg)
	case layoutMsg:
		return r.msgPayload(msg)
	case layoutBPF:
		keys, err := uintField(msg, fieldBPFKeysBytes)
		if err != nil {
			return nil, err
		}
		values, err := uintField(msg, fieldBPFValuesBytes)
		if err != nil {
			return nil, err
		}
		data, err := r.readPayloadBytes(keys+values, 0)
		if err != nil {
			return nil, err
		}
		return &Extra{Data: data}, nil
	}
	return nil, nil
}

// sizedData reads as many bytes as integer field num of msg says.
func (r *Reader) sizedData(msg proto.Message, num protoreflect.FieldNumber) (*Extra, error) {
	data, err := r.fieldData(msg, num, 0)
	if err != nil {
		return nil, err
	}
	return &Extra{Data: data}, nil
}

// fieldData reads as many bytes as field num of msg says, then skips the
// padding up to a multiple of align (when align > 1).
func (r *Reader) fieldData(msg proto.Message, num protoreflect.FieldNumber, align uint64) ([]byte, error) {
	n, err := uintField(msg, num)
	if err != nil {
		return nil, err
	}
	return r.readPayloadBytes(n, align)
}

// readPayloadBytes reads n payload bytes and skips padding to align.
func (r *Reader) readPayloadBytes(n, align uint64) ([]byte, error) {
	if n > MaxPayloadSize {
		return nil, fmt.Errorf("payload size %d exceeds limit %d: %w", n, MaxPayloadSize, ErrTooLarge)
	}
	data, err := r.readN(n)
	if err != nil {
		return nil, fmt.Errorf("%d bytes: %w", n, err)
	}
	if pad := padding(n, align); pad > 0 {
		if _, err := r.readN(pad); err != nil {
			return nil, fmt.Errorf("padding: %w", err)
		}
	}
	return data, nil
}

// ghostPayload: the head says whether the content follows whole (to the end
// of the file) or as chunk entries, each followed by its bytes.
func (r *Reader) ghostPayload(msg proto.Message) (*Extra, error) {
	if r.n > 1 {
		return r.sizedData(msg, fieldGhostChunkLen)
	}
	chunks, err := boolField(msg, fieldGhostChunks)
	if err != nil {
		return nil, err
	}
	if chunks {
		r.ghostChunks = true
		return nil, nil
	}
	r.ended = true
	data, err := r.readToEOF()
	if err != nil {
		return nil, err
	}
	return &Extra{Data: data}, nil
}

// semPayload: nsems u16 values, padded to 8 bytes.
func (r *Reader) semPayload(msg proto.Message) (*Extra, error) {
	nsems, err := uintField(msg, fieldSemNsems)
	if err != nil {
		return nil, err
	}
	if nsems > MaxPayloadSize/2 {
		return nil, fmt.Errorf("%d semaphores exceed limit: %w", nsems, ErrTooLarge)
	}
	raw, err := r.readPayloadBytes(2*nsems, 8)
	if err != nil {
		return nil, err
	}
	sems := make([]uint16, nsems)
	for i := range sems {
		sems[i] = binary.LittleEndian.Uint16(raw[2*i:])
	}
	return &Extra{Sems: sems}, nil
}

// msgPayload: qnum messages, each an ipc_msg entry (u32 size + protobuf)
// followed by msize bytes padded to 8.
func (r *Reader) msgPayload(msg proto.Message) (*Extra, error) {
	qnum, err := uintField(msg, fieldMsgQnum)
	if err != nil {
		return nil, err
	}
	ex := &Extra{}
	var total uint64
	for i := uint64(0); i < qnum; i++ {
		hdr, err := r.readMessage(ipcMsgName)
		if err != nil {
			return nil, fmt.Errorf("message %d of %d: %w", i, qnum, truncated(err))
		}
		msize, err := uintField(hdr, fieldIPCMsgMsize)
		if err != nil {
			return nil, err
		}
		if total += msize; total > MaxPayloadSize {
			return nil, fmt.Errorf("queue of %d bytes exceeds limit %d: %w", total, MaxPayloadSize, ErrTooLarge)
		}
		data, err := r.readPayloadBytes(msize, 8)
		if err != nil {
			return nil, fmt.Errorf("message %d of %d: %w", i, qnum, err)
		}
		ex.Msgs = append(ex.Msgs, IPCMsg{Hdr: hdr, Data: data})
	}
	return ex, nil
}

// readU32 reads a little-endian u32. It returns io.EOF when no byte at all
// was left and io.ErrUnexpectedEOF when only some were.
func (r *Reader) readU32() (uint32, error) {
	var b [4]byte
	n, err := io.ReadFull(r.r, b[:])
	r.off += int64(n)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint32(b[:]), nil
}

// readN reads exactly n bytes. It allocates as the bytes arrive, not all
// up front, so a lying size in a short input costs little memory.
func (r *Reader) readN(n uint64) ([]byte, error) {
	if n == 0 {
		return nil, nil
	}
	buf := make([]byte, 0, min(n, readChunk))
	for uint64(len(buf)) < n {
		want := int(min(n-uint64(len(buf)), readChunk))
		buf = slices.Grow(buf, want)
		got, err := io.ReadFull(r.r, buf[len(buf):len(buf)+want])
		buf = buf[:len(buf)+got]
		r.off += int64(got)
		if err != nil {
			return nil, truncated(err)
		}
	}
	return buf, nil
}

// readToEOF reads everything left, up to MaxPayloadSize.
func (r *Reader) readToEOF() ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r.r, MaxPayloadSize+1))
	r.off += int64(len(data))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxPayloadSize {
		return nil, fmt.Errorf("content exceeds limit %d: %w", MaxPayloadSize, ErrTooLarge)
	}
	if len(data) == 0 {
		return nil, nil
	}
	return data, nil
}

// padding returns how many bytes round n up to a multiple of align.
func padding(n, align uint64) uint64 {
	if align <= 1 {
		return 0
	}
	return (align - n%align) % align
}

// ReadImage reads a whole image file: its kind and every entry. name is
// used as NewReader uses it. For files too big to hold, use a Reader.
func ReadImage(r io.Reader, name string) (*Image, error) {
	rd, err := NewReader(r, name)
	if err != nil {
		return nil, err
	}
	img := &Image{Kind: rd.Kind()}
	for {
		e, err := rd.Next()
		if err == io.EOF {
			return img, nil
		}
		if err != nil {
			return nil, err
		}
		img.Entries = append(img.Entries, e)
	}
}
