package restore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"golang.org/x/sys/unix"

	"github.com/criugo/criugo/pkg/compel"
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
var syscallInsn = compel.SyscallInsn

// injector runs system calls inside stopped threads with compel.Inject,
// from the `syscall` instruction of the scratch area (or the one a new
// root stopped after), starting from the registers the thread had when
// first stopped. No signal is involved (an int3 trap would reset a SIGTRAP
// disposition that is blocked or ignored), and the thread is always left
// in a syscall-exit stop, from which the final registers can be set.
type injector struct {
	tr *ptrace.Tracer
	// calls counts the calls injected, and spent the time they took, for
	// the log.
	calls int
	spent time.Duration
}

// call runs system call nr with args in th, from the syscall instruction
// at ip, and returns its result. A negative result is returned as a
// *compel.SyscallError, which matches the errno.
func (in *injector) call(th *thread, ip uint64, name string, nr uintptr, args ...uint64) (uint64, error) {
	ret, err := in.rawCall(th, ip, name, nr, args...)
	if err != nil {
		return 0, err
	}
	return compel.Result(th.tid, name, uint64(nr), ret)
}

// rawCall is call without the errno conversion.
func (in *injector) rawCall(th *thread, ip uint64, name string, nr uintptr, args ...uint64) (uint64, error) {
	return in.rawCallAt(th, ip, nil, name, nr, args...)
}

// callAt is call with atEntry run once th is in the call's entry stop
// (compel.Site.AtEntry).
func (in *injector) callAt(th *thread, ip uint64, atEntry func() error, name string, nr uintptr, args ...uint64) (uint64, error) {
	ret, err := in.rawCallAt(th, ip, atEntry, name, nr, args...)
	if err != nil {
		return 0, err
	}
	return compel.Result(th.tid, name, uint64(nr), ret)
}

func (in *injector) rawCallAt(th *thread, ip uint64, atEntry func() error, name string, nr uintptr, args ...uint64) (uint64, error) {
	in.calls++
	defer func(start time.Time) { in.spent += time.Since(start) }(time.Now())
	// The clone3 of a child or thread stops at a fork or clone event
	// first (traceOpts), which is passed.
	site := compel.Site{IP: ip, PassEvents: true, AtEntry: atEntry}
	return compel.InjectRaw(in.tr, th.tid, &th.base, site, name, uint64(nr), args...)
}

// writeMem puts data into pid's memory (the scratch area, or a mapping being
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
	var se *compel.SyscallError
	return errors.As(err, &se) && se.Errno == e
}
