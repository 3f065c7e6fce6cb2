package ptrace

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// Batch makes requests straight on the tracer thread, inside the function
// given to Tracer.Batch: a sequence of requests takes one trip to the
// tracer thread instead of one each. Running a syscall in a tracee (set
// the registers, resume to the syscall-entry stop, wait, resume to the
// exit stop, wait, read the registers) is six trips one by one, one as a
// batch:
//
//	caller                     tracer thread
//	  t.Batch(f) ---- f ---->    f(b): SETREGSET, PTRACE_SYSCALL, wait4,
//	                                   PTRACE_SYSCALL, wait4, GETREGSET
//	           <--- error ---
//
// A Batch is valid only while its function runs; later calls fail with
// ErrClosed. The function must not call the Tracer's own methods, which
// would wait for the thread it holds.
type Batch struct {
	t    *Tracer
	done bool
}

// Batch runs f on the tracer thread and returns its error. Like Wait, it
// holds the thread for as long as f runs.
func (t *Tracer) Batch(f func(b *Batch) error) error {
	return t.do(func() error {
		b := &Batch{t: t}
		defer func() { b.done = true }()
		return f(b)
	})
}

func (b *Batch) check(op string, tid int) error {
	if b.done {
		return fmt.Errorf("ptrace %s tid %d: batch used after its end: %w", op, tid, ErrClosed)
	}
	return nil
}

// GetRegs is Tracer.GetRegs within the batch.
func (b *Batch) GetRegs(tid int) (*Regs, error) {
	if err := b.check("getregset", tid); err != nil {
		return nil, err
	}
	r := new(Regs)
	if err := getRegs(tid, r); err != nil {
		return nil, err
	}
	return r, nil
}

// SetRegs is Tracer.SetRegs within the batch.
func (b *Batch) SetRegs(tid int, r *Regs) error {
	if err := b.check("setregset", tid); err != nil {
		return err
	}
	return setRegs(tid, r)
}

// Syscall is Tracer.Syscall within the batch.
func (b *Batch) Syscall(tid int, sig unix.Signal) error {
	if err := b.check("syscall", tid); err != nil {
		return err
	}
	return resume(unix.PTRACE_SYSCALL, "syscall", tid, sig)
}

// Cont is Tracer.Cont within the batch.
func (b *Batch) Cont(tid int, sig unix.Signal) error {
	if err := b.check("cont", tid); err != nil {
		return err
	}
	return resume(unix.PTRACE_CONT, "cont", tid, sig)
}

// Wait is Tracer.Wait within the batch: it blocks until tid stops or ends.
func (b *Batch) Wait(tid int) (Stop, error) {
	if err := b.check("wait4", tid); err != nil {
		return Stop{}, err
	}
	return b.t.wait4(tid, 0)
}

// GetSyscallInfo is Tracer.GetSyscallInfo within the batch.
func (b *Batch) GetSyscallInfo(tid int) (SyscallInfo, error) {
	if err := b.check("get_syscall_info", tid); err != nil {
		return SyscallInfo{}, err
	}
	return getSyscallInfo(tid)
}
