package image

import (
	"errors"
	"fmt"
	"io"
)

// Sentinel errors. Every error this package returns wraps one of them (or an
// I/O error from the underlying reader or writer), so callers can tell them
// apart with errors.Is.
var (
	// ErrBadMagic: the header is not one of CRIU's, or its magic is not
	// the one the file name or the caller asked for.
	ErrBadMagic = errors.New("bad magic")
	// ErrUnknownMagic: the header is CRIU's but names a kind this table lacks.
	ErrUnknownMagic = errors.New("unknown magic")
	// ErrTruncated: the input ended inside a header, a size, a message or a
	// payload. It also matches io.ErrUnexpectedEOF.
	ErrTruncated = fmt.Errorf("truncated: %w", io.ErrUnexpectedEOF)
	// ErrTooLarge: a size read from the input exceeds the limit for it.
	ErrTooLarge = errors.New("size exceeds limit")
	// ErrCorrupt: bytes that should be a protobuf message do not decode as
	// one, or a payload's padding is not zero.
	ErrCorrupt = errors.New("corrupt entry")
	// ErrRawImage: the file is a raw image (pages-*.img, ...), which has no
	// header and no entries to read.
	ErrRawImage = errors.New("raw image has no entries")
	// ErrSchema: the protobuf message a kind needs is not registered (the
	// images package is not linked in), or lacks a field the framing reads.
	ErrSchema = errors.New("message missing from schema")
	// ErrBadEntry: an entry given to a Writer does not fit the image: a
	// message of the wrong type, a payload whose length disagrees with the
	// message, or an entry after the end of a ghost file's content.
	ErrBadEntry = errors.New("entry does not fit image")
	// ErrBadName: a file name that is not a plain name in one directory
	// (empty, ".", "..", or holding '/'), or a stream member whose path
	// could lead outside the archive's directory, or image files of a
	// stream in more than one directory, nested deeper than one, or twice.
	ErrBadName = errors.New("bad file name")
	// ErrNotRegular: a directory entry or stream member is not a regular
	// file (a symlink, a directory, a device, ...).
	ErrNotRegular = errors.New("not a regular file")
)

// Limits on sizes read from input. A size over its limit is ErrTooLarge;
// below it, memory is still only allocated as the bytes actually arrive.
const (
	// MaxEntrySize bounds one protobuf entry. CRIU's largest entries (a
	// core_entry with its xsave area, an mm_entry with a long saved_auxv)
	// are a few KiB.
	MaxEntrySize = 64 << 20
	// MaxPayloadSize bounds the raw payload after one entry (pipe or socket
	// queue contents, a ghost file, a SysV shared memory segment).
	MaxPayloadSize = 1 << 30
)

// readChunk is how much a payload read allocates ahead of the bytes it has.
const readChunk = 1 << 20

// atOffset annotates err with the file and the byte offset where decoding
// went wrong, as every error of a Reader is.
func atOffset(name string, off int64, err error) error {
	if name == "" {
		name = "image"
	}
	return fmt.Errorf("read %s at offset %d: %w", name, off, err)
}

// truncated turns an EOF met inside something into ErrTruncated, keeping
// other I/O errors as they are.
func truncated(err error) error {
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return ErrTruncated
	}
	return err
}
