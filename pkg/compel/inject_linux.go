package compel

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/criugo/criugo/pkg/ptrace"
	"golang.org/x/sys/unix"
)

// x86 facts used by the injector.
const (
	userCS      = 0x33 // 64-bit user code segment
	flagTF      = 1 << 8
	flagDF      = 1 << 10
	noSyscall   = ^uint64(0) // orig_rax = -1: "not in a syscall", no restart
	allSignals  = ^uint64(0)
	maxErrno    = 4095
	syscallInsn = "\x0f\x05"
)

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

// taskStatus is what compel needs from /proc/TID/status.
type taskStatus struct {
	tgid    int
	seccomp int
}

func readStatus(tid int) (taskStatus, error) {
	var st taskStatus
	data, err := os.ReadFile("/proc/" + strconv.Itoa(tid) + "/status")
	if err != nil {
		return st, fmt.Errorf("read status of tid %d: %w", tid, err)
	}
	st.tgid = -1
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		key, val, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		val = strings.TrimSpace(val)
		switch key {
		case "Tgid":
			st.tgid, err = strconv.Atoi(val)
		case "Seccomp":
			st.seccomp, err = strconv.Atoi(val)
		}
		if err != nil {
			return st, fmt.Errorf("parse status of tid %d: %s: %w", tid, key, err)
		}
	}
	if st.tgid <= 0 {
		return st, fmt.Errorf("parse status of tid %d: no Tgid: %w", tid, ErrNotSupported)
	}
	return st, nil
}

// startInjector checks that tid is in a PTRACE_EVENT_STOP of a 64-bit
// task compel may inject into, saves its registers and mask and blocks all
// its signals.
func startInjector(tr *ptrace.Tracer, tid int) (*injector, error) {
	st, err := readStatus(tid)
	if err != nil {
		return nil, err
	}
	if st.seccomp != 0 {
		if opts, _ := tr.Options(tid); opts&ptrace.OptSuspendSeccomp == 0 {
			return nil, fmt.Errorf("inject into tid %d (seccomp mode %d): %w", tid, st.seccomp, ErrSeccomp)
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
	return &injector{tr: tr, pid: st.tgid, tid: tid, orig: *regs, origMask: mask}, nil
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
	maps, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/maps")
	if err != nil {
		return 0, fmt.Errorf("find vdso of pid %d: %w", pid, err)
	}
	for line := range strings.Lines(string(maps)) {
		if !strings.HasSuffix(strings.TrimSpace(line), " [vdso]") {
			continue
		}
		var start, end uint64
		if _, err := fmt.Sscanf(line, "%x-%x", &start, &end); err != nil || end <= start || end-start > 1<<20 {
			return 0, fmt.Errorf("find vdso of pid %d: bad line %q", pid, line)
		}
		code := make([]byte, end-start)
		if _, err := ptrace.ReadMem(pid, start, code); err != nil {
			return 0, fmt.Errorf("read vdso of pid %d: %w", pid, err)
		}
		if i := bytes.Index(code, []byte(syscallInsn)); i >= 0 {
			return start + uint64(i), nil
		}
		return 0, nil
	}
	return 0, nil
}

// stepSyscall resumes the thread with PTRACE_SYSCALL and waits for the
// syscall-stop that must follow, checking it is op (entry, exit) of nr.
func (in *injector) stepSyscall(op uint8, nr uint64) error {
	var st ptrace.Stop
	for stray := 0; ; stray++ {
		if err := in.tr.Syscall(in.tid, 0); err != nil {
			return err
		}
		var err error
		if st, err = in.tr.Wait(in.tid); err != nil {
			return err
		}
		// A PTRACE_INTERRUPT still pending (one sent to a thread already
		// in a seize trap, say) traps before any code runs: go on.
		if !isEventStop(st) || stray == maxStrayTraps {
			break
		}
	}
	if st.Kind != ptrace.SyscallStop && !(st.Kind == ptrace.SignalStop && st.Signal == unix.SIGTRAP) {
		return fmt.Errorf("tid %d: %v: %w", in.tid, st, ptrace.ErrUnexpectedStop)
	}
	info, err := in.tr.GetSyscallInfo(in.tid)
	if err != nil {
		return err
	}
	if info.Op != op || (op == ptrace.SyscallInfoEntry && info.Nr != nr) {
		return fmt.Errorf("tid %d: syscall stop %+v, want op %d of syscall %d: %w", in.tid, info, op, nr, ptrace.ErrUnexpectedStop)
	}
	return nil
}

// syscall runs syscall nr with args in the thread and returns rax.
func (in *injector) syscall(nr uint64, args ...uint64) (uint64, error) {
	if in.restored {
		return 0, ErrCured
	}
	if len(args) > 6 {
		return 0, fmt.Errorf("inject syscall %d: %d arguments: %w", nr, len(args), unix.EINVAL)
	}
	if err := in.findSite(); err != nil {
		return 0, err
	}
	r := in.orig
	r.Rip, r.Rax, r.OrigRax = in.site, nr, noSyscall
	r.Eflags &^= flagTF
	var a [6]uint64
	copy(a[:], args)
	r.Rdi, r.Rsi, r.Rdx, r.R10, r.R8, r.R9 = a[0], a[1], a[2], a[3], a[4], a[5]
	if err := in.tr.SetRegs(in.tid, &r); err != nil {
		return 0, fmt.Errorf("inject syscall %d: %w", nr, err)
	}
	if err := in.stepSyscall(ptrace.SyscallInfoEntry, nr); err != nil {
		return 0, fmt.Errorf("inject syscall %d: enter: %w", nr, err)
	}
	in.inSyscallStop = true
	if err := in.stepSyscall(ptrace.SyscallInfoExit, nr); err != nil {
		return 0, fmt.Errorf("inject syscall %d: exit: %w", nr, err)
	}
	out, err := in.tr.GetRegs(in.tid)
	if err != nil {
		return 0, fmt.Errorf("inject syscall %d: %w", nr, err)
	}
	return out.Rax, nil
}

// call is syscall with -errno results turned into a *SyscallError.
func (in *injector) call(name string, nr uint64, args ...uint64) (uint64, error) {
	ret, err := in.syscall(nr, args...)
	if err != nil {
		return 0, err
	}
	if r := int64(ret); r < 0 && r >= -maxErrno {
		return 0, &SyscallError{Op: name, Errno: unix.Errno(-ret)}
	}
	return ret, nil
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

// maxStrayTraps bounds how many pending PTRACE_EVENT_STOPs a resumed
// thread may fall into before compel gives up on it.
const maxStrayTraps = 3

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
