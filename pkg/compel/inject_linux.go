package compel

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"

	"github.com/criugo/criugo/pkg/proc"
	"github.com/criugo/criugo/pkg/ptrace"
	"golang.org/x/sys/unix"
)

// allSignals is the signal mask that blocks every signal.
const allSignals = ^uint64(0)

// procFS reads the tracer's own /proc: the tids compel is given are
// the tracer's.
var procFS proc.FS

// injector runs syscalls and code on one stopped thread and puts the
// thread back as it found it. Invariants: between start and restore the
// thread's signals are all blocked; orig holds its registers and mask as
// found; inSyscallStop tells whether its current stop is a syscall-stop
// (outside get_signal, where the kernel would not restart an interrupted
// syscall on resume) rather than a PTRACE_EVENT_STOP or signal stop.
type injector struct {
	tr       *ptrace.Tracer
	pid, tid int
	orig     ptrace.Regs
	origMask uint64

	site          uint64 // address of a syscall instruction, 0 until needed
	patched       []byte // bytes at site before we wrote a syscall there
	inSyscallStop bool
	restored      bool
}

// startInjector checks that tid is in a PTRACE_EVENT_STOP of a 64-bit
// task compel may inject into, saves its registers and mask and blocks all
// its signals.
func startInjector(tr *ptrace.Tracer, tid int) (*injector, error) {
	st, err := procFS.Status(tid, 0)
	if err != nil {
		return nil, fmt.Errorf("read status of tid %d: %w", tid, err)
	}
	if st.Tgid <= 0 {
		return nil, fmt.Errorf("read status of tid %d: no Tgid: %w", tid, ErrNotSupported)
	}
	if st.Seccomp != 0 {
		if opts, _ := tr.Options(tid); opts&ptrace.OptSuspendSeccomp == 0 {
			return nil, fmt.Errorf("inject into tid %d (seccomp mode %d): %w", tid, st.Seccomp, ErrSeccomp)
		}
	}
	si, err := tr.GetSiginfo(tid)
	if err != nil {
		return nil, fmt.Errorf("inject into tid %d: %w", tid, err)
	}
	if si.Code()>>8 != unix.PTRACE_EVENT_STOP {
		return nil, fmt.Errorf("inject into tid %d: stopped by %v code %#x: %w", tid, si.Signo(), si.Code(), ErrNotEventStop)
	}
	regs, err := tr.GetRegs(tid)
	if err != nil {
		return nil, fmt.Errorf("inject into tid %d: %w", tid, err)
	}
	if regs.Cs != userCS {
		return nil, fmt.Errorf("inject into tid %d: code segment %#x is not 64-bit: %w", tid, regs.Cs, ErrNotSupported)
	}
	mask, err := tr.GetSigmask(tid)
	if err != nil {
		return nil, fmt.Errorf("inject into tid %d: %w", tid, err)
	}
	if err := tr.SetSigmask(tid, allSignals); err != nil {
		return nil, fmt.Errorf("inject into tid %d: block signals: %w", tid, err)
	}
	return &injector{tr: tr, pid: st.Tgid, tid: tid, orig: *regs, origMask: mask}, nil
}

// findSite picks a syscall instruction to run injected syscalls from,
// writing nothing when it can: the one the thread stopped right after (a
// thread interrupted in a syscall), else one in the vDSO, else it writes
// one over the bytes at the thread's IP (restored by restore).
func (in *injector) findSite() error {
	if in.site != 0 {
		return nil
	}
	var b [2]byte
	if in.orig.Rip >= 2 {
		if n, _ := ptrace.ReadMem(in.pid, in.orig.Rip-2, b[:]); n == 2 && string(b[:]) == syscallInsn {
			in.site = in.orig.Rip - 2
			return nil
		}
	}
	if addr, err := vdsoSyscall(in.pid); err != nil {
		return err
	} else if addr != 0 {
		in.site = addr
		return nil
	}
	old := make([]byte, 2)
	if _, err := ptrace.ReadMem(in.pid, in.orig.Rip, old); err != nil {
		return fmt.Errorf("save code at %#x of tid %d: %w", in.orig.Rip, in.tid, err)
	}
	if err := ptrace.PokeText(in.pid, in.orig.Rip, []byte(syscallInsn)); err != nil {
		return fmt.Errorf("write syscall at %#x of tid %d: %w", in.orig.Rip, in.tid, err)
	}
	in.site, in.patched = in.orig.Rip, old
	return nil
}

// vdsoSyscall returns the address of a syscall instruction (the bytes
// 0f 05, wherever they fall: the CPU decodes from where rip points) in
// pid's vDSO, or 0 if it has no vDSO or none there.
func vdsoSyscall(pid int) (uint64, error) {
	maps, err := procFS.Maps(pid)
	if err != nil {
		return 0, fmt.Errorf("find vdso of pid %d: %w", pid, err)
	}
	for _, v := range maps {
		if v.Kind != proc.VMAVdso {
			continue
		}
		if v.Len() > 1<<20 {
			return 0, fmt.Errorf("find vdso of pid %d: %d bytes: %w", pid, v.Len(), ErrNotSupported)
		}
		code := make([]byte, v.Len())
		if _, err := ptrace.ReadMem(pid, v.Start, code); err != nil {
			return 0, fmt.Errorf("read vdso of pid %d: %w", pid, err)
		}
		if i := bytes.Index(code, []byte(syscallInsn)); i >= 0 {
			return v.Start + uint64(i), nil
		}
		return 0, nil
	}
	return 0, nil
}

// call runs syscall nr with args in the thread, verifying each stop, and
// returns its result, or a *SyscallError for -errno.
func (in *injector) call(name string, nr uint64, args ...uint64) (uint64, error) {
	if in.restored {
		return 0, ErrCured
	}
	if err := in.findSite(); err != nil {
		return 0, err
	}
	ret, entered, err := inject(in.tr, in.tid, &in.orig, Site{IP: in.site, Verify: true}, name, nr, args...)
	if entered {
		in.inSyscallStop = true
	}
	if err != nil {
		return 0, err
	}
	return Result(in.tid, name, nr, ret)
}

// restore puts back the code bytes, registers and signal mask, and leaves
// the thread in a PTRACE_EVENT_STOP, where the kernel restarts an
// interrupted syscall when the thread is resumed.
func (in *injector) restore() error {
	if in.restored {
		return nil
	}
	var errs []error
	if in.patched != nil {
		if err := ptrace.PokeText(in.pid, in.site, in.patched); err != nil {
			errs = append(errs, fmt.Errorf("restore code of tid %d: %w", in.tid, err))
		}
	}
	if err := in.tr.SetRegs(in.tid, &in.orig); err != nil {
		errs = append(errs, fmt.Errorf("restore registers of tid %d: %w", in.tid, err))
	}
	if err := in.tr.SetSigmask(in.tid, in.origMask); err != nil {
		errs = append(errs, fmt.Errorf("restore signal mask of tid %d: %w", in.tid, err))
	}
	if in.inSyscallStop && len(errs) == 0 {
		// From a syscall-exit-stop the thread would return to user mode
		// without the restart logic of get_signal. Pass through an
		// interrupt stop: the trap comes before any user instruction or
		// signal delivery, and leaves the thread where it was found.
		if err := in.toEventStop(); err != nil {
			errs = append(errs, fmt.Errorf("restore stop of tid %d: %w", in.tid, err))
		}
	}
	in.restored = true
	return errors.Join(errs...)
}

func isEventStop(st ptrace.Stop) bool {
	return st.Kind == ptrace.InterruptStop || st.Kind == ptrace.GroupStop
}

// toEventStop moves a thread from a syscall-stop to a PTRACE_EVENT_STOP.
func (in *injector) toEventStop() error {
	if err := in.tr.Interrupt(in.tid); err != nil {
		return err
	}
	if err := in.tr.Cont(in.tid, 0); err != nil {
		return err
	}
	st, err := in.tr.Wait(in.tid)
	if err != nil {
		return err
	}
	if !isEventStop(st) {
		return fmt.Errorf("%v: %w", st, ptrace.ErrUnexpectedStop)
	}
	in.inSyscallStop = false
	return nil
}

// InjectSyscall runs one syscall in thread tid, which must be seized and
// in a PTRACE_EVENT_STOP (as ptrace.Tracer.InterruptWait leaves it), and
// puts the thread back exactly: registers, signal mask, code, and a
// restartable syscall it was interrupted in. It returns the syscall's
// result, or a *SyscallError for -errno.
func InjectSyscall(tr *ptrace.Tracer, tid int, nr uint64, args ...uint64) (uint64, error) {
	in, err := startInjector(tr, tid)
	if err != nil {
		return 0, err
	}
	ret, err := in.call("syscall "+strconv.FormatUint(nr, 10), nr, args...)
	if rerr := in.restore(); rerr != nil {
		return 0, errors.Join(err, rerr)
	}
	return ret, err
}
