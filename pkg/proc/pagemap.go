package proc

import (
	"encoding/binary"
	"fmt"
)

// PagemapEntry is one 64-bit entry of /proc/PID/pagemap, describing one
// virtual page:
//
//	 63   62   61   60..59  58   57   56   55   54 ........................ 0
//	+----+----+----+------+----+----+----+----+-------------------------------+
//	|pres|swap|file| zero |guard|uwp|excl|sdty| PFN (present, root only)      |
//	|    |    |shan|      |    |    |    |    | or swap offset<<5 | swap type |
//	+----+----+----+------+----+----+----+----+-------------------------------+
type PagemapEntry uint64

const (
	pmPFNMask      = 1<<55 - 1
	pmSoftDirty    = 1 << 55
	pmExclusive    = 1 << 56
	pmUffdWP       = 1 << 57
	pmGuardRegion  = 1 << 58
	pmFileOrShared = 1 << 61
	pmSwapped      = 1 << 62
	pmPresent      = 1 << 63
)

// PagemapEntrySize is the size of one entry in the file.
const PagemapEntrySize = 8

// Present: the page is in RAM.
func (e PagemapEntry) Present() bool { return e&pmPresent != 0 }

// Swapped: the page is in swap (or is a migration or poisoned entry).
func (e PagemapEntry) Swapped() bool { return e&pmSwapped != 0 }

// FileOrShared: the page is a page-cache page or shared anonymous memory,
// not private anonymous memory.
func (e PagemapEntry) FileOrShared() bool { return e&pmFileOrShared != 0 }

// Exclusive: the page is mapped by this process only (mapcount 1).
func (e PagemapEntry) Exclusive() bool { return e&pmExclusive != 0 }

// SoftDirty: written since the soft-dirty bits were last cleared (writing
// 4 to clear_refs). A kernel without CONFIG_MEM_SOFT_DIRTY never sets it.
func (e PagemapEntry) SoftDirty() bool { return e&pmSoftDirty != 0 }

// UffdWP: the page is write-protected by userfaultfd.
func (e PagemapEntry) UffdWP() bool { return e&pmUffdWP != 0 }

// Guard: the page lies in a guard region (MADV_GUARD_INSTALL, kernel 6.15+).
func (e PagemapEntry) Guard() bool { return e&pmGuardRegion != 0 }

// PFN is the page frame number of a present page; the kernel shows it only
// to readers with CAP_SYS_ADMIN and gives 0 to others.
func (e PagemapEntry) PFN() uint64 {
	if !e.Present() {
		return 0
	}
	return uint64(e) & pmPFNMask
}

// SwapType and SwapOffset locate a swapped page.
func (e PagemapEntry) SwapType() uint64 {
	if !e.Swapped() {
		return 0
	}
	return uint64(e) & 0x1f
}

func (e PagemapEntry) SwapOffset() uint64 {
	if !e.Swapped() {
		return 0
	}
	return (uint64(e) & pmPFNMask) >> 5
}

func (e PagemapEntry) String() string {
	s := fmt.Sprintf("%#x", uint64(e))
	switch {
	case e.Present():
		s += fmt.Sprintf(" present pfn=%#x", e.PFN())
	case e.Swapped():
		s += fmt.Sprintf(" swapped type=%d offset=%#x", e.SwapType(), e.SwapOffset())
	}
	if e.FileOrShared() {
		s += " file/shared"
	}
	if e.Exclusive() {
		s += " exclusive"
	}
	if e.SoftDirty() {
		s += " soft-dirty"
	}
	if e.UffdWP() {
		s += " uffd-wp"
	}
	if e.Guard() {
		s += " guard"
	}
	return s
}

// DecodePagemap decodes the raw bytes of consecutive pagemap entries into
// out, which must have room for len(b)/8 entries; len(b) must be a multiple
// of 8.
func DecodePagemap(b []byte, out []PagemapEntry) error {
	if len(b)%PagemapEntrySize != 0 {
		return &ParseError{Path: "pagemap", Msg: fmt.Sprintf("%d bytes", len(b)), Err: ErrTruncated}
	}
	n := len(b) / PagemapEntrySize
	if len(out) < n {
		return fmt.Errorf("decode pagemap: %d entries do not fit in %d", n, len(out))
	}
	for i := 0; i < n; i++ {
		out[i] = PagemapEntry(binary.LittleEndian.Uint64(b[i*8:]))
	}
	return nil
}

// Span is a range [Start, End) of addresses.
type Span struct{ Start, End uint64 }
