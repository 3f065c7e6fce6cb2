package ptrace

import (
	"errors"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/criugo/criugo/internal/testutil"
)

// getpidSteps runs getpid in a tracee stopped right after a `syscall`
// instruction (the sleep tracee, interrupted), through the steps an
// injection takes, and puts its registers back.
type getpidSteps interface {
	GetRegs(tid int) (*Regs, error)
	SetRegs(tid int, r *Regs) error
	Syscall(tid int, sig unix.Signal) error
	Wait(tid int) (Stop, error)
}

func injectGetpid(s getpidSteps, tid int, base *Regs) (uint64, error) {
	r := *base
	r.Rip = base.Rip - 2 // the `syscall` of clock_nanosleep
	r.Rax = unix.SYS_GETPID
	r.OrigRax = ^uint64(0)
	if err := s.SetRegs(tid, &r); err != nil {
		return 0, err
	}
	for range 2 { // entry, then exit
		if err := s.Syscall(tid, 0); err != nil {
			return 0, err
		}
		st, err := s.Wait(tid)
		if err != nil {
			return 0, err
		}
		if st.Kind != SyscallStop {
			return 0, &stopError{op: "inject getpid", st: st}
		}
	}
	out, err := s.GetRegs(tid)
	if err != nil {
		return 0, err
	}
	return out.Rax, s.SetRegs(tid, base)
}

func TestBatchInjectsSyscall(t *testing.T) {
	testutil.RequireRoot(t)
	cmd := startTracee(t, "sleep")
	pid := cmd.Process.Pid
	tr := NewTracer()
	defer tr.Close()
	seizeStopped(t, tr, pid, OptTraceSysGood)
	base, err := tr.GetRegs(pid)
	if err != nil {
		t.Fatal(err)
	}
	var got uint64
	var kept *Batch
	err = tr.Batch(func(b *Batch) error {
		kept = b
		var err error
		got, err = injectGetpid(b, pid, base)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if got != uint64(pid) {
		t.Errorf("getpid in the tracee returned %d, want %d", got, pid)
	}
	if _, err := kept.GetRegs(pid); !errors.Is(err, ErrClosed) {
		t.Errorf("batch used after its end: %v, want ErrClosed", err)
	}
	// An error inside the batch comes out of it.
	err = tr.Batch(func(b *Batch) error {
		_, err := b.GetRegs(pid + 1<<22)
		return err
	})
	if !errors.Is(err, unix.ESRCH) {
		t.Errorf("batch request on a task that is no tracee: %v, want ESRCH", err)
	}
	// The tracee goes on sleeping where it was.
	if r, err := tr.GetRegs(pid); err != nil || *r != *base {
		t.Errorf("registers after the batch: %+v (%v), want %+v", r, err, base)
	}
	if err := tr.Detach(pid, 0); err != nil {
		t.Fatal(err)
	}
}

// tracerSteps runs the injection steps one trip each.
type tracerSteps struct{ *Tracer }

// BenchmarkInjectSyscall compares a syscall injected with one trip to the
// tracer thread per request and with one batch.
func BenchmarkInjectSyscall(b *testing.B) {
	testutil.RequireRoot(b)
	for _, batched := range []bool{false, true} {
		name := "separate"
		if batched {
			name = "batch"
		}
		b.Run(name, func(b *testing.B) {
			cmd := startTracee(b, "sleep")
			pid := cmd.Process.Pid
			tr := NewTracer()
			defer tr.Close()
			if err := tr.Seize(pid, OptTraceSysGood); err != nil {
				b.Fatal(err)
			}
			if _, err := tr.InterruptWait(pid); err != nil {
				b.Fatal(err)
			}
			base, err := tr.GetRegs(pid)
			if err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				if batched {
					err = tr.Batch(func(bt *Batch) error {
						_, err := injectGetpid(bt, pid, base)
						return err
					})
				} else {
					_, err = injectGetpid(tracerSteps{tr}, pid, base)
				}
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
