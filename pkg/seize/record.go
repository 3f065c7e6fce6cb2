package seize

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"google.golang.org/protobuf/proto"

	"github.com/criugo/criugo/images"
	"github.com/criugo/criugo/pkg/image"
)

// FreezeMagic is the magic of freeze.img, the project's own image kind.
// Its hex digits include letters, so it can never equal one of CRIU's
// magics, which are written as decimal coordinates (NNNNEEEE).
const FreezeMagic uint32 = 0x46525a45

// FreezeFile is the file name of the freeze record.
const FreezeFile = "freeze.img"

// FreezeKind describes freeze.img for pkg/image's Writer: a service image
// (it is about a run of the tools, not about the dumped tree) holding one
// criugo_freeze_entry.
var FreezeKind = &image.Kind{
	Name:    "FREEZE",
	Magic:   FreezeMagic,
	Message: "criu.criugo_freeze_entry",
	Pattern: FreezeFile,
	Service: true,
}

// maxRecordSize bounds the freeze record read from input. A task entry is
// under 64 bytes plus 24 per thread; 16 MiB holds any tree pid_max allows.
const maxRecordSize = 16 << 20

// WriteRecord writes rec as a complete freeze.img to w.
func WriteRecord(w io.Writer, rec *images.CriugoFreezeEntry) error {
	if err := CheckRecord(rec); err != nil {
		return err
	}
	iw, err := image.NewWriter(w, FreezeKind)
	if err != nil {
		return fmt.Errorf("write %s: %w", FreezeFile, err)
	}
	if err := iw.WriteMessage(rec); err != nil {
		return fmt.Errorf("write %s: %w", FreezeFile, err)
	}
	return nil
}

// ReadRecord reads a freeze.img from r: the service header, one
// criugo_freeze_entry, and nothing after it.
func ReadRecord(r io.Reader) (*images.CriugoFreezeEntry, error) {
	var hdr [12]byte
	if _, err := io.ReadFull(r, hdr[:8]); err != nil {
		return nil, fmt.Errorf("read %s header: %w: %w", FreezeFile, ErrBadRecord, err)
	}
	set := binary.LittleEndian.Uint32(hdr[0:4])
	magic := binary.LittleEndian.Uint32(hdr[4:8])
	if set != image.ImgServiceMagic || magic != FreezeMagic {
		return nil, fmt.Errorf("read %s header: magic %#08x %#08x: %w: %w",
			FreezeFile, set, magic, ErrBadRecord, image.ErrBadMagic)
	}
	if _, err := io.ReadFull(r, hdr[8:12]); err != nil {
		return nil, fmt.Errorf("read %s entry size: %w: %w", FreezeFile, ErrBadRecord, unexpected(err))
	}
	size := binary.LittleEndian.Uint32(hdr[8:12])
	if size > maxRecordSize {
		return nil, fmt.Errorf("read %s: entry of %d bytes: %w: %w", FreezeFile, size, ErrBadRecord, image.ErrTooLarge)
	}
	buf := make([]byte, size)
	if _, err := io.ReadFull(r, buf); err != nil {
		return nil, fmt.Errorf("read %s entry: %w: %w", FreezeFile, ErrBadRecord, unexpected(err))
	}
	rec := &images.CriugoFreezeEntry{}
	if err := proto.Unmarshal(buf, rec); err != nil {
		return nil, fmt.Errorf("decode %s entry: %w: %w", FreezeFile, ErrBadRecord, err)
	}
	var one [1]byte
	if n, _ := io.ReadFull(r, one[:]); n != 0 {
		return nil, fmt.Errorf("read %s: data after its one entry: %w", FreezeFile, ErrBadRecord)
	}
	if err := CheckRecord(rec); err != nil {
		return nil, err
	}
	return rec, nil
}

// CheckRecord checks that rec says something Thaw can act on safely.
func CheckRecord(rec *images.CriugoFreezeEntry) error {
	if rec == nil {
		return fmt.Errorf("check freeze record: none: %w", ErrBadRecord)
	}
	if rec.Method == nil || rec.RootPid == nil {
		return fmt.Errorf("check freeze record: method or root pid unset: %w", ErrBadRecord)
	}
	if rec.GetRootPid() == 0 {
		return fmt.Errorf("check freeze record: root pid 0: %w", ErrBadRecord)
	}
	switch rec.GetMethod() {
	case images.CriugoFreezeMethod_CRIUGO_FREEZE_PTRACE_STOP:
	case images.CriugoFreezeMethod_CRIUGO_FREEZE_CGROUP_V1, images.CriugoFreezeMethod_CRIUGO_FREEZE_CGROUP_V2:
		if rec.GetCgroup() == "" {
			return fmt.Errorf("check freeze record: cgroup method without a cgroup: %w", ErrBadRecord)
		}
	default:
		return fmt.Errorf("check freeze record: method %d: %w", rec.GetMethod(), ErrBadRecord)
	}
	for _, t := range rec.GetTasks() {
		// pid 0 or negative pids would make kill() signal a whole group.
		if t.GetPid() == 0 || t.GetPid() > 1<<22 {
			return fmt.Errorf("check freeze record: task pid %d: %w", t.GetPid(), ErrBadRecord)
		}
	}
	return nil
}

// unexpected turns a clean EOF inside a record into io.ErrUnexpectedEOF.
func unexpected(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// marshalRecord encodes rec as a whole freeze.img.
func marshalRecord(rec *images.CriugoFreezeEntry) ([]byte, error) {
	var b bytes.Buffer
	if err := WriteRecord(&b, rec); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
