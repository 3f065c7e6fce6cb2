package x86

import (
	"encoding/binary"
	"fmt"
	"sync"

	"github.com/criugo/criugo/images"
)

// cpuid executes the CPUID instruction (cpuid_amd64.s).
func cpuid(leaf, sub uint32) (eax, ebx, ecx, edx uint32)

// Offsets in the xsave area (see the package doc).
const (
	legacyEnd      = 512
	headerEnd      = 576
	xcr0Offset     = 464 // ptrace puts XCR0 in the first word of sw_reserved
	xstateBVOffset = 512
)

// XSAVE components CRIU's user_x86_xsave_entry has fields for (the bit in XCR0).
const (
	featYMM      = 2
	featBndregs  = 3
	featBndcsr   = 4
	featOpmask   = 5
	featZMMHi256 = 6
	featHi16ZMM  = 7
	featPKRU     = 9
)

// Layout says where each component sits in the standard format.
type Layout struct {
	Off, Size [64]uint32
}

var (
	cpuLayoutOnce sync.Once
	cpuLayout     Layout
)

// CPULayout returns this CPU's layout, from CPUID leaf 0xD.
func CPULayout() *Layout {
	cpuLayoutOnce.Do(func() {
		for i := uint32(2); i < 64; i++ {
			size, off, _, _ := cpuid(0xd, i)
			cpuLayout.Off[i], cpuLayout.Size[i] = off, size
		}
	})
	return &cpuLayout
}

// component is one xsave component and the image field that holds it.
type component struct {
	feat int
	name string
	size uint32 // its size in the standard format
	wide bool   // held as u64 words (else u32)
	get  func(*images.UserX86XsaveEntry) any
	set  func(*images.UserX86XsaveEntry, []byte)
}

var components = []component{
	{featYMM, "ymmh_space", 256, false,
		func(x *images.UserX86XsaveEntry) any { return x.GetYmmhSpace() },
		func(x *images.UserX86XsaveEntry, b []byte) { x.YmmhSpace = u32s(b) }},
	{featBndregs, "bndreg_state", 64, true,
		func(x *images.UserX86XsaveEntry) any { return x.GetBndregState() },
		func(x *images.UserX86XsaveEntry, b []byte) { x.BndregState = u64s(b) }},
	{featBndcsr, "bndcsr_state", 64, true,
		func(x *images.UserX86XsaveEntry) any { return x.GetBndcsrState() },
		func(x *images.UserX86XsaveEntry, b []byte) { x.BndcsrState = u64s(b) }},
	{featOpmask, "opmask_reg", 64, true,
		func(x *images.UserX86XsaveEntry) any { return x.GetOpmaskReg() },
		func(x *images.UserX86XsaveEntry, b []byte) { x.OpmaskReg = u64s(b) }},
	{featZMMHi256, "zmm_upper", 512, true,
		func(x *images.UserX86XsaveEntry) any { return x.GetZmmUpper() },
		func(x *images.UserX86XsaveEntry, b []byte) { x.ZmmUpper = u64s(b) }},
	{featHi16ZMM, "hi16_zmm", 1024, true,
		func(x *images.UserX86XsaveEntry) any { return x.GetHi16Zmm() },
		func(x *images.UserX86XsaveEntry, b []byte) { x.Hi16Zmm = u64s(b) }},
	{featPKRU, "pkru", 8, false,
		func(x *images.UserX86XsaveEntry) any { return x.GetPkru() },
		func(x *images.UserX86XsaveEntry, b []byte) { x.Pkru = u32s(b) }},
}

// FpregsFromXsave converts an NT_X86_XSTATE area to the image's FPU state:
// the legacy fxsave fields, xstate_bv and every component the task has
// enabled (XCR0) that the image format knows.
func FpregsFromXsave(xs []byte, l *Layout) (*images.UserX86FpregsEntry, error) {
	if len(xs) < headerEnd {
		return nil, fmt.Errorf("xsave area of %d bytes, want at least %d: %w", len(xs), headerEnd, ErrBadArea)
	}
	le := binary.LittleEndian
	fp := &images.UserX86FpregsEntry{
		Cwd:       ptr(uint32(le.Uint16(xs[0:]))),
		Swd:       ptr(uint32(le.Uint16(xs[2:]))),
		Twd:       ptr(uint32(le.Uint16(xs[4:]))),
		Fop:       ptr(uint32(le.Uint16(xs[6:]))),
		Rip:       ptr(le.Uint64(xs[8:])),
		Rdp:       ptr(le.Uint64(xs[16:])),
		Mxcsr:     ptr(le.Uint32(xs[24:])),
		MxcsrMask: ptr(le.Uint32(xs[28:])),
		StSpace:   u32s(xs[32:160]),
		XmmSpace:  u32s(xs[160:416]),
	}
	xcr0 := le.Uint64(xs[xcr0Offset:])
	x := &images.UserX86XsaveEntry{
		XstateBv: ptr(le.Uint64(xs[xstateBVOffset:])),
		// CRIU records the shadow stack state here; a task without one
		// (no CET on this CPU, or not enabled) has both zero.
		Cet: &images.UserX86CetEntry{Cet: ptr(uint64(0)), Ssp: ptr(uint64(0))},
	}
	for _, c := range components {
		if xcr0&(1<<c.feat) == 0 {
			continue
		}
		off, size := l.Off[c.feat], l.Size[c.feat]
		if size != c.size {
			return nil, fmt.Errorf("xsave component %s is %d bytes, want %d: %w", c.name, size, c.size, ErrBadArea)
		}
		if uint64(off)+uint64(size) > uint64(len(xs)) || off < headerEnd {
			return nil, fmt.Errorf("xsave component %s at %d+%d outside the %d-byte area: %w", c.name, off, size, len(xs), ErrBadArea)
		}
		c.set(x, xs[off:off+size])
	}
	fp.Xsave = x
	return fp, nil
}

// FillXsave writes the FPU state of a thread core into buf, a standard
// format xsave area as GETREGSET gave it for the thread (so its size and
// sw_reserved words are the kernel's). It fails when the image holds a
// component in use that this CPU does not offer.
func FillXsave(buf []byte, fp *images.UserX86FpregsEntry, l *Layout) error {
	if len(buf) < headerEnd {
		return fmt.Errorf("xsave area of %d bytes is too small: %w", len(buf), ErrNotSupported)
	}
	le := binary.LittleEndian
	le.PutUint16(buf[0:], uint16(fp.GetCwd()))
	le.PutUint16(buf[2:], uint16(fp.GetSwd()))
	le.PutUint16(buf[4:], uint16(fp.GetTwd()))
	le.PutUint16(buf[6:], uint16(fp.GetFop()))
	le.PutUint64(buf[8:], fp.GetRip())
	le.PutUint64(buf[16:], fp.GetRdp())
	le.PutUint32(buf[24:], fp.GetMxcsr())
	le.PutUint32(buf[28:], fp.GetMxcsrMask())
	if err := putWords(buf[32:160], fp.GetStSpace(), "st_space"); err != nil {
		return err
	}
	if err := putWords(buf[160:416], fp.GetXmmSpace(), "xmm_space"); err != nil {
		return err
	}
	supported := le.Uint64(buf[xcr0Offset:])
	xs := fp.GetXsave()
	bv := uint64(0x3) // x87 and SSE: an image without xsave has only these
	if xs != nil {
		bv = xs.GetXstateBv()
	}
	if bv&^supported != 0 {
		return fmt.Errorf("xsave features %#x of the image, %#x on this CPU: %w", bv, supported, ErrNotSupported)
	}
	le.PutUint64(buf[xstateBVOffset:], bv)
	le.PutUint64(buf[xstateBVOffset+8:], 0) // xcomp_bv: standard format
	if xs == nil {
		return nil
	}
	for _, c := range components {
		words := c.get(xs)
		if n := wordsLen(words); n == 0 {
			continue
		}
		if supported&(1<<c.feat) == 0 {
			// Not in this CPU's area: harmless when the image says the
			// component is in its initial state.
			if bv&(1<<c.feat) != 0 {
				return fmt.Errorf("xsave %s: %w", c.name, ErrNotSupported)
			}
			continue
		}
		off, size := int(l.Off[c.feat]), int(l.Size[c.feat])
		if off+size > len(buf) || off < headerEnd {
			return fmt.Errorf("xsave %s at %d+%d outside the %d-byte area: %w", c.name, off, size, len(buf), ErrNotSupported)
		}
		if err := putWords(buf[off:off+size], words, c.name); err != nil {
			return err
		}
	}
	return nil
}

func wordsLen(w any) int {
	switch v := w.(type) {
	case []uint32:
		return len(v)
	case []uint64:
		return len(v)
	}
	return 0
}

// putWords writes u32 or u64 words into dst, refusing more than fit.
func putWords(dst []byte, w any, name string) error {
	le := binary.LittleEndian
	switch v := w.(type) {
	case []uint32:
		if len(v)*4 > len(dst) {
			return fmt.Errorf("fpregs %s: %d words, room for %d: %w", name, len(v), len(dst)/4, ErrBadImage)
		}
		for i, x := range v {
			le.PutUint32(dst[4*i:], x)
		}
	case []uint64:
		if len(v)*8 > len(dst) {
			return fmt.Errorf("fpregs %s: %d words, room for %d: %w", name, len(v), len(dst)/8, ErrBadImage)
		}
		for i, x := range v {
			le.PutUint64(dst[8*i:], x)
		}
	}
	return nil
}

func u32s(b []byte) []uint32 {
	out := make([]uint32, len(b)/4)
	for i := range out {
		out[i] = binary.LittleEndian.Uint32(b[4*i:])
	}
	return out
}

func u64s(b []byte) []uint64 {
	out := make([]uint64, len(b)/8)
	for i := range out {
		out[i] = binary.LittleEndian.Uint64(b[8*i:])
	}
	return out
}
