package ptrace

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// GetRegs reads the general registers of a stopped tracee (GETREGSET
// NT_PRSTATUS).
func (t *Tracer) GetRegs(tid int) (*Regs, error) {
	r := new(Regs)
	if err := t.do(func() error { return getRegs(tid, r) }); err != nil {
		return nil, err
	}
	return r, nil
}

func getRegs(tid int, r *Regs) error {
	n, err := getRegset(tid, ntPrstatus, regsBytes(r))
	if err != nil {
		return reqError("getregset", tid, err)
	}
	if n != RegsSize {
		return fmt.Errorf("get registers of tid %d: kernel gave %d bytes, want %d: %w", tid, n, RegsSize, ErrUnexpectedStop)
	}
	return nil
}

// SetRegs writes the general registers of a stopped tracee (SETREGSET
// NT_PRSTATUS).
func (t *Tracer) SetRegs(tid int, r *Regs) error {
	c := *r
	return t.do(func() error { return setRegs(tid, &c) })
}

func setRegs(tid int, r *Regs) error {
	return reqError("setregset", tid, setRegset(tid, ntPrstatus, regsBytes(r)))
}

// GetFPRegs reads the xsave area of a stopped tracee (GETREGSET
// NT_X86_XSTATE). Its size is the kernel's, 2432 bytes with AVX-512.
func (t *Tracer) GetFPRegs(tid int) ([]byte, error) {
	var out []byte
	err := t.do(func() error {
		size := t.xstateSize
		if size == 0 {
			size = xstateMax
		}
		buf := make([]byte, size)
		n, err := getRegset(tid, ntX86Xstate, buf)
		if err != nil {
			return reqError("getregset", tid, err)
		}
		t.xstateSize = n
		out = buf[:n:n]
		return nil
	})
	return out, err
}

// SetFPRegs writes the xsave area of a stopped tracee, as GetFPRegs gave it.
func (t *Tracer) SetFPRegs(tid int, xsave []byte) error {
	if len(xsave) == 0 || len(xsave)%8 != 0 || len(xsave) > xstateMax {
		return fmt.Errorf("set fp registers of tid %d: xsave area of %d bytes: %w", tid, len(xsave), unix.EINVAL)
	}
	c := append([]byte(nil), xsave...)
	return t.do(func() error {
		return reqError("setregset", tid, setRegset(tid, ntX86Xstate, c))
	})
}

// GetSigmask reads the blocked-signal mask of a stopped tracee: bit n-1
// stands for signal n.
func (t *Tracer) GetSigmask(tid int) (uint64, error) {
	var mask uint64
	err := t.do(func() error {
		_, err := ptracePtr(unix.PTRACE_GETSIGMASK, tid, 8, &mask)
		return reqError("getsigmask", tid, err)
	})
	return mask, err
}

// SetSigmask sets the blocked-signal mask of a stopped tracee. The kernel
// silently keeps SIGKILL and SIGSTOP unblocked.
func (t *Tracer) SetSigmask(tid int, mask uint64) error {
	return t.do(func() error {
		_, err := ptracePtr(unix.PTRACE_SETSIGMASK, tid, 8, &mask)
		return reqError("setsigmask", tid, err)
	})
}

// GetSiginfo reads the siginfo of the current stop (PTRACE_GETSIGINFO).
// For a PTRACE_EVENT_STOP, si_code is the stop signal | event<<8.
func (t *Tracer) GetSiginfo(tid int) (*Siginfo, error) {
	si := new(Siginfo)
	err := t.do(func() error {
		_, err := ptraceSlice(unix.PTRACE_GETSIGINFO, tid, 0, si[:])
		return reqError("getsiginfo", tid, err)
	})
	if err != nil {
		return nil, err
	}
	return si, nil
}

// PeekSiginfo reads, without dequeuing, the signals pending for a stopped
// tracee: the thread's own queue, or the thread group's when shared.
func (t *Tracer) PeekSiginfo(tid int, shared bool) ([]Siginfo, error) {
	var out []Siginfo
	err := t.do(func() error {
		const batch = 32
		buf := make([]Siginfo, batch)
		args := peeksiginfoArgs{Nr: batch}
		if shared {
			args.Flags = peeksiginfoShared
		}
		for {
			n, err := peekSiginfo(tid, &args, buf)
			if err != nil {
				return reqError("peeksiginfo", tid, err)
			}
			if n == 0 {
				return nil
			}
			if n > batch {
				return fmt.Errorf("peek siginfo of tid %d: kernel gave %d entries for %d: %w", tid, n, batch, ErrTooBig)
			}
			out = append(out, buf[:n]...)
			if len(out) > maxQueuedSignals {
				return fmt.Errorf("peek siginfo of tid %d: over %d queued signals: %w", tid, maxQueuedSignals, ErrTooBig)
			}
			args.Off += uint64(n)
		}
	})
	return out, err
}

// GetSyscallInfo reads PTRACE_GET_SYSCALL_INFO: which syscall a tracee in
// a syscall-stop is entering or leaving, or just IP and SP in other stops.
func (t *Tracer) GetSyscallInfo(tid int) (SyscallInfo, error) {
	var info SyscallInfo
	err := t.do(func() error {
		var err error
		info, err = getSyscallInfo(tid)
		return err
	})
	return info, err
}

func getSyscallInfo(tid int) (SyscallInfo, error) {
	var raw rawSyscallInfo
	if _, err := ptracePtr(unix.PTRACE_GET_SYSCALL_INFO, tid, rawSyscallInfoSize, &raw); err != nil {
		return SyscallInfo{}, reqError("get_syscall_info", tid, err)
	}
	info := SyscallInfo{Op: raw.Op, Arch: raw.Arch, IP: raw.IP, SP: raw.SP}
	switch raw.Op {
	case SyscallInfoEntry, SyscallInfoSeccomp:
		info.Nr = raw.Union[0]
		copy(info.Args[:], raw.Union[1:7])
		if raw.Op == SyscallInfoSeccomp {
			info.RetData = uint32(raw.Union[7])
		}
	case SyscallInfoExit:
		info.RetVal = int64(raw.Union[0])
		info.IsError = raw.Union[1]&0xff != 0
	}
	return info, nil
}

// SeccompGetFilter reads the classic BPF program of the seccomp filter at
// index (0 is the first installed, the oldest) of a stopped
// tracee. It fails
// with ENOENT past the last filter.
func (t *Tracer) SeccompGetFilter(tid, index int) ([]SockFilter, error) {
	var prog []SockFilter
	err := t.do(func() error {
		n, err := ptrace(unix.PTRACE_SECCOMP_GET_FILTER, tid, uintptr(index), 0)
		if err != nil {
			return reqError("seccomp_get_filter", tid, err)
		}
		if n == 0 || n > bpfMaxInsns {
			return fmt.Errorf("get seccomp filter %d of tid %d: %d instructions: %w", index, tid, n, ErrTooBig)
		}
		prog = make([]SockFilter, n)
		m, err := ptraceSlice(unix.PTRACE_SECCOMP_GET_FILTER, tid, uintptr(index), prog)
		if err != nil {
			return reqError("seccomp_get_filter", tid, err)
		}
		if m != n {
			return fmt.Errorf("get seccomp filter %d of tid %d: size changed from %d to %d: %w", index, tid, n, m, ErrUnexpectedStop)
		}
		return nil
	})
	return prog, err
}

// SeccompGetFlags reads the SECCOMP_FILTER_FLAG_* flags (only _LOG is
// reported) of the seccomp filter at index (PTRACE_SECCOMP_GET_METADATA).
func (t *Tracer) SeccompGetFlags(tid, index int) (uint64, error) {
	md := seccompMetadata{FilterOff: uint64(index)}
	err := t.do(func() error {
		_, err := ptracePtr(unix.PTRACE_SECCOMP_GET_METADATA, tid, seccompMetadataSize, &md)
		return reqError("seccomp_get_metadata", tid, err)
	})
	return md.Flags, err
}

// GetRseqConfiguration reads where and how the tracee thread registered
// its rseq area (PTRACE_GET_RSEQ_CONFIGURATION). Pointer is 0 when it has
// none.
func (t *Tracer) GetRseqConfiguration(tid int) (RseqConfiguration, error) {
	var c RseqConfiguration
	err := t.do(func() error {
		n, err := ptracePtr(unix.PTRACE_GET_RSEQ_CONFIGURATION, tid, rseqConfigurationSize, &c)
		if err != nil {
			return reqError("get_rseq_configuration", tid, err)
		}
		if n != rseqConfigurationSize {
			return fmt.Errorf("get rseq configuration of tid %d: kernel gave %d bytes: %w", tid, n, ErrUnexpectedStop)
		}
		return nil
	})
	return c, err
}
