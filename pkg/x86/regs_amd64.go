package x86

import (
	"errors"
	"fmt"

	"github.com/criugo/criugo/images"
	"github.com/criugo/criugo/internal/errdefs"
	"github.com/criugo/criugo/pkg/ptrace"
)

// ErrBadImage is returned for image state that cannot describe a thread.
var ErrBadImage = errors.New("bad cpu state in image")

// ErrNotSupported is returned for state this CPU or this tool cannot take:
// a 32-bit task, or xsave components the CPU lacks.
var ErrNotSupported = errdefs.ErrNotSupported

// ErrBadArea is returned when the kernel's xsave area is not what the
// standard format promises.
var ErrBadArea = errors.New("unexpected xsave area")

// Error numbers an interrupted system call leaves in ax (include/linux/errno.h).
const (
	eintr                = 4
	erestartSys          = 512
	erestartNoIntr       = 513
	erestartNoHand       = 514
	erestartRestartBlock = 516
)

func ptr[T any](v T) *T { return &v }

// negErrno is -e as a register holds it.
func negErrno(e int64) uint64 { return uint64(-e) }

// restart applies the restart rule of the package doc to ax and ip.
func restart(ax, origAx, ip uint64) (uint64, uint64) {
	if int64(origAx) < 0 {
		return ax, ip
	}
	switch -int64(ax) {
	case erestartNoHand, erestartSys, erestartNoIntr:
		return origAx, ip - 2
	case erestartRestartBlock:
		return negErrno(eintr), ip
	}
	return ax, ip
}

// GpregsFromRegs converts the registers of a stopped thread to the image's
// form, with the restart rule applied.
func GpregsFromRegs(r ptrace.Regs) *images.UserX86RegsEntry {
	r.Rax, r.Rip = restart(r.Rax, r.OrigRax, r.Rip)
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

// RegsFromGpregs turns the registers of a thread core into what the thread
// resumes with. The restart rule is applied again, for images whose
// writer did not; orig_ax is -1 so that the kernel does not apply its own
// restart logic on top when the thread leaves its ptrace stop.
func RegsFromGpregs(g *images.UserX86RegsEntry) (*ptrace.Regs, error) {
	if g == nil {
		return nil, fmt.Errorf("no gpregs: %w", ErrBadImage)
	}
	if g.GetMode() != images.UserX86RegsMode_NATIVE {
		return nil, fmt.Errorf("registers of a 32-bit (compat) task: %w", ErrNotSupported)
	}
	r := &ptrace.Regs{
		R15: g.GetR15(), R14: g.GetR14(), R13: g.GetR13(), R12: g.GetR12(),
		Rbp: g.GetBp(), Rbx: g.GetBx(),
		R11: g.GetR11(), R10: g.GetR10(), R9: g.GetR9(), R8: g.GetR8(),
		Rcx: g.GetCx(), Rdx: g.GetDx(),
		Rsi: g.GetSi(), Rdi: g.GetDi(),
		OrigRax: ^uint64(0),
		Cs:      g.GetCs(),
		Eflags:  g.GetFlags(),
		Rsp:     g.GetSp(),
		Ss:      g.GetSs(),
		FsBase:  g.GetFsBase(), GsBase: g.GetGsBase(),
		Ds: g.GetDs(), Es: g.GetEs(), Fs: g.GetFs(), Gs: g.GetGs(),
	}
	r.Rax, r.Rip = restart(g.GetAx(), g.GetOrigAx(), g.GetIp())
	return r, nil
}
