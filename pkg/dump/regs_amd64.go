package dump

import (
	"encoding/binary"
	"fmt"
	"sync"

	"github.com/criugo/criugo/images"
	"github.com/criugo/criugo/pkg/ptrace"
)

// Error numbers a syscall interrupted by a signal leaves in rax, which the
// kernel turns into a restart when the task resumes (include/linux/errno.h).
const (
	eintr                = 4
	erestartSys          = 512
	erestartNoIntr       = 513
	erestartNoHand       = 514
	erestartRestartBlock = 516
)

// gpRegs converts the registers of a stopped thread to the image's form.
// A thread stopped inside an interrupted syscall is recorded as CRIU
// records it: about to issue the syscall again (ax = orig_ax, ip back over
// the 2-byte syscall instruction), or, for a syscall that restarts through
// restart_syscall, returning EINTR.
func gpRegs(r ptrace.Regs) *images.UserX86RegsEntry {
	if int64(r.OrigRax) >= 0 {
		switch -int64(r.Rax) {
		case erestartNoHand, erestartSys, erestartNoIntr:
			r.Rax = r.OrigRax
			r.Rip -= 2
		case erestartRestartBlock:
			r.Rax = ^uint64(eintr - 1) // -EINTR
		}
	}
	return &images.UserX86RegsEntry{
		R15: ptr(r.R15), R14: ptr(r.R14), R13: ptr(r.R13), R12: ptr(r.R12),
		Bp: ptr(r.Rbp), Bx: ptr(r.Rbx),
		R11: ptr(r.R11), R10: ptr(r.R10), R9: ptr(r.R9), R8: ptr(r.R8),
		Ax: ptr(r.Rax), Cx: ptr(r.Rcx), Dx: ptr(r.Rdx),
		Si: ptr(r.Rsi), Di: ptr(r.Rdi),
		OrigAx: ptr(r.OrigRax), Ip: ptr(r.Rip), Cs: ptr(r.Cs),
		Flags: ptr(r.Eflags), Sp: ptr(r.Rsp), Ss: ptr(r.Ss),
		FsBase: ptr(r.FsBase), GsBase: ptr(r.GsBase),
		Ds: ptr(r.Ds), Es: ptr(r.Es), Fs: ptr(r.Fs), Gs: ptr(r.Gs),
		Mode: images.UserX86RegsMode_NATIVE.Enum(),
	}
}

// The xsave area as NT_X86_XSTATE gives it (standard, non-compacted form):
//
//	0    fxsave legacy area: cwd swd twd fop rip rdp mxcsr mxcsr_mask
//	32   st_space  (8 x87 registers, 16 bytes each)
//	160  xmm_space (16 XMM registers)
//	464  software bytes: the kernel puts XCR0 at 464
//	512  xsave header: xstate_bv, xcomp_bv
//	576+ one component per XCR0 bit >= 2, at the offset CPUID 0xD gives
const (
	fxsaveSize     = 512
	xsaveHdrEnd    = 576
	xcr0Offset     = 464
	xstateBVOffset = 512
)

// XSAVE component numbers (the bit in XCR0).
const (
	xfeatureYMM      = 2
	xfeatureBndregs  = 3
	xfeatureBndcsr   = 4
	xfeatureOpmask   = 5
	xfeatureZMMHi256 = 6
	xfeatureHi16ZMM  = 7
	xfeaturePKRU     = 9
)

// xfeature is where one component lives in the standard xsave area.
type xfeature struct{ off, size uint32 }

var (
	xfeaturesOnce sync.Once
	xfeatures     [32]xfeature
)

// xfeatureLayout returns the offset and size of component n, from CPUID
// leaf 0xD (the standard layout depends on the CPU: AMD puts the AVX-512
// state where Intel keeps room for MPX).
func xfeatureLayout(n int) xfeature {
	xfeaturesOnce.Do(func() {
		for i := 2; i < len(xfeatures); i++ {
			eax, ebx, _, _ := cpuid(0xd, uint32(i))
			xfeatures[i] = xfeature{off: ebx, size: eax}
		}
	})
	return xfeatures[n]
}

func cpuid(leaf, sub uint32) (eax, ebx, ecx, edx uint32)

// fpRegs converts an NT_X86_XSTATE area to the image's FPU state: the
// legacy fxsave fields, xstate_bv and every extended component the task
// has enabled that the image format knows, each copied as CRIU copies it.
func fpRegs(xs []byte) (*images.UserX86FpregsEntry, error) {
	if len(xs) < xsaveHdrEnd {
		return nil, fmt.Errorf("xsave area of %d bytes, want at least %d: %w", len(xs), xsaveHdrEnd, ErrKernel)
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
		// CRIU records the shadow stack state here; a task without
		// one (no CET on this CPU or not enabled) has both zero.
		Cet: &images.UserX86CetEntry{Cet: ptr(uint64(0)), Ssp: ptr(uint64(0))},
	}
	comp := func(n int, want uint32) ([]byte, error) {
		if xcr0&(1<<n) == 0 {
			return nil, nil
		}
		f := xfeatureLayout(n)
		if f.size != want {
			return nil, fmt.Errorf("xsave component %d is %d bytes, want %d: %w", n, f.size, want, ErrKernel)
		}
		if uint64(f.off)+uint64(f.size) > uint64(len(xs)) {
			return nil, fmt.Errorf("xsave component %d at %d+%d beyond the %d-byte area: %w", n, f.off, f.size, len(xs), ErrKernel)
		}
		return xs[f.off : f.off+f.size], nil
	}
	var err error
	var b []byte
	if b, err = comp(xfeatureYMM, 256); err != nil {
		return nil, err
	} else if b != nil {
		x.YmmhSpace = u32s(b)
	}
	if b, err = comp(xfeatureBndregs, 64); err != nil {
		return nil, err
	} else if b != nil {
		x.BndregState = u64s(b)
	}
	if b, err = comp(xfeatureOpmask, 64); err != nil {
		return nil, err
	} else if b != nil {
		x.OpmaskReg = u64s(b)
	}
	if b, err = comp(xfeatureZMMHi256, 512); err != nil {
		return nil, err
	} else if b != nil {
		x.ZmmUpper = u64s(b)
	}
	if b, err = comp(xfeatureHi16ZMM, 1024); err != nil {
		return nil, err
	} else if b != nil {
		x.Hi16Zmm = u64s(b)
	}
	if b, err = comp(xfeaturePKRU, 8); err != nil {
		return nil, err
	} else if b != nil {
		x.Pkru = u32s(b)
	}
	fp.Xsave = x
	return fp, nil
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

// GDT entries of the three TLS slots of x86 (GDT_ENTRY_TLS_MIN..MAX).
const (
	gdtEntryTLSMin = 12
	gdtEntryTLSNum = 3
	userDescSize   = 16
)

// tlsDesc converts a struct user_desc as get_thread_area(2) fills it.
func tlsDesc(b []byte) *images.UserDescT {
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
