package pie

// The Go side of protocol.h. Every struct here has the size and field
// offsets that protocol.h asserts with _Static_assert; protocol_test.go
// checks the same numbers. Fields are fixed-size so that encoding/binary
// reads and writes them as laid out in memory (little-endian).

// Magic and Version are what CmdHello reports.
const (
	Magic   = 0x6372697567707331
	Version = 2
)

// Commands.
const (
	CmdHello          = 1 // out: Hello
	CmdFini           = 2 // acknowledge, then take no more commands
	CmdSigactions     = 3 // out: [64]Sigaction, signal n at n-1
	CmdItimers        = 4 // out: [3]Itimer: ITIMER_REAL, _VIRTUAL, _PROF
	CmdPosixTimers    = 5 // Args[0] timers; in/out: []PosixTimer
	CmdMisc           = 6 // out: Misc
	CmdThread         = 7 // out: Thread
	CmdRseqUnregister = 8 // Args: rseq pointer, length, signature
	CmdTask           = 9 // out: Task, the four above at once
)

// Ctl is the header of a control block; the data area follows it.
type Ctl struct {
	Req      uint32 // futex word: the tracer's command count
	Ack      uint32 // futex word: the last count the parasite finished
	Cmd      uint32
	Ret      int32 // 0 or -errno
	Args     [5]uint64
	DataSize uint32
	Pad      uint32
}

// Offsets in Ctl and its size, which is where the data area starts.
const (
	CtlReqOff      = 0
	CtlAckOff      = 4
	CtlCmdOff      = 8
	CtlRetOff      = 12
	CtlArgsOff     = 16
	CtlDataSizeOff = 56
	CtlSize        = 64
)

// Hello is CmdHello's output.
type Hello struct {
	Magic   uint64
	Version uint32
	Pid     int32 // getpid() and gettid() in the target's pid namespace
	Tid     int32
	Pad     uint32
}

// Sigaction is the kernel's struct sigaction of rt_sigaction on x86_64.
type Sigaction struct {
	Handler  uint64
	Flags    uint64
	Restorer uint64
	Mask     uint64
}

// Itimer is struct itimerval.
type Itimer struct {
	IntervalSec, IntervalUsec int64
	ValueSec, ValueUsec       int64
}

// PosixTimer is one timer of CmdPosixTimers: ID is input, the rest output.
type PosixTimer struct {
	ID                        int32
	Overrun                   int32 // timer_getoverrun()
	Ret                       int32 // 0 or -errno
	Pad                       int32
	IntervalSec, IntervalNsec int64 // struct itimerspec
	ValueSec, ValueNsec       int64
}

// Misc is CmdMisc's output: process-wide state.
type Misc struct {
	Pid, Pgid, Sid int32
	Umask          uint32
	Personality    uint32
	Dumpable       int32
	ThpDisabled    int32
	ChildSubreaper int32
	Brk            uint64
}

// Thread is CmdThread's output: state of the thread that ran it.
type Thread struct {
	Tid       int32
	PdeathSig int32
	SsSp      uint64 // stack_t of sigaltstack
	SsFlags   int32
	Pad       int32
	SsSize    uint64
	TidAddr   uint64 // PR_GET_TID_ADDRESS: clear_child_tid
	Secbits   int32  // PR_GET_SECUREBITS
	Pad2      int32
}

// Task is CmdTask's output: what CmdSigactions, CmdItimers, CmdMisc and
// CmdThread report, in one round trip.
type Task struct {
	Sigactions [64]Sigaction
	Itimers    [3]Itimer
	Misc       Misc
	Thread     Thread
}

// Sizes asserted in protocol.h.
const (
	HelloSize      = 24
	SigactionSize  = 32
	ItimerSize     = 32
	PosixTimerSize = 48
	MiscSize       = 40
	ThreadSize     = 48
	TaskSize       = 2232
)

// BatchCall is one system call of a batch (struct batch_call), the
// list the restore's batch runner makes in one go (batch.c).
type BatchCall struct {
	Nr   uint64
	Args [6]uint64
	// Ref[k] = j (1..) takes argument k from the result of call j-1 of
	// the same batch, which must come before; 0 takes Args[k].
	Ref   [6]uint8
	Flags uint8 // BatchMayFail
	Pad   uint8
	Ret   int64 // out: the call's result, -errno on failure
}

// Batch is the header of a batch (struct batch); N calls follow it.
type Batch struct {
	N    uint32
	Done uint32 // out: calls run, up to the first that failed
	Pad  uint64
}

// BatchMayFail lets the runner go on after the call fails.
const BatchMayFail = 1

// Batch layout asserted in protocol.h.
const (
	BatchCallSize  = 72
	BatchCallRef   = 56
	BatchCallFlags = 62
	BatchCallRet   = 64
	BatchSize      = 16
	BatchDoneOff   = 4
)

// BatchEntry is the offset of the batch runner's entry point in
// Parasite: rip = its address, rdi = the batch, rsp = a stack.
const BatchEntry = batchEntry
