package restore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"golang.org/x/sys/unix"

	"github.com/criugo/criugo/pkg/ptrace"
)

// The scratch area every task of the tree has mapped while it is being
// restored: code to run injected system calls from, and room for their
// arguments. It is at the same address in every task (children inherit it
// from their parent's copy) and was chosen free in every task's image.
//
//	scratch+0     0f 05        syscall
//	scratch+4096  data: paths, structures, arrays passed by pointer
//	scratch+16384 end
const (
	scratchSize    = 4 * pageSize
	scratchDataOff = pageSize
	scratchDataLen = scratchSize - scratchDataOff
)

// syscallInsn is the x86_64 `syscall` instruction.
var syscallInsn = []byte{0x0f, 0x05}

// injector runs system calls inside stopped threads: it points the thread
// at a `syscall` instruction with the call's number and arguments in
// registers, resumes it with PTRACE_SYSCALL to the syscall-entry stop and
// again to the syscall-exit stop, and reads the result. No signal is
// involved (an int3 trap would reset a SIGTRAP disposition that is blocked
// or ignored), and the thread is always left in a syscall-exit stop, from
// which the final registers can be set.
type injector struct {
	tr *ptrace.Tracer
	// calls counts the calls injected, and spent the time they took, for
	// the log.
	calls int
	spent time.Duration
}

// errInjected wraps the errno an injected call returned.
type errInjected struct {
	name  string
	tid   int
	errno unix.Errno
}

func (e *errInjected) Error() string {
	return fmt.Sprintf("%s in tid %d: %v", e.name, e.tid, e.errno)
}

func (e *errInjected) Unwrap() error { return e.errno }

// call runs system call nr with args in th, from the scratch code at ip,
// and returns its result. A negative result is returned as an error that
// matches the errno.
func (in *injector) call(th *thread, ip uint64, name string, nr uintptr, args ...uint64) (uint64, error) {
	ret, err := in.rawCall(th, ip, name, nr, args...)
	if err != nil {
		return 0, err
	}
	if v := int64(ret); v < 0 && v >= -4095 {
		return 0, &errInjected{name: name, tid: th.tid, errno: unix.Errno(-v)}
	}
	return ret, nil
}

// rawCall is call without the errno conversion.
func (in *injector) rawCall(th *thread, ip uint64, name string, nr uintptr, args ...uint64) (uint64, error) {
	if len(args) > 6 {
		return 0, fmt.Errorf("inject %s: %d arguments: %w", name, len(args), unix.EINVAL)
	}
	in.calls++
	defer func(start time.Time) { in.spent += time.Since(start) }(time.Now())
	var a [6]uint64
	copy(a[:], args)
	r := th.base
	r.Rip = ip
	r.Rax = uint64(nr)
	r.OrigRax = ^uint64(0)
	r.Rdi, r.Rsi, r.Rdx, r.R10, r.R8, r.R9 = a[0], a[1], a[2], a[3], a[4], a[5]
	// One trip to the tracer thread for the whole call, instead of one
	// per request.
	var ret uint64
	err := in.tr.Batch(func(b *ptrace.Batch) error {
		if err := b.SetRegs(th.tid, &r); err != nil {
			return fmt.Errorf("inject %s: %w", name, err)
		}
		if err := step(b, th, name, false); err != nil {
			return err
		}
		if err := step(b, th, name, true); err != nil {
			return err
		}
		out, err := b.GetRegs(th.tid)
		if err != nil {
			return fmt.Errorf("inject %s: %w", name, err)
		}
		ret = out.Rax
		return nil
	})
	return ret, err
}

// step resumes th to its next syscall stop. Fork and clone event stops met
// on the way (the injected call may be a clone3) are passed through.
func step(b *ptrace.Batch, th *thread, name string, exit bool) error {
	for {
		if err := b.Syscall(th.tid, 0); err != nil {
			return fmt.Errorf("inject %s: %w", name, err)
		}
		st, err := b.Wait(th.tid)
		if err != nil {
			return fmt.Errorf("inject %s: %w", name, err)
		}
		switch st.Kind {
		case ptrace.SyscallStop:
			return nil
		case ptrace.EventStop:
			continue
		case ptrace.Exited, ptrace.Killed:
			return fmt.Errorf("inject %s: %v: %w", name, st, ErrTaskDied)
		default:
			where := "entry"
			if exit {
				where = "exit"
			}
			return fmt.Errorf("inject %s: waiting for syscall %s: %v: %w", name, where, st, ptrace.ErrUnexpectedStop)
		}
	}
}

// write puts data into pid's memory (the scratch area, or a mapping being
// filled).
func writeMem(pid int, addr uint64, data []byte) error {
	_, err := ptrace.WriteMem(pid, addr, data)
	return err
}

// scratchBuf assembles the data of one injected call in the scratch area:
// each put returns the address the bytes will have in the task.
type scratchBuf struct {
	base uint64 // address of the data area in the task
	b    []byte
	err  error
}

func newScratchBuf(scratch uint64) *scratchBuf {
	return &scratchBuf{base: scratch + scratchDataOff}
}

// put appends p, 8-byte aligned, and returns its address in the task.
func (s *scratchBuf) put(p []byte) uint64 {
	for len(s.b)%8 != 0 {
		s.b = append(s.b, 0)
	}
	addr := s.base + uint64(len(s.b))
	s.b = append(s.b, p...)
	if len(s.b) > scratchDataLen && s.err == nil {
		s.err = fmt.Errorf("arguments of %d bytes overflow the scratch area: %w", len(s.b), unix.E2BIG)
	}
	return addr
}

// cstring appends a NUL-terminated string.
func (s *scratchBuf) cstring(str string) uint64 {
	return s.put(append([]byte(str), 0))
}

// u64s appends an array of little-endian words.
func (s *scratchBuf) u64s(v ...uint64) uint64 {
	b := make([]byte, 8*len(v))
	for i, w := range v {
		binary.LittleEndian.PutUint64(b[8*i:], w)
	}
	return s.put(b)
}

// flush writes the assembled data into the task.
func (s *scratchBuf) flush(pid int) error {
	if s.err != nil {
		return s.err
	}
	if len(s.b) == 0 {
		return nil
	}
	return writeMem(pid, s.base, s.b)
}

// isErrno reports whether err comes from an injected call that failed with e.
func isErrno(err error, e unix.Errno) bool {
	var ie *errInjected
	return errors.As(err, &ie) && ie.errno == e
}
