package restore

import (
	"encoding/binary"
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/criugo/criugo/images"
	"github.com/criugo/criugo/pkg/ptrace"
)

// seccomp(2) operations and filter flags (linux/seccomp.h).
const (
	seccompSetModeStrict = 0
	seccompSetModeFilter = 1

	seccompFlagTsync     = 1 << 0
	seccompFlagLog       = 1 << 1
	seccompFlagSpecAllow = 1 << 2

	// bpfMaxInsns bounds one classic BPF program (BPF_MAXINSNS).
	bpfMaxInsns = 4096
	// sockFilterSize is the size of struct sock_filter.
	sockFilterSize = 8
	// sockFprogSize is the size of struct sock_fprog on x86_64: a u16
	// length, padding, a pointer.
	sockFprogSize = 16
)

// seccompThread is the seccomp state of one thread: its mode and, in
// filter mode, its filter chain, oldest filter first (the order of
// installation).
type seccompThread struct {
	mode  images.SeccompMode
	chain []*images.SeccompFilter
}

// planSeccomp checks the seccomp state of thread tid against seccomp.img
// and records it in p. A chain is followed through the prev indexes from
// the thread's newest filter; a loop, an index out of range, a program
// that is not whole instructions or a flag that would need more than an
// install (a user-notification listener) is refused before anything is
// created.
func (r *restorer) planSeccomp(p *taskPlan, tid int, c *images.CoreEntry) error {
	if m := c.GetTc().GetOldSeccompMode(); m != images.SeccompMode_disabled {
		return fmt.Errorf("restore tid %d: seccomp mode %v in the old field: %w", tid, m, ErrNotSupported)
	}
	tc := c.GetThreadCore()
	mode := tc.GetSeccompMode()
	switch mode {
	case images.SeccompMode_disabled:
		return nil
	case images.SeccompMode_strict:
		p.addSeccomp(tid, &seccompThread{mode: mode})
		return nil
	case images.SeccompMode_filter:
	default:
		return fmt.Errorf("read %s: seccomp mode %d: %w", coreName(uint32(tid)), mode, ErrBadImage)
	}
	if tc.SeccompFilter == nil {
		return fmt.Errorf("read %s: seccomp filter mode without a filter: %w", coreName(uint32(tid)), ErrBadImage)
	}
	se, err := single[*images.SeccompEntry](r.set, "seccomp.img")
	if err != nil {
		return err
	}
	filters := se.GetSeccompFilters()
	var chain []*images.SeccompFilter
	idx := tc.GetSeccompFilter()
	for {
		if int(idx) >= len(filters) || len(chain) >= len(filters) {
			return fmt.Errorf("read seccomp.img: filter chain of tid %d: index %d of %d filters (or a loop): %w", tid, idx, len(filters), ErrBadImage)
		}
		f := filters[idx]
		if n := len(f.GetFilter()); n == 0 || n%sockFilterSize != 0 || n/sockFilterSize > bpfMaxInsns {
			return fmt.Errorf("read seccomp.img: filter %d: %d bytes: %w", idx, n, ErrBadImage)
		}
		if fl := f.GetFlags(); fl&^(seccompFlagTsync|seccompFlagLog|seccompFlagSpecAllow) != 0 {
			return fmt.Errorf("restore seccomp filter %d of tid %d: flags %#x: %w", idx, tid, fl, ErrNotSupported)
		}
		chain = append(chain, f)
		if f.Prev == nil {
			break
		}
		idx = f.GetPrev()
	}
	for i, j := 0, len(chain)-1; i < j; i, j = i+1, j-1 {
		chain[i], chain[j] = chain[j], chain[i]
	}
	p.addSeccomp(tid, &seccompThread{mode: mode, chain: chain})
	return nil
}

func (p *taskPlan) addSeccomp(tid int, s *seccompThread) {
	if p.seccomp == nil {
		p.seccomp = map[int]*seccompThread{}
	}
	p.seccomp[tid] = s
}

// restoreSeccomp puts every thread of t back in its seccomp mode, the
// leader first, each filter of a chain installed by the thread itself in
// the order it was first installed, with its flags. A chain recorded
// with SECCOMP_FILTER_FLAG_TSYNC (the threads shared it) is recorded for
// the leader only, and its install gives it to every thread, shared, as
// the original TSYNC did.
//
// Once a filter is in, the calls still injected into the task (credentials,
// the scratch area's munmap) must not meet it: every thread of t is traced
// with PTRACE_O_SUSPEND_SECCOMP from here on, which the detach at the end
// drops. The filters go in before the credentials, while the task still
// has CAP_SYS_ADMIN: a filter needs it or no_new_privs, and the restored
// credentials may have neither yet.
func (r *restorer) restoreSeccomp(t *task) error {
	p := r.plans[t.pid]
	if len(p.seccomp) == 0 {
		return nil
	}
	for _, th := range t.threads {
		if err := r.tr.SetOptions(th.tid, traceOpts|ptrace.OptSuspendSeccomp); err != nil {
			return fmt.Errorf("restore seccomp of pid %d: %w", t.pid, err)
		}
	}
	for _, th := range t.threads {
		s := p.seccomp[th.vtid]
		if s == nil {
			continue
		}
		if s.mode == images.SeccompMode_strict {
			if _, err := r.call(t, th, "seccomp SET_MODE_STRICT", unix.SYS_SECCOMP, seccompSetModeStrict, 0, 0); err != nil {
				return fmt.Errorf("restore seccomp strict mode of tid %d: %w", th.tid, err)
			}
			continue
		}
		for i, f := range s.chain {
			if err := r.installFilter(t, th, f); err != nil {
				return fmt.Errorf("restore seccomp filter %d of %d of tid %d: %w", i+1, len(s.chain), th.tid, err)
			}
		}
	}
	return nil
}

// installFilter injects seccomp(SECCOMP_SET_MODE_FILTER) into th with
// f's program and flags. The program goes in the scratch area when it
// fits, else in an anonymous mapping made for the call and removed after.
func (r *restorer) installFilter(t *task, th *thread, f *images.SeccompFilter) error {
	prog := f.GetFilter()
	need := uint64(sockFprogSize + len(prog))
	base := t.scratch + scratchDataOff
	if need > scratchDataLen {
		size := (need + pageSize - 1) &^ (pageSize - 1)
		addr, err := r.call(t, th, "mmap seccomp program", unix.SYS_MMAP, 0, size, protRead|protWrite, mapPrivate|mapAnonymous, ^uint64(0), 0)
		if err != nil {
			return err
		}
		defer func() {
			// The mapping was not in the image: it must go whatever happened.
			_, _ = r.call(t, th, "munmap seccomp program", unix.SYS_MUNMAP, addr, size)
		}()
		base = addr
	}
	buf := make([]byte, sockFprogSize, need)
	binary.LittleEndian.PutUint16(buf[0:], uint16(len(prog)/sockFilterSize))
	binary.LittleEndian.PutUint64(buf[8:], base+sockFprogSize)
	buf = append(buf, prog...)
	if err := writeMem(t.real, base, buf); err != nil {
		return err
	}
	ret, err := r.call(t, th, "seccomp SET_MODE_FILTER", unix.SYS_SECCOMP, seccompSetModeFilter, uint64(f.GetFlags()), base)
	if err != nil {
		return err
	}
	if ret != 0 {
		// With TSYNC, a positive result is a thread that could not take
		// the filter (it has filters of its own, or strict mode).
		return fmt.Errorf("seccomp TSYNC: tid %d cannot share the filter: %w", ret, ErrBadImage)
	}
	return nil
}
