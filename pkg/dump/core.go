package dump

import (
	"github.com/criugo/criugo/images"
	"github.com/criugo/criugo/pie"
	"github.com/criugo/criugo/pkg/proc"
	"github.com/criugo/criugo/pkg/ptrace"
	"github.com/criugo/criugo/pkg/x86"
)

// Signal numbers the dump treats specially.
const (
	sigKill = 9
	sigChld = 17
	sigCont = 18
	sigStop = 19
	sigMax  = 64
)

// threadState is everything recorded about one thread.
type threadState struct {
	tid, nsTid int

	regs  ptrace.Regs
	xsave []byte
	// blocked is the thread's signal mask.
	blocked uint64
	// pending is the thread's own queue of pending signals.
	pending []ptrace.Siginfo
	rseq    ptrace.RseqConfiguration
	rseqCS  rseqCS
	// keepRseqCS: the thread is in a critical section that does not
	// restart on signals; the image records the section pointer.
	keepRseqCS bool
	status     *proc.Status // per thread: creds, seccomp mode
	comm       string

	schedPolicy uint32
	schedPrio   uint32 // for SCHED_FIFO and SCHED_RR only
	nice        int32

	futexRLA    uint64
	futexRLALen uint32

	// From the parasite, run on this thread.
	tidAddr uint64
	tls     [x86.GDTEntryTLSNum][x86.UserDescSize]byte
	sas     pie.Thread
	secbits uint32

	seccompFilter    uint32 // index in seccomp.img of the thread's newest filter
	hasSeccompFilter bool
	// seccompSynced: the thread's filters are the leader's and come back
	// with the leader's SECCOMP_FILTER_FLAG_TSYNC; its core records none.
	seccompSynced bool
}

// taskCore holds what goes only into the thread-group leader's core.
type taskCore struct {
	state       uint32
	stopSigno   uint32
	exitCode    uint32
	personality uint32
	flags       uint32
	comm        string

	itimers     [3]pie.Itimer
	posixTimers []*images.PosixTimerEntry
	rlimits     []*images.RlimitEntry
	shared      []ptrace.Siginfo
	loginuid    uint32
	hasLoginuid bool
	oomScoreAdj int32
	hasOom      bool
	sigactions  [sigMax]pie.Sigaction
	subreaper   bool
	cgSet       uint32
}

func itimerEntry(t pie.Itimer) *images.ItimerEntry {
	return &images.ItimerEntry{
		Isec:  ptr(uint64(t.IntervalSec)),
		Iusec: ptr(uint64(t.IntervalUsec)),
		Vsec:  ptr(uint64(t.ValueSec)),
		Vusec: ptr(uint64(t.ValueUsec)),
	}
}

func signalQueue(q []ptrace.Siginfo) *images.SignalQueueEntry {
	sq := &images.SignalQueueEntry{}
	for i := range q {
		si := q[i]
		sq.Signals = append(sq.Signals, &images.SiginfoEntry{Siginfo: si[:]})
	}
	return sq
}

// sigactionEntries lists the handlers of signals 1..64 but SIGKILL and
// SIGSTOP, which cannot have one: 62 entries, as CRIU records them.
func sigactionEntries(sa *[sigMax]pie.Sigaction) []*images.SaEntry {
	out := make([]*images.SaEntry, 0, sigMax-2)
	for sig := 1; sig <= sigMax; sig++ {
		if sig == sigKill || sig == sigStop {
			continue
		}
		a := sa[sig-1]
		out = append(out, &images.SaEntry{
			Sigaction:       ptr(a.Handler),
			Flags:           ptr(a.Flags),
			Restorer:        ptr(a.Restorer),
			Mask:            ptr(a.Mask),
			CompatSigaction: ptr(false),
		})
	}
	return out
}

// capWords splits a 64-bit capability set into CRIU's two 32-bit words.
func capWords(c uint64) []uint32 { return []uint32{uint32(c), uint32(c >> 32)} }

func credsEntry(st *proc.Status, secbits uint32) *images.CredsEntry {
	c := &images.CredsEntry{
		Uid: ptr(st.Uid[0]), Euid: ptr(st.Uid[1]), Suid: ptr(st.Uid[2]), Fsuid: ptr(st.Uid[3]),
		Gid: ptr(st.Gid[0]), Egid: ptr(st.Gid[1]), Sgid: ptr(st.Gid[2]), Fsgid: ptr(st.Gid[3]),
		CapInh:  capWords(st.CapInh),
		CapPrm:  capWords(st.CapPrm),
		CapEff:  capWords(st.CapEff),
		CapBnd:  capWords(st.CapBnd),
		Secbits: ptr(secbits),
		Groups:  append([]uint32(nil), st.Groups...),
		CapAmb:  capWords(st.CapAmb),
	}
	if st.NoNewPrivs {
		c.NoNewPrivs = ptr(uint32(1))
	}
	return c
}

// threadInfo is the x86 part of a core: registers, FPU state, TLS.
func threadInfo(th *threadState) (*images.ThreadInfoX86, error) {
	fp, err := x86.FpregsFromXsave(th.xsave, x86.CPULayout())
	if err != nil {
		return nil, fromX86(err)
	}
	ti := &images.ThreadInfoX86{
		ClearTidAddr: ptr(th.tidAddr),
		Gpregs:       x86.GpregsFromRegs(th.regs),
		Fpregs:       fp,
	}
	for i := range th.tls {
		ti.Tls = append(ti.Tls, x86.TLSDesc(th.tls[i][:]))
	}
	return ti, nil
}

// threadCore is the per-thread part of a core. leader threads keep their
// signal mask in task_core_entry instead.
func threadCore(th *threadState, leader bool, cgSet uint32) *images.ThreadCoreEntry {
	tc := &images.ThreadCoreEntry{
		FutexRla:    ptr(th.futexRLA),
		FutexRlaLen: ptr(th.futexRLALen),
		SchedNice:   ptr(th.nice),
		SchedPolicy: ptr(th.schedPolicy),
		Sas: &images.ThreadSasEntry{
			SsSp:    ptr(th.sas.SsSp),
			SsSize:  ptr(th.sas.SsSize),
			SsFlags: ptr(uint32(th.sas.SsFlags)),
		},
		SignalsP: signalQueue(th.pending),
		Creds:    credsEntry(th.status, th.secbits),
		Comm:     ptr(th.comm),
		CgSet:    ptr(cgSet),
	}
	if th.schedPolicy&^schedResetOnFork == schedFIFO || th.schedPolicy&^schedResetOnFork == schedRR {
		tc.SchedPrio = ptr(th.schedPrio)
	}
	if !leader {
		tc.BlkSigset = ptr(th.blocked)
	}
	if th.sas.PdeathSig != 0 {
		tc.PdeathSig = ptr(uint32(th.sas.PdeathSig))
	}
	if mode := th.status.Seccomp; mode != 0 && !th.seccompSynced {
		tc.SeccompMode = images.SeccompMode(mode).Enum()
		if th.hasSeccompFilter {
			tc.SeccompFilter = ptr(th.seccompFilter)
		}
	}
	if th.rseq.Pointer != 0 {
		tc.RseqEntry = &images.RseqEntry{
			RseqAbiPointer: ptr(th.rseq.Pointer),
			RseqAbiSize:    ptr(th.rseq.Size),
			Signature:      ptr(th.rseq.Signature),
		}
		if th.keepRseqCS {
			tc.RseqEntry.RseqCsPointer = ptr(th.rseqCS.ptr)
		}
	}
	return tc
}

// Scheduling policies (sched.h).
const (
	schedFIFO        = 1
	schedRR          = 2
	schedResetOnFork = 0x40000000
)

// leaderCore is the core image of a live thread-group leader.
func leaderCore(tc *taskCore, th *threadState) (*images.CoreEntry, error) {
	ti, err := threadInfo(th)
	if err != nil {
		return nil, err
	}
	t := &images.TaskCoreEntry{
		TaskState:   ptr(tc.state),
		ExitCode:    ptr(tc.exitCode),
		Personality: ptr(tc.personality),
		Flags:       ptr(tc.flags),
		BlkSigset:   ptr(th.blocked),
		Comm:        ptr(tc.comm),
		Timers: &images.TaskTimersEntry{
			Real:  itimerEntry(tc.itimers[0]),
			Virt:  itimerEntry(tc.itimers[1]),
			Prof:  itimerEntry(tc.itimers[2]),
			Posix: tc.posixTimers,
		},
		Rlimits:        &images.TaskRlimitsEntry{Rlimits: tc.rlimits},
		SignalsS:       signalQueue(tc.shared),
		Sigactions:     sigactionEntries(&tc.sigactions),
		ChildSubreaper: ptr(tc.subreaper),
	}
	if tc.hasLoginuid {
		t.Loginuid = ptr(tc.loginuid)
	}
	if tc.hasOom {
		t.OomScoreAdj = ptr(tc.oomScoreAdj)
	}
	if tc.state == images.TaskStopped {
		t.StopSigno = ptr(tc.stopSigno)
	}
	return &images.CoreEntry{
		Mtype:      images.CoreEntry_X86_64.Enum(),
		ThreadInfo: ti,
		Tc:         t,
		ThreadCore: threadCore(th, true, tc.cgSet),
	}, nil
}

// threadOnlyCore is the core image of a thread that is not the leader.
func threadOnlyCore(th *threadState, cgSet uint32) (*images.CoreEntry, error) {
	ti, err := threadInfo(th)
	if err != nil {
		return nil, err
	}
	return &images.CoreEntry{
		Mtype:      images.CoreEntry_X86_64.Enum(),
		ThreadInfo: ti,
		ThreadCore: threadCore(th, false, cgSet),
	}, nil
}

// zombieCore is the core image of a dead, unreaped task: only its state,
// exit status (as wait reports it) and name.
func zombieCore(comm string, exitCode int) *images.CoreEntry {
	return &images.CoreEntry{
		Mtype: images.CoreEntry_X86_64.Enum(),
		Tc: &images.TaskCoreEntry{
			TaskState:   ptr(uint32(images.TaskDead)),
			ExitCode:    ptr(uint32(exitCode)),
			Personality: ptr(uint32(0)),
			Flags:       ptr(uint32(0)),
			BlkSigset:   ptr(uint64(0)),
			Comm:        ptr(comm),
		},
	}
}
