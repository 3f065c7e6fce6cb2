package compel

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/criugo/criugo/pie"
	"github.com/criugo/criugo/pkg/ptrace"
	"golang.org/x/sys/unix"
)

// Layout of the parasite area; see the package doc.
const (
	pageSize  = 4096
	ctlSize   = 16 << 10 // control block: header and data area
	stackSize = 16 << 10
	slotSize  = ctlSize + stackSize
	// NumSlots is how many threads the parasite can run on at once.
	NumSlots  = 4
	memfdName = "criugo-parasite"
)

// DefaultTimeout is how long a command may take before the parasite is
// given up on.
const DefaultTimeout = 10 * time.Second

// pollEvery is how often a waiting tracer checks that the parasite thread
// has not stopped or died instead of answering.
const pollEvery = 20 * time.Millisecond

// Parasite is the parasite blob loaded into one task and running on one
// of its threads (the leader session), with more threads added by
// EnterThread. Its methods are not safe for concurrent use.
type Parasite struct {
	tr      *ptrace.Tracer
	pid     int
	in      *injector // the infected thread's saved state
	area    uint64    // target address of the area
	size    uint64
	mem     []byte // the area, mapped in the tracer too
	leader  *Thread
	threads map[int]*Thread // open sessions on other threads
	slots   [NumSlots]bool
	cured   bool

	// Timeout bounds each command; Infect sets DefaultTimeout.
	Timeout time.Duration
}

// Thread is the parasite running on one thread of the task.
type Thread struct {
	p      *Parasite
	in     *injector
	slot   int
	ctl    []byte // this slot's control block in the tracer's mapping
	req    uint32
	stop   *ptrace.Stop // the stop the thread fell into while running the parasite
	failed error        // set once the session is broken; every call returns it
	left   bool
}

func codeSize() uint64 { return (pie.Parasite.Size + pageSize - 1) &^ (pageSize - 1) }

// Infect loads the parasite into the task of thread tid and starts it on
// that thread. tid must be seized and in a PTRACE_EVENT_STOP; other
// threads of the task may be stopped or not. On error the task is left as
// it was found. Call Cure when done.
func Infect(tr *ptrace.Tracer, tid int) (_ *Parasite, err error) {
	in, err := startInjector(tr, tid)
	if err != nil {
		return nil, err
	}
	p := &Parasite{
		tr: tr, pid: in.pid, in: in, threads: make(map[int]*Thread),
		size: codeSize() + NumSlots*slotSize, Timeout: DefaultTimeout,
	}
	var undo []func() error
	defer func() {
		if err == nil {
			return
		}
		var errs []error
		for i := len(undo) - 1; i >= 0; i-- {
			errs = append(errs, undo[i]())
		}
		errs = append(errs, in.restore())
		if e := errors.Join(errs...); e != nil {
			err = fmt.Errorf("%w (and undoing: %w)", err, e)
		}
	}()

	fd, err := p.createMemfd()
	if err != nil {
		return nil, err
	}
	undo = append(undo, func() error { _, err := in.call("close", unix.SYS_CLOSE, fd); return err })

	if err := p.mapLocal(fd); err != nil {
		return nil, err
	}
	undo = append(undo, func() error { return unix.Munmap(p.mem) })

	p.area, err = in.call("mmap", unix.SYS_MMAP, 0, p.size,
		unix.PROT_READ|unix.PROT_WRITE|unix.PROT_EXEC, unix.MAP_SHARED, fd, 0)
	if err != nil {
		return nil, fmt.Errorf("map parasite area in pid %d: %w", p.pid, err)
	}
	undo = append(undo, func() error { _, err := in.call("munmap", unix.SYS_MUNMAP, p.area, p.size); return err })

	// The mapping keeps the memfd alive; the target needs no fd for it.
	if _, err := in.call("close", unix.SYS_CLOSE, fd); err != nil {
		return nil, fmt.Errorf("close memfd in pid %d: %w", p.pid, err)
	}
	undo[0] = func() error { return nil }

	copy(p.mem, pie.Parasite.Code())
	p.leader, err = p.run(in, 0)
	if err != nil {
		return nil, err
	}
	return p, nil
}

// createMemfd creates the memfd in the target, taking its name from a
// scratch page mapped and unmapped around it.
func (p *Parasite) createMemfd() (uint64, error) {
	in := p.in
	scratch, err := in.call("mmap", unix.SYS_MMAP, 0, pageSize,
		unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS, ^uint64(0), 0)
	if err != nil {
		return 0, fmt.Errorf("map scratch page in pid %d: %w", p.pid, err)
	}
	fd, err := func() (uint64, error) {
		if _, err := ptrace.WriteMem(p.pid, scratch, []byte(memfdName+"\x00")); err != nil {
			return 0, err
		}
		fd, err := in.call("memfd_create", unix.SYS_MEMFD_CREATE, scratch, unix.MFD_CLOEXEC|unix.MFD_EXEC)
		if errors.Is(err, unix.EINVAL) {
			// Kernels before 6.3 know no MFD_EXEC; their memfds are executable.
			fd, err = in.call("memfd_create", unix.SYS_MEMFD_CREATE, scratch, unix.MFD_CLOEXEC)
		}
		return fd, err
	}()
	_, uerr := in.call("munmap", unix.SYS_MUNMAP, scratch, pageSize)
	if err == nil && uerr != nil {
		_, cerr := in.call("close", unix.SYS_CLOSE, fd)
		return 0, fmt.Errorf("unmap scratch page in pid %d: %w", p.pid, errors.Join(uerr, cerr))
	}
	if err != nil {
		return 0, fmt.Errorf("create memfd in pid %d: %w", p.pid, errors.Join(err, uerr))
	}
	return fd, nil
}

// mapLocal sizes the target's memfd and maps it in the tracer.
func (p *Parasite) mapLocal(fd uint64) error {
	f, err := os.OpenFile(procFS.Path(p.pid, 0, "fd", strconv.FormatUint(fd, 10)), os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("open memfd of pid %d: %w", p.pid, err)
	}
	defer f.Close()
	if err := f.Truncate(int64(p.size)); err != nil {
		return fmt.Errorf("size memfd of pid %d: %w", p.pid, err)
	}
	p.mem, err = unix.Mmap(int(f.Fd()), 0, int(p.size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return fmt.Errorf("map memfd of pid %d: %w", p.pid, err)
	}
	return nil
}

// run starts the parasite on in's thread with the control block and stack
// of slot, and checks that it answers.
func (p *Parasite) run(in *injector, slot int) (*Thread, error) {
	off := codeSize() + uint64(slot)*slotSize
	th := &Thread{p: p, in: in, slot: slot, ctl: p.mem[off : off+ctlSize]}
	clear(th.ctl)
	binary.LittleEndian.PutUint32(th.ctl[pie.CtlDataSizeOff:], ctlSize-pie.CtlSize)

	r := in.orig
	r.Rip = p.area + pie.Parasite.Entry
	r.Rdi = p.area + off
	r.Rsp = p.area + off + slotSize
	r.Rax, r.OrigRax = 0, noSyscall
	r.Eflags &^= flagTF | flagDF
	if err := p.tr.SetRegs(in.tid, &r); err != nil {
		return nil, fmt.Errorf("start parasite on tid %d: %w", in.tid, err)
	}
	if err := p.tr.Cont(in.tid, 0); err != nil {
		return nil, fmt.Errorf("start parasite on tid %d: %w", in.tid, err)
	}
	in.inSyscallStop = false
	p.slots[slot] = true

	var h pie.Hello
	err := th.call(pie.CmdHello, &h)
	if err == nil && (h.Magic != pie.Magic || h.Version != pie.Version) {
		err = fmt.Errorf("parasite on tid %d: hello magic %#x version %d: %w", in.tid, h.Magic, h.Version, ErrParasite)
	}
	if err != nil {
		return nil, errors.Join(err, th.halt())
	}
	return th, nil
}

var cmdNames = map[uint32]string{
	pie.CmdHello: "hello", pie.CmdFini: "fini", pie.CmdSigactions: "sigactions",
	pie.CmdItimers: "itimers", pie.CmdPosixTimers: "posix timers", pie.CmdMisc: "misc",
	pie.CmdThread: "thread", pie.CmdRseqUnregister: "rseq unregister", pie.CmdTask: "task",
}

// call runs one command and decodes its output, if out is not nil, from
// the data area. Inputs are in the data area already.
func (th *Thread) call(cmd uint32, out any, args ...uint64) error {
	if th.left {
		return ErrCured
	}
	if th.failed != nil {
		return th.failed
	}
	tid := th.in.tid
	binary.LittleEndian.PutUint32(th.ctl[pie.CtlCmdOff:], cmd)
	for i := range 5 {
		var a uint64
		if i < len(args) {
			a = args[i]
		}
		binary.LittleEndian.PutUint64(th.ctl[pie.CtlArgsOff+8*i:], a)
	}
	th.req++
	storeWord(th.ctl, pie.CtlReqOff, th.req)
	futexWake(th.ctl, pie.CtlReqOff)

	deadline := time.Now().Add(th.p.Timeout)
	stray := 0
	for {
		ack := loadWord(th.ctl, pie.CtlAckOff)
		if ack == th.req {
			break
		}
		futexWait(th.ctl, pie.CtlAckOff, ack, pollEvery)
		if loadWord(th.ctl, pie.CtlAckOff) == th.req {
			break
		}
		st, ok, err := th.p.tr.Poll(tid)
		if err != nil {
			th.failed = fmt.Errorf("parasite %s on tid %d: %w", cmdNames[cmd], tid, err)
			return th.failed
		}
		if ok && isEventStop(st) && stray < maxStrayTraps {
			// A pending PTRACE_INTERRUPT trapped the thread: resume it.
			stray++
			if err := th.p.tr.Cont(tid, 0); err != nil {
				th.failed = fmt.Errorf("parasite %s on tid %d: %w", cmdNames[cmd], tid, err)
				return th.failed
			}
			continue
		}
		if ok {
			th.stop = &st
			th.failed = fmt.Errorf("parasite %s on tid %d: %v: %w", cmdNames[cmd], tid, st, ErrParasite)
			return th.failed
		}
		if time.Now().After(deadline) {
			th.failed = fmt.Errorf("parasite %s on tid %d: no answer in %v: %w", cmdNames[cmd], tid, th.p.Timeout, ErrTimeout)
			return th.failed
		}
	}
	if ret := int32(binary.LittleEndian.Uint32(th.ctl[pie.CtlRetOff:])); ret < 0 {
		return fmt.Errorf("parasite on tid %d: %w", tid, &SyscallError{Op: cmdNames[cmd], Nr: -1, Tid: tid, Errno: unix.Errno(-ret)})
	}
	if out != nil {
		if _, err := binary.Decode(th.ctl[pie.CtlSize:], binary.LittleEndian, out); err != nil {
			return fmt.Errorf("decode parasite %s output: %w", cmdNames[cmd], err)
		}
	}
	return nil
}

// halt ends the parasite on the thread: it sends CmdFini (when the session
// still works) and stops the thread with PTRACE_INTERRUPT, leaving it in a
// PTRACE_EVENT_STOP (or in the stop it fell into) with the parasite's
// registers. The slot is free afterwards.
func (th *Thread) halt() error {
	var errs []error
	tid := th.in.tid
	if th.failed == nil {
		if err := th.call(pie.CmdFini, nil); err != nil {
			errs = append(errs, err)
		}
	}
	if th.stop == nil {
		if err := th.p.tr.Interrupt(tid); err != nil {
			return errors.Join(append(errs, fmt.Errorf("stop parasite on tid %d: %w", tid, err))...)
		}
		st, ok, err := th.p.tr.WaitTimeout(tid, th.p.Timeout)
		switch {
		case err != nil:
			return errors.Join(append(errs, fmt.Errorf("stop parasite on tid %d: %w", tid, err))...)
		case !ok:
			return errors.Join(append(errs, fmt.Errorf("stop parasite on tid %d: %w", tid, ErrTimeout))...)
		}
		th.stop = &st
	}
	if !th.stop.Stopped() {
		errs = append(errs, fmt.Errorf("parasite on tid %d: %v: %w", tid, *th.stop, ErrParasite))
	} else if th.stop.Kind != ptrace.InterruptStop && th.stop.Kind != ptrace.GroupStop {
		// A crash: the thread sits in the stop of its fatal signal, which
		// resuming with 0 discards.
		errs = append(errs, fmt.Errorf("parasite on tid %d: %v: %w", tid, *th.stop, ErrParasite))
	}
	th.left = true
	th.p.slots[th.slot] = false
	return errors.Join(errs...)
}

// alive reports whether the thread can still take requests.
func (th *Thread) alive() bool { return th.stop == nil || th.stop.Stopped() }

// Pid is the task's pid (thread group id) as the tracer sees it.
func (p *Parasite) Pid() int { return p.pid }

// Leader is the session on the thread Infect was given.
func (p *Parasite) Leader() *Thread { return p.leader }

// EnterThread starts the parasite on another thread of the task, which
// must be seized and in a PTRACE_EVENT_STOP. Leave it before Cure, or Cure
// does.
func (p *Parasite) EnterThread(tid int) (_ *Thread, err error) {
	if p.cured {
		return nil, ErrCured
	}
	if _, ok := p.threads[tid]; ok || tid == p.in.tid {
		return nil, fmt.Errorf("enter tid %d: already running the parasite: %w", tid, unix.EBUSY)
	}
	slot := -1
	for i, used := range p.slots {
		if !used {
			slot = i
			break
		}
	}
	if slot < 0 {
		return nil, fmt.Errorf("enter tid %d: %w", tid, ErrNoSlot)
	}
	in, err := startInjector(p.tr, tid)
	if err != nil {
		return nil, err
	}
	if in.pid != p.pid {
		return nil, errors.Join(fmt.Errorf("enter tid %d: thread of pid %d, not %d: %w", tid, in.pid, p.pid, unix.EINVAL), in.restore())
	}
	th, err := p.run(in, slot)
	if err != nil {
		return nil, errors.Join(err, in.restore())
	}
	p.threads[tid] = th
	return th, nil
}

// Tid is the thread's id as the tracer sees it.
func (th *Thread) Tid() int { return th.in.tid }

// Leave ends the parasite on a thread added by EnterThread and puts the
// thread back as it was found: registers, signal mask, PTRACE_EVENT_STOP.
func (th *Thread) Leave() error {
	if th == th.p.leader {
		return fmt.Errorf("leave tid %d: the infected thread leaves with Cure: %w", th.in.tid, unix.EINVAL)
	}
	if th.left && th.in.restored {
		return nil
	}
	delete(th.p.threads, th.in.tid)
	err := th.halt()
	if th.alive() {
		err = errors.Join(err, th.in.restore())
	}
	return err
}

// Cure ends the parasite everywhere, unmaps its area from the target and
// from the tracer, and puts the infected thread back as it was found. The
// task keeps no trace of it: no mapping, no fd, same registers, signal
// mask and stop, and an interrupted syscall restarts when it is resumed.
func (p *Parasite) Cure() error {
	if p.cured {
		return nil
	}
	p.cured = true
	var errs []error
	for _, th := range p.threads {
		errs = append(errs, th.Leave())
	}
	errs = append(errs, p.leader.halt())
	if p.leader.alive() {
		if _, err := p.in.call("munmap", unix.SYS_MUNMAP, p.area, p.size); err != nil {
			errs = append(errs, fmt.Errorf("unmap parasite area from pid %d: %w", p.pid, err))
		}
		errs = append(errs, p.in.restore())
	}
	if err := unix.Munmap(p.mem); err != nil {
		errs = append(errs, fmt.Errorf("unmap parasite area locally: %w", err))
	}
	return errors.Join(errs...)
}

// Sigactions returns the task's signal actions; entry n-1 is signal n.
func (p *Parasite) Sigactions() ([64]pie.Sigaction, error) {
	var sa [64]pie.Sigaction
	err := p.leader.call(pie.CmdSigactions, &sa)
	return sa, err
}

// Itimers returns the task's ITIMER_REAL, ITIMER_VIRTUAL and ITIMER_PROF.
func (p *Parasite) Itimers() ([3]pie.Itimer, error) {
	var it [3]pie.Itimer
	err := p.leader.call(pie.CmdItimers, &it)
	return it, err
}

// PosixTimers returns the state of the task's POSIX timers with the given
// kernel ids (as /proc/PID/timers lists them). A timer that cannot be read
// has Ret set to -errno.
func (p *Parasite) PosixTimers(ids []int32) ([]pie.PosixTimer, error) {
	const batch = (ctlSize - pie.CtlSize) / pie.PosixTimerSize
	out := make([]pie.PosixTimer, 0, len(ids))
	for len(ids) > 0 {
		n := min(len(ids), batch)
		in := make([]pie.PosixTimer, n)
		for i, id := range ids[:n] {
			in[i].ID = id
		}
		if _, err := binary.Encode(p.leader.ctl[pie.CtlSize:], binary.LittleEndian, in); err != nil {
			return nil, fmt.Errorf("encode posix timer ids: %w", err)
		}
		if err := p.leader.call(pie.CmdPosixTimers, in, uint64(n)); err != nil {
			return nil, err
		}
		out = append(out, in...)
		ids = ids[n:]
	}
	return out, nil
}

// Misc returns process-wide state: ids, umask, personality, brk, prctls.
func (p *Parasite) Misc() (pie.Misc, error) {
	var m pie.Misc
	err := p.leader.call(pie.CmdMisc, &m)
	return m, err
}

// Task returns what Sigactions, Itimers, Misc and the leader's State
// return, in one round trip.
func (p *Parasite) Task() (pie.Task, error) {
	var t pie.Task
	err := p.leader.call(pie.CmdTask, &t)
	return t, err
}

// State returns the thread's own state: tid (in the task's pid
// namespace), parent-death signal and sigaltstack. The SS_ONSTACK flag is
// never set: the parasite runs on its own stack.
func (th *Thread) State() (pie.Thread, error) {
	var t pie.Thread
	err := th.call(pie.CmdThread, &t)
	return t, err
}

// RseqUnregister unregisters the thread's rseq area, as
// ptrace.Tracer.GetRseqConfiguration reported it.
func (th *Thread) RseqUnregister(c ptrace.RseqConfiguration) error {
	return th.call(pie.CmdRseqUnregister, nil, c.Pointer, uint64(c.Size), uint64(c.Signature))
}
