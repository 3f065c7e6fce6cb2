package restore

import (
	"fmt"

	"github.com/criugo/criugo/images"
	"github.com/criugo/criugo/pkg/ptrace"
)

// Kernel return values of a system call interrupted by a signal. A thread
// dumped while such a call was under way has one of them in ax, with the
// call's number in orig_ax.
const (
	errRestartSys          = 512
	errRestartNoIntr       = 513
	errRestartNoHand       = 514
	errRestartRestartBlock = 516
	errEINTR               = 4
)

// finalRegs turns the general registers of a thread core into what the
// thread resumes with.
//
// A thread dumped inside a restartable system call is set to execute it
// again: ax gets the call number back and ip steps back over the 2-byte
// `syscall` instruction. A call that would restart through
// restart_syscall() (nanosleep and friends) cannot, since the kernel's
// restart block is gone: it returns EINTR instead, as CRIU does. orig_ax is
// -1 so that the kernel does not apply its own restart logic on top when
// the thread leaves the ptrace stop.
func finalRegs(g *images.UserX86RegsEntry) (*ptrace.Regs, error) {
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
		Rax: g.GetAx(), Rcx: g.GetCx(), Rdx: g.GetDx(),
		Rsi: g.GetSi(), Rdi: g.GetDi(),
		OrigRax: ^uint64(0),
		Rip:     g.GetIp(),
		Cs:      g.GetCs(),
		Eflags:  g.GetFlags(),
		Rsp:     g.GetSp(),
		Ss:      g.GetSs(),
		FsBase:  g.GetFsBase(), GsBase: g.GetGsBase(),
		Ds: g.GetDs(), Es: g.GetEs(), Fs: g.GetFs(), Gs: g.GetGs(),
	}
	if int64(g.GetOrigAx()) >= 0 {
		switch -int64(g.GetAx()) {
		case errRestartSys, errRestartNoIntr, errRestartNoHand:
			r.Rax = g.GetOrigAx()
			r.Rip -= 2
		case errRestartRestartBlock:
			r.Rax = negErrno(errEINTR)
		}
	}
	return r, nil
}

// negErrno is -e as a register holds it.
func negErrno(e int64) uint64 { return uint64(-e) }
