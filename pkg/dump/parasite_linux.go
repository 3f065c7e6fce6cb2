package dump

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/criugo/criugo/pie"
	"github.com/criugo/criugo/pkg/compel"
	"github.com/criugo/criugo/pkg/ptrace"
	"github.com/criugo/criugo/pkg/x86"
)

// parasiteState is what the parasite blob reports for a task.
type parasiteState struct {
	sigactions [sigMax]pie.Sigaction
	itimers    [3]pie.Itimer
	timers     []pie.PosixTimer
	misc       pie.Misc
}

// runParasite infects the task, asks the parasite for the process-wide
// state and each thread's own state (with its clear_child_tid address and
// securebits, which only the thread can read), and cures the task.
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
	task, err := p.Task()
	if err != nil {
		return ps, fmt.Errorf("read sigactions, itimers, misc state and thread state of pid %d: %w", pid, err)
	}
	ps.sigactions, ps.itimers, ps.misc, ths[0].sas = task.Sigactions, task.Itimers, task.Misc, task.Thread
	ths[0].fromParasite()
	if len(timerIDs) > 0 {
		if ps.timers, err = p.PosixTimers(timerIDs); err != nil {
			return ps, fmt.Errorf("read posix timers of pid %d: %w", pid, err)
		}
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
		th.fromParasite()
	}
	return ps, nil
}

// fromParasite takes the fields of the thread's state that the parasite
// reported beside its sigaltstack.
//
// The three TLS descriptors of the GDT are not read: get_thread_area is
// not a 64-bit syscall, and pkg/ptrace has no PTRACE_GET_THREAD_AREA yet.
// They are recorded as the kernel reports unused slots, which they are
// for every 64-bit task that never called set_thread_area through int 0x80.
func (th *threadState) fromParasite() {
	th.tidAddr = th.sas.TidAddr
	th.secbits = uint32(th.sas.Secbits)
	th.tls = emptyTLS()
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
