package dump

import (
	"encoding/binary"
	"errors"
	"fmt"
	"github.com/criugo/criugo/pkg/x86"

	"golang.org/x/sys/unix"

	"github.com/criugo/criugo/pie"
	"github.com/criugo/criugo/pkg/compel"
	"github.com/criugo/criugo/pkg/ptrace"
)

// prctl options read by injected syscalls.
const (
	prGetSecurebits = 27
	prGetTIDAddress = 40
)

// threadExtras reads, with syscalls injected into each thread, the
// per-thread state the parasite blob does not report: the clear_child_tid
// address and the securebits. The kernel writes the address to memory, so
// a scratch page is mapped in the task for the time of the reads and
// unmapped after. The threads are left as found.
//
// The three TLS descriptors of the GDT are not read: get_thread_area is
// not a 64-bit syscall, and pkg/ptrace has no PTRACE_GET_THREAD_AREA yet.
// They are recorded as the kernel reports unused slots, which they are
// for every 64-bit task that never called set_thread_area through int 0x80.
func threadExtras(tr *ptrace.Tracer, pid int, ths []*threadState) (err error) {
	leader := ths[0].tid
	scratch, err := compel.InjectSyscall(tr, leader, unix.SYS_MMAP, 0, pageSize,
		unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS, ^uint64(0), 0)
	if err != nil {
		return fmt.Errorf("map scratch page in pid %d: %w", pid, err)
	}
	defer func() {
		if _, uerr := compel.InjectSyscall(tr, leader, unix.SYS_MUNMAP, scratch, pageSize); uerr != nil {
			err = errors.Join(err, fmt.Errorf("unmap scratch page of pid %d: %w", pid, uerr))
		}
	}()
	var buf [x86.UserDescSize]byte
	for _, th := range ths {
		if _, err := compel.InjectSyscall(tr, th.tid, unix.SYS_PRCTL, prGetTIDAddress, scratch); err != nil {
			return fmt.Errorf("read clear_child_tid of tid %d: %w", th.tid, err)
		}
		if _, err := ptrace.ReadMem(pid, scratch, buf[:8]); err != nil {
			return fmt.Errorf("read clear_child_tid of tid %d: %w", th.tid, err)
		}
		th.tidAddr = binary.LittleEndian.Uint64(buf[:8])
		th.tls = emptyTLS()
		bits, err := compel.InjectSyscall(tr, th.tid, unix.SYS_PRCTL, prGetSecurebits)
		if err != nil {
			return fmt.Errorf("read securebits of tid %d: %w", th.tid, err)
		}
		th.secbits = uint32(bits)
	}
	return nil
}

// parasiteState is what the parasite blob reports for a task.
type parasiteState struct {
	sigactions [sigMax]pie.Sigaction
	itimers    [3]pie.Itimer
	timers     []pie.PosixTimer
	misc       pie.Misc
}

// runParasite infects the task, asks the parasite for the process-wide
// state and each thread's own state, and cures the task.
func runParasite(tr *ptrace.Tracer, pid int, ths []*threadState, timerIDs []int32) (ps parasiteState, err error) {
	p, err := compel.Infect(tr, ths[0].tid)
	if err != nil {
		return ps, fmt.Errorf("infect pid %d: %w", pid, err)
	}
	defer func() {
		if cerr := p.Cure(); cerr != nil {
			err = errors.Join(err, fmt.Errorf("cure pid %d: %w", pid, cerr))
		}
	}()
	if ps.sigactions, err = p.Sigactions(); err != nil {
		return ps, fmt.Errorf("read sigactions of pid %d: %w", pid, err)
	}
	if ps.itimers, err = p.Itimers(); err != nil {
		return ps, fmt.Errorf("read itimers of pid %d: %w", pid, err)
	}
	if len(timerIDs) > 0 {
		if ps.timers, err = p.PosixTimers(timerIDs); err != nil {
			return ps, fmt.Errorf("read posix timers of pid %d: %w", pid, err)
		}
	}
	if ps.misc, err = p.Misc(); err != nil {
		return ps, fmt.Errorf("read misc state of pid %d: %w", pid, err)
	}
	if ths[0].sas, err = p.Leader().State(); err != nil {
		return ps, fmt.Errorf("read thread state of tid %d: %w", ths[0].tid, err)
	}
	for _, th := range ths[1:] {
		pt, err := p.EnterThread(th.tid)
		if err != nil {
			return ps, fmt.Errorf("enter tid %d: %w", th.tid, err)
		}
		th.sas, err = pt.State()
		if lerr := pt.Leave(); err == nil {
			err = lerr
		}
		if err != nil {
			return ps, fmt.Errorf("read thread state of tid %d: %w", th.tid, err)
		}
	}
	return ps, nil
}

// emptyTLS returns three unused TLS slots as get_thread_area reports them:
// the entry number, read_exec_only and seg_not_present set.
func emptyTLS() (tls [x86.GDTEntryTLSNum][x86.UserDescSize]byte) {
	for i := range tls {
		binary.LittleEndian.PutUint32(tls[i][0:], uint32(x86.GDTEntryTLSMin+i))
		binary.LittleEndian.PutUint32(tls[i][12:], 1<<3|1<<5)
	}
	return tls
}
