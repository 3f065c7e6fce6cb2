package proc

import (
	"encoding/binary"
	"fmt"
	"io"
)

// AuxvEntry is one (type, value) pair of the ELF auxiliary vector.
type AuxvEntry struct {
	Type, Value uint64
}

// MaxAuxv bounds the number of auxv pairs. The kernel keeps at most
// AT_VECTOR_SIZE words (a few dozen pairs); this is generous.
const MaxAuxv = 256

// ParseAuxv parses /proc/PID/auxv: native-endian (little-endian on the
// supported architectures) u64 pairs ended by an AT_NULL pair, which is not
// returned.
//
//	+--------+--------+--------+--------+-----+---------+---------+
//	| type 0 | value 0| type 1 | value 1| ... | 0 (NULL)| 0       |
//	+--------+--------+--------+--------+-----+---------+---------+
//
// An empty file (a kernel thread, a zombie) gives no entries.
func ParseAuxv(r io.Reader) ([]AuxvEntry, error) {
	var out []AuxvEntry
	var buf [16]byte
	for i := 0; ; i++ {
		n, err := io.ReadFull(r, buf[:])
		if err == io.EOF && i == 0 {
			return nil, nil
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return nil, &ParseError{Path: "auxv", Msg: fmt.Sprintf("pair %d: %d bytes", i, n), Err: ErrTruncated}
		}
		if err != nil {
			return nil, err
		}
		e := AuxvEntry{Type: binary.LittleEndian.Uint64(buf[:8]), Value: binary.LittleEndian.Uint64(buf[8:])}
		if e.Type == 0 {
			return out, nil
		}
		if i == MaxAuxv {
			return nil, &ParseError{Path: "auxv", Msg: fmt.Sprintf("more than %d pairs", MaxAuxv), Err: ErrTooLarge}
		}
		out = append(out, e)
	}
}
