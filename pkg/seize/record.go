package seize

import (
	"bufio"
	"bytes"
	"fmt"
	"io"

	"github.com/criugo/criugo/images"
	"github.com/criugo/criugo/pkg/image"
)

// FreezeMagic is the magic of freeze.img, the project's own image kind.
// Its hex digits include letters, so it can never equal one of CRIU's
// magics, which are written as decimal coordinates (NNNNEEEE).
const FreezeMagic uint32 = 0x46525a45

// FreezeFile is the file name of the freeze record.
const FreezeFile = "freeze.img"

// FreezeKind is freeze.img's kind in pkg/image's table: a service image
// (it is about a run of the tools, not about the dumped tree) holding one
// criugo_freeze_entry.
var FreezeKind = image.Freeze

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
	ir, err := image.NewReader(bufio.NewReader(r), FreezeFile)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w: %w", FreezeFile, ErrBadRecord, err)
	}
	if ir.Kind() != FreezeKind {
		return nil, fmt.Errorf("read %s: holds a %s image: %w: %w", FreezeFile, ir.Kind().Name, ErrBadRecord, image.ErrBadMagic)
	}
	e, err := ir.Next()
	if err == io.EOF {
		return nil, fmt.Errorf("read %s: no entry: %w: %w", FreezeFile, ErrBadRecord, io.ErrUnexpectedEOF)
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w: %w", FreezeFile, ErrBadRecord, err)
	}
	if _, err := ir.Next(); err != io.EOF {
		return nil, fmt.Errorf("read %s: data after its one entry: %w", FreezeFile, ErrBadRecord)
	}
	rec, ok := e.Msg.(*images.CriugoFreezeEntry)
	if !ok {
		return nil, fmt.Errorf("read %s: entry is %T: %w", FreezeFile, e.Msg, ErrBadRecord)
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

// marshalRecord encodes rec as a whole freeze.img.
func marshalRecord(rec *images.CriugoFreezeEntry) ([]byte, error) {
	var b bytes.Buffer
	if err := WriteRecord(&b, rec); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
