package restore

import (
	"encoding/binary"
	"fmt"

	"github.com/criugo/criugo/images"
)

// cpuid executes the CPUID instruction (cpuid_amd64.s).
func cpuid(leaf, sub uint32) (eax, ebx, ecx, edx uint32)

// The xsave area as PTRACE_SETREGSET NT_X86_XSTATE takes it: the standard
// (not compacted) format, whose component offsets this CPU reports in
// CPUID leaf 0xD and which differ between vendors (AMD Zen 4 puts the
// AVX-512 opmask right after the AVX state, Intel leaves room for MPX).
//
//	  0  legacy FXSAVE region (512 bytes)
//	     0 cwd u16 | 2 swd u16 | 4 twd u16 | 6 fop u16 | 8 rip u64 | 16 rdp u64
//	     24 mxcsr u32 | 28 mxcsr_mask u32 | 32 st_space 128 | 160 xmm_space 256
//	     416 padding 48 | 464 sw_reserved 48 (for ptrace: XCR0 in word 0)
//	512  xsave header: xstate_bv u64 | xcomp_bv u64 | reserved 48
//	576+ one block per component i >= 2, at CPUID(0xD, i).EBX, EAX bytes long
const (
	xsaveHeaderOff   = 512
	fxswXfeaturesOff = 464 // ptrace puts XCR0 in the first word of sw_reserved
)

// xsave components CRIU's user_x86_xsave_entry has fields for.
const (
	xfeatYMM      = 2
	xfeatBndregs  = 3
	xfeatBndcsr   = 4
	xfeatOpmask   = 5
	xfeatZMMHi256 = 6
	xfeatHi16ZMM  = 7
	xfeatPKRU     = 9
)

// xsaveLayout gives where each component sits in the standard format.
type xsaveLayout struct {
	off, size [64]uint32
}

func cpuXsaveLayout() xsaveLayout {
	var l xsaveLayout
	for i := uint32(2); i < 64; i++ {
		size, off, _, _ := cpuid(0xd, i)
		l.off[i], l.size[i] = off, size
	}
	return l
}

// fillXsave writes the FPU state of a thread core into buf, a standard
// format xsave area as GETREGSET gave it for the thread (so its size and
// sw_reserved words are the kernel's). It fails when the image holds a
// component this CPU does not offer.
func fillXsave(buf []byte, fp *images.UserX86FpregsEntry, l *xsaveLayout) error {
	if len(buf) < xsaveHeaderOff+64 {
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
	if err := putU32s(buf[32:160], fp.GetStSpace(), "st_space"); err != nil {
		return err
	}
	if err := putU32s(buf[160:416], fp.GetXmmSpace(), "xmm_space"); err != nil {
		return err
	}
	supported := le.Uint64(buf[fxswXfeaturesOff:])
	xs := fp.GetXsave()
	bv := uint64(0x3) // x87 and SSE: an image without xsave has only these
	if xs != nil {
		bv = xs.GetXstateBv()
	}
	if bv&^supported != 0 {
		return fmt.Errorf("xsave features %#x of the image, %#x on this CPU: %w", bv, supported, ErrNotSupported)
	}
	le.PutUint64(buf[xsaveHeaderOff:], bv)
	le.PutUint64(buf[xsaveHeaderOff+8:], 0) // xcomp_bv: standard format
	if xs == nil {
		return nil
	}
	comps := []struct {
		feat int
		name string
		u32  []uint32
		u64  []uint64
	}{
		{xfeatYMM, "ymmh_space", xs.GetYmmhSpace(), nil},
		{xfeatBndregs, "bndreg_state", nil, xs.GetBndregState()},
		{xfeatBndcsr, "bndcsr_state", nil, xs.GetBndcsrState()},
		{xfeatOpmask, "opmask_reg", nil, xs.GetOpmaskReg()},
		{xfeatZMMHi256, "zmm_upper", nil, xs.GetZmmUpper()},
		{xfeatHi16ZMM, "hi16_zmm", nil, xs.GetHi16Zmm()},
		{xfeatPKRU, "pkru", xs.GetPkru(), nil},
	}
	for _, c := range comps {
		if len(c.u32) == 0 && len(c.u64) == 0 {
			continue
		}
		if supported&(1<<c.feat) == 0 {
			// The component is not in this CPU's area; it is harmless
			// when the image says it is in its initial state.
			if bv&(1<<c.feat) != 0 {
				return fmt.Errorf("xsave %s: %w", c.name, ErrNotSupported)
			}
			continue
		}
		off, size := int(l.off[c.feat]), int(l.size[c.feat])
		if off+size > len(buf) || off < xsaveHeaderOff+64 {
			return fmt.Errorf("xsave %s at %d+%d outside the %d-byte area: %w", c.name, off, size, len(buf), ErrNotSupported)
		}
		dst := buf[off : off+size]
		if c.u32 != nil {
			if err := putU32s(dst, c.u32, c.name); err != nil {
				return err
			}
		} else if err := putU64s(dst, c.u64, c.name); err != nil {
			return err
		}
	}
	return nil
}

func putU32s(dst []byte, v []uint32, name string) error {
	if len(v)*4 > len(dst) {
		return fmt.Errorf("fpregs %s: %d words, room for %d: %w", name, len(v), len(dst)/4, ErrBadImage)
	}
	for i, w := range v {
		binary.LittleEndian.PutUint32(dst[4*i:], w)
	}
	return nil
}

func putU64s(dst []byte, v []uint64, name string) error {
	if len(v)*8 > len(dst) {
		return fmt.Errorf("fpregs %s: %d words, room for %d: %w", name, len(v), len(dst)/8, ErrBadImage)
	}
	for i, w := range v {
		binary.LittleEndian.PutUint64(dst[8*i:], w)
	}
	return nil
}
