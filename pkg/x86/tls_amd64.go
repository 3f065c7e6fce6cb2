package x86

import (
	"encoding/binary"

	"github.com/criugo/criugo/images"
)

// GDT entries of the three TLS slots of x86 (GDT_ENTRY_TLS_MIN..MAX) and
// the size of struct user_desc.
const (
	GDTEntryTLSMin = 12
	GDTEntryTLSNum = 3
	UserDescSize   = 16
)

// TLSDesc converts a struct user_desc as get_thread_area(2) fills it.
func TLSDesc(b []byte) *images.UserDescT {
	le := binary.LittleEndian
	bits := le.Uint32(b[12:])
	bit := func(n uint) bool { return bits&(1<<n) != 0 }
	return &images.UserDescT{
		EntryNumber:   ptr(le.Uint32(b[0:])),
		BaseAddr:      ptr(le.Uint32(b[4:])),
		Limit:         ptr(le.Uint32(b[8:])),
		Seg_32Bit:     ptr(bit(0)),
		ContentsH:     ptr(bit(2)), // contents is a 2-bit field: bits 1-2
		ContentsL:     ptr(bit(1)),
		ReadExecOnly:  ptr(bit(3)),
		LimitInPages:  ptr(bit(4)),
		SegNotPresent: ptr(bit(5)),
		Usable:        ptr(bit(6)),
	}
}
