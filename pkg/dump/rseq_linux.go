package dump

import (
	"encoding/binary"
	"fmt"

	"github.com/criugo/criugo/pkg/ptrace"
)

// rseqCSFlagNoRestartOnSignal is RSEQ_CS_FLAG_NO_RESTART_ON_SIGNAL: a
// critical section the kernel does not abort on signal delivery.
const rseqCSFlagNoRestartOnSignal = 1 << 1

// rseqCS is a thread's restartable-sequence critical section as found
// when the thread stopped: struct rseq_cs of its registered struct rseq.
type rseqCS struct {
	ptr        uint64 // struct rseq's rseq_cs: 0 when outside any section
	flags      uint32 // of struct rseq_cs and struct rseq together
	startIP    uint64
	postCommit uint64
	abortIP    uint64
}

// readRseqCS reads the critical section pointer of a thread with a
// registered rseq area. It must be read before anything runs in the
// thread: on the way back to user mode the kernel clears it.
func readRseqCS(pid int, c ptrace.RseqConfiguration) (rseqCS, error) {
	var cs rseqCS
	if c.Pointer == 0 {
		return cs, nil
	}
	// struct rseq: cpu_id_start u32, cpu_id u32, rseq_cs u64, flags u32.
	var r [20]byte
	if _, err := ptrace.ReadMem(pid, c.Pointer, r[:]); err != nil {
		return cs, fmt.Errorf("read rseq area at %#x: %w", c.Pointer, err)
	}
	cs.ptr = binary.LittleEndian.Uint64(r[8:])
	cs.flags = binary.LittleEndian.Uint32(r[16:])
	if cs.ptr == 0 {
		return cs, nil
	}
	// struct rseq_cs: version u32, flags u32, start_ip, post_commit_offset,
	// abort_ip u64.
	var b [32]byte
	if _, err := ptrace.ReadMem(pid, cs.ptr, b[:]); err != nil {
		return cs, fmt.Errorf("read rseq critical section at %#x: %w", cs.ptr, err)
	}
	if v := binary.LittleEndian.Uint32(b[0:]); v != 0 {
		return cs, fmt.Errorf("rseq critical section version %d: %w", v, ErrNotSupported)
	}
	cs.flags |= binary.LittleEndian.Uint32(b[4:])
	cs.startIP = binary.LittleEndian.Uint64(b[8:])
	cs.postCommit = binary.LittleEndian.Uint64(b[16:])
	cs.abortIP = binary.LittleEndian.Uint64(b[24:])
	return cs, nil
}

// fixRseq does what CRIU does for a thread caught inside a restartable
// sequence: a section that restarts on signals is aborted, in the image
// and in the live thread (its IP goes to the abort handler, as the kernel
// would send it there when the thread next runs); for one that does not,
// the image keeps the section pointer so that the restore puts it back.
func fixRseq(tr *ptrace.Tracer, th *threadState) error {
	abort, keep := th.rseqCS.decide(th.regs.Rip)
	th.keepRseqCS = keep
	if !abort {
		return nil
	}
	th.regs.Rip = th.rseqCS.abortIP
	live := th.regs
	if err := tr.SetRegs(th.tid, &live); err != nil {
		return fmt.Errorf("move tid %d to its rseq abort handler: %w", th.tid, err)
	}
	return nil
}

// decide says what to do with a thread at ip: abort its critical section
// (ip inside one that restarts on signals), or keep the section pointer
// in the image (a section that does not restart).
func (cs rseqCS) decide(ip uint64) (abort, keep bool) {
	if cs.ptr == 0 {
		return false, false
	}
	if cs.flags&rseqCSFlagNoRestartOnSignal != 0 {
		return false, true
	}
	return ip >= cs.startIP && ip < cs.startIP+cs.postCommit, false
}
