package compel

import (
	"encoding/binary"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/criugo/criugo/internal/testutil"
	"github.com/criugo/criugo/pie"
	"github.com/criugo/criugo/pkg/ptrace"
)

// batchCall is one call of a test batch.
type batchCall struct {
	nr      uint64
	args    [6]uint64
	ref     [6]uint8
	mayFail bool
}

// runBatch writes calls as a pie.Batch at list in tid's task, runs the
// batch runner copied at code, and returns how many calls ran and what
// each returned.
func runBatch(t *testing.T, tr *ptrace.Tracer, tid int, base *ptrace.Regs, code, list, stack uint64, calls []batchCall) (int, []int64) {
	t.Helper()
	buf := make([]byte, pie.BatchSize+len(calls)*pie.BatchCallSize)
	binary.LittleEndian.PutUint32(buf, uint32(len(calls)))
	binary.LittleEndian.PutUint32(buf[pie.BatchDoneOff:], 0xdead)
	for i, c := range calls {
		o := pie.BatchSize + i*pie.BatchCallSize
		binary.LittleEndian.PutUint64(buf[o:], c.nr)
		for k, a := range c.args {
			binary.LittleEndian.PutUint64(buf[o+8+8*k:], a)
		}
		copy(buf[o+pie.BatchCallRef:], c.ref[:])
		if c.mayFail {
			buf[o+pie.BatchCallFlags] = pie.BatchMayFail
		}
	}
	if _, err := ptrace.WriteMem(tid, list, buf); err != nil {
		t.Fatal(err)
	}
	if err := RunBatch(tr, tid, base, code+pie.BatchEntry, stack, list); err != nil {
		t.Fatal(err)
	}
	if _, err := ptrace.ReadMem(tid, list, buf); err != nil {
		t.Fatal(err)
	}
	rets := make([]int64, len(calls))
	for i := range calls {
		rets[i] = int64(binary.LittleEndian.Uint64(buf[pie.BatchSize+i*pie.BatchCallSize+pie.BatchCallRet:]))
	}
	return int(binary.LittleEndian.Uint32(buf[pie.BatchDoneOff:])), rets
}

// TestRunBatch runs pie's batch runner in a victim: results feed later
// calls (ref), the first failure stops the list unless the call may
// fail, and the thread ends in the runner's SIGSTOP, from which it is put
// back as it was.
func TestRunBatch(t *testing.T) {
	testutil.RequireRoot(t)
	v := startVictim(t, "full")
	tr := ptrace.NewTracer()
	defer tr.Close()
	seize(t, tr, v.pid)
	s := snapshot(t, tr, v.pid)

	const size = 3 * pageSize
	area, err := InjectSyscall(tr, v.pid, unix.SYS_MMAP, 0, size,
		unix.PROT_READ|unix.PROT_WRITE|unix.PROT_EXEC, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS, ^uint64(0), 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ptrace.WriteMem(v.pid, area, pie.Parasite.Code()); err != nil {
		t.Fatal(err)
	}
	// The runner must see no signal it does not block.
	if err := tr.SetSigmask(v.pid, ^uint64(0)); err != nil {
		t.Fatal(err)
	}
	list, stack := area+pageSize, area+pageSize

	done, rets := runBatch(t, tr, v.pid, &s.regs, area, list, stack, []batchCall{
		{nr: unix.SYS_DUP, args: [6]uint64{0}},
		{nr: unix.SYS_FCNTL, args: [6]uint64{0, unix.F_GETFD}, ref: [6]uint8{1}},
		{nr: unix.SYS_CLOSE, ref: [6]uint8{1}},
		{nr: unix.SYS_CLOSE, args: [6]uint64{1000}},
		{nr: unix.SYS_GETPID},
	})
	if done != 4 {
		t.Errorf("%d calls done, want 4 (up to the failed close)", done)
	}
	if rets[0] < 3 || rets[1] != 0 || rets[2] != 0 || rets[3] != -int64(unix.EBADF) {
		t.Errorf("results %v, want an fd, 0, 0, -EBADF", rets[:4])
	}
	// The fd dup made is closed: closing it again fails.
	done, rets = runBatch(t, tr, v.pid, &s.regs, area, list, stack, []batchCall{
		{nr: unix.SYS_CLOSE, args: [6]uint64{uint64(rets[0])}, mayFail: true},
		{nr: unix.SYS_GETPID},
	})
	if done != 2 || rets[0] != -int64(unix.EBADF) || rets[1] != int64(v.pid) {
		t.Errorf("%d calls done, results %v, want 2, -EBADF, %d", done, rets, v.pid)
	}
	st, err := tr.GetSiginfo(v.pid)
	if err != nil || st.Signo() != unix.SIGSTOP {
		t.Errorf("after a batch: siginfo %+v, %v; want the runner's SIGSTOP", st, err)
	}

	// Back to an event stop with the old registers and mask, as found.
	if err := tr.SetRegs(v.pid, &s.regs); err != nil {
		t.Fatal(err)
	}
	if err := tr.SetSigmask(v.pid, s.mask); err != nil {
		t.Fatal(err)
	}
	// Interrupted and resumed from the signal-delivery stop (the SIGSTOP
	// dropped), it traps before running any code.
	if err := tr.Interrupt(v.pid); err != nil {
		t.Fatal(err)
	}
	if err := tr.Cont(v.pid, 0); err != nil {
		t.Fatal(err)
	}
	if st, err := tr.Wait(v.pid); err != nil || st.Kind != ptrace.InterruptStop {
		t.Fatalf("back from a batch: %v, %v; want an interrupt stop", st, err)
	}
	if _, err := InjectSyscall(tr, v.pid, unix.SYS_MUNMAP, area, size); err != nil {
		t.Fatal(err)
	}
	s.same(t, tr, v.pid)
	detach(t, tr, v.pid)
	v.check(t)
}
