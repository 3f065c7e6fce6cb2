package restore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"golang.org/x/sys/unix"

	"github.com/criugo/criugo/pie"
	"github.com/criugo/criugo/pkg/compel"
	"github.com/criugo/criugo/pkg/ptrace"
)

// The scratch area every task of the tree has mapped while it is being
// restored: code to run injected system calls from, and room for their
// arguments. It is at the same address in every task (children inherit it
// from their parent's copy) and was chosen free in every task's image.
//
//	scratch+0      0f 05        syscall (what single injected calls run)
//	scratch+64     pie.Parasite (its batch runner, pie.BatchEntry)
//	     ...       the batch runner's stack, down from scratch+4096
//	scratch+4096   data: paths, structures, arrays passed by pointer
//	scratch+16384  a batch: its list of calls (struct batch), 8 KiB
//	scratch+24576  the batch's data, 8 KiB
//	scratch+32768  end
//
// The data of single calls and of a batch do not overlap, so that a
// batch being assembled survives single calls made meanwhile.
const (
	scratchSize     = 8 * pageSize
	scratchDataOff  = pageSize
	scratchDataLen  = 3 * pageSize
	scratchBlobOff  = 64
	scratchStackTop = pageSize
	batchListOff    = 4 * pageSize
	batchListLen    = 2 * pageSize
	batchDataOff    = 6 * pageSize
	batchDataLen    = 2 * pageSize
	// maxBatchCalls is how many calls one run of the batch runner takes.
	maxBatchCalls = (batchListLen - pie.BatchSize) / pie.BatchCallSize
)

// scratchCode is what the first page of the scratch area holds: the
// `syscall` instruction and the batch runner.
func scratchCode() []byte {
	code := make([]byte, scratchBlobOff, scratchBlobOff+pie.Parasite.Size)
	copy(code, syscallInsn)
	return append(code, pie.Parasite.Code()...)
}

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
	// batches counts the runs of the batch runner and batched the calls
	// they made (counted in calls too); stops counts the ptrace stops all
	// this took: two per call injected alone, one per batch.
	batches, batched, stops int
	// byName counts the calls injected by name, for the log.
	byName map[string]int
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
	if in.byName == nil {
		in.byName = map[string]int{}
	}
	in.byName[name]++
	in.stops += 2
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

// callBatch assembles system calls for one thread and runs them with the
// batch runner (pie.BatchEntry) in one stop, where injecting each alone
// costs two. A call may take an argument from the result of an earlier
// call of the batch (ref), so that an fd opened goes straight into the
// mmap that maps it. Calls and their data go into the task only when the
// batch runs; the data area is its own (batchDataOff), apart from single
// calls'.
//
// The batch runs when run is called, and earlier when its list or data
// area is full: the calls so far run then, and later refs to them take
// their results as plain values. So a call's data must be put just
// before the call is added, after reserve when it takes several puts.
// A batch must not be kept across anything that depends on its calls
// having run (a write into memory it maps, a single injected call).
//
// Batches end with a SIGSTOP the thread sends itself (compel.RunBatch),
// which also drops a pending SIGCONT: they run before the task's pending
// signals are queued.
type callBatch struct {
	r     *restorer
	t     *task
	th    *thread
	calls []batchCall
	next  int // the first call not run yet
	data  []byte
	err   error
}

type batchCall struct {
	name string
	c    pie.BatchCall
	wrap func(error) error
	// want, when set, is the only result the call may have.
	want    uint64
	hasWant bool
	ret     uint64
	ran     bool
}

// batch starts a batch of calls for thread th of t.
func (r *restorer) batch(t *task, th *thread) *callBatch {
	return &callBatch{r: r, t: t, th: th}
}

// add queues system call nr (name is for errors and the log) and returns
// its number in the batch.
func (b *callBatch) add(name string, nr uintptr, args ...uint64) int {
	if b.err == nil && len(args) > 6 {
		b.err = fmt.Errorf("batch %s: %d arguments: %w", name, len(args), unix.EINVAL)
	}
	if b.err == nil && len(b.calls)-b.next == maxBatchCalls {
		b.err = b.flush()
	}
	c := batchCall{name: name, c: pie.BatchCall{Nr: uint64(nr)}}
	copy(c.c.Args[:], args)
	b.calls = append(b.calls, c)
	return len(b.calls) - 1
}

// ref makes argument arg of call i the result of call from (from < i).
func (b *callBatch) ref(i, arg, from int) {
	if from >= i && b.err == nil {
		b.err = fmt.Errorf("batch %s: argument %d refers to call %d, not before it: %w", b.calls[i].name, arg, from, unix.EINVAL)
	}
	if from < b.next {
		// It ran in an earlier flush: its result is known.
		b.calls[i].c.Args[arg] = b.calls[from].ret
		return
	}
	b.calls[i].c.Ref[arg] = uint8(from - b.next + 1)
}

// mayFail lets the batch go on when call i fails; result then gives its
// -errno as it is.
func (b *callBatch) mayFail(i int) { b.calls[i].c.Flags |= pie.BatchMayFail }

// onError has run wrap the error of call i, to give it context.
func (b *callBatch) onError(i int, wrap func(error) error) { b.calls[i].wrap = wrap }

// expect makes any result of call i but want an error (an mmap or
// mremap that must land at its address).
func (b *callBatch) expect(i int, want uint64) {
	b.calls[i].want, b.calls[i].hasWant = want, true
}

// ok reports whether call i ran and did not fail, so that what it made
// (an fd) is to be undone on a failure.
func (b *callBatch) ok(i int) bool {
	c := &b.calls[i]
	return c.ran && !(int64(c.ret) < 0 && int64(c.ret) >= -4095)
}

// result is what call i returned, once the batch ran.
func (b *callBatch) result(i int) uint64 { return b.calls[i].ret }

// reserve makes room for n bytes of data, running the calls so far if
// the data area cannot take them otherwise.
func (b *callBatch) reserve(n int) {
	if b.err != nil {
		return
	}
	if n > batchDataLen {
		b.err = fmt.Errorf("batch data of %d bytes overflow its area: %w", n, unix.E2BIG)
		return
	}
	if len(b.data)+n+8 > batchDataLen {
		b.err = b.flush()
	}
}

// put appends p to the data, 8-byte aligned, and returns its address in
// the task.
func (b *callBatch) put(p []byte) uint64 {
	b.reserve(len(p))
	for len(b.data)%8 != 0 {
		b.data = append(b.data, 0)
	}
	addr := b.t.scratch + batchDataOff + uint64(len(b.data))
	b.data = append(b.data, p...)
	return addr
}

// cstring appends a NUL-terminated string.
func (b *callBatch) cstring(str string) uint64 {
	return b.put(append([]byte(str), 0))
}

// u64s appends an array of little-endian words.
func (b *callBatch) u64s(v ...uint64) uint64 {
	w := make([]byte, 8*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint64(w[8*i:], x)
	}
	return b.put(w)
}

// run makes the calls not made yet and returns the error of the first
// that failed (a *compel.SyscallError, wrapped by its onError); the calls
// after it are not made.
func (b *callBatch) run() error {
	if b.err != nil {
		return b.err
	}
	b.err = b.flush()
	return b.err
}

// flush runs the pending calls in the task.
func (b *callBatch) flush() error {
	pend := b.calls[b.next:]
	if len(pend) == 0 {
		b.data = b.data[:0]
		return nil
	}
	in := &b.r.in
	list := b.t.scratch + batchListOff
	buf := make([]byte, pie.BatchSize+len(pend)*pie.BatchCallSize)
	binary.LittleEndian.PutUint32(buf[0:], uint32(len(pend)))
	for i, c := range pend {
		o := pie.BatchSize + i*pie.BatchCallSize
		binary.LittleEndian.PutUint64(buf[o:], c.c.Nr)
		for k, a := range c.c.Args {
			binary.LittleEndian.PutUint64(buf[o+8+8*k:], a)
		}
		copy(buf[o+pie.BatchCallRef:], c.c.Ref[:])
		buf[o+pie.BatchCallFlags] = c.c.Flags
	}
	if len(b.data) > 0 {
		if err := writeMem(b.t.real, b.t.scratch+batchDataOff, b.data); err != nil {
			return fmt.Errorf("write batch data into pid %d: %w", b.t.pid, err)
		}
	}
	if err := writeMem(b.t.real, list, buf); err != nil {
		return fmt.Errorf("write batch into pid %d: %w", b.t.pid, err)
	}
	start := time.Now()
	err := compel.RunBatch(in.tr, b.th.tid, &b.th.base, b.t.scratch+scratchBlobOff+pie.BatchEntry,
		b.t.scratch+scratchStackTop, list)
	in.spent += time.Since(start)
	in.batches++
	in.stops++
	if err != nil {
		return err
	}
	if err := readMemFull(b.t.real, list, buf); err != nil {
		return fmt.Errorf("read batch results of pid %d: %w", b.t.pid, err)
	}
	done := int(binary.LittleEndian.Uint32(buf[pie.BatchDoneOff:]))
	if done > len(pend) {
		return fmt.Errorf("batch in pid %d: %d of %d calls done: %w", b.t.pid, done, len(pend), compel.ErrParasite)
	}
	if in.byName == nil {
		in.byName = map[string]int{}
	}
	for i := 0; i < done; i++ {
		c := &b.calls[b.next+i]
		o := pie.BatchSize + i*pie.BatchCallSize
		c.ret = binary.LittleEndian.Uint64(buf[o+pie.BatchCallRet:])
		c.ran = true
		in.calls++
		in.batched++
		in.byName[c.name+" (batched)"]++
		if c.c.Flags&pie.BatchMayFail != 0 {
			continue
		}
		_, err := compel.Result(b.th.tid, c.name, c.c.Nr, c.ret)
		if err != nil {
			err = fmt.Errorf("inject %s into tid %d: %w", c.name, b.th.tid, err)
		} else if c.hasWant && c.ret != c.want {
			err = fmt.Errorf("%s in tid %d gave %#x, not %#x", c.name, b.th.tid, c.ret, c.want)
		}
		if err != nil {
			// Record what ran, for the caller's undo.
			for j := i + 1; j < done; j++ {
				b.calls[b.next+j].ret = binary.LittleEndian.Uint64(buf[pie.BatchSize+j*pie.BatchCallSize+pie.BatchCallRet:])
				b.calls[b.next+j].ran = true
			}
			if c.wrap != nil {
				err = c.wrap(err)
			}
			return err
		}
	}
	if done < len(pend) {
		return fmt.Errorf("batch in pid %d: %d of %d calls done, none failed: %w", b.t.pid, done, len(pend), compel.ErrParasite)
	}
	b.next = len(b.calls)
	b.data = b.data[:0]
	return nil
}
