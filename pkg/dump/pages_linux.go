package dump

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"sort"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/criugo/criugo/pkg/proc"
	"github.com/criugo/criugo/pkg/ptrace"
)

// chunkSize is how much memory one read fetches: process_vm_readv moves
// 6-8 GB/s with 1-16 MiB chunks on this machine kind, and a 1 GiB dump
// into tmpfs took the same time with 512 KiB and 4 MiB chunks. 1 MiB
// keeps the buffers of the pages images written at once (pagesInFlight
// images, up to 4 workers each) at 16 MiB.
const chunkSize = 1 << 20

// memReader reads memory of the dumped tree.
type memReader interface {
	// readAt fills buf with the memory at addr.
	readAt(buf []byte, addr uint64) error
	close() error
}

// taskMem reads a task's memory with process_vm_readv, falling back to
// /proc/PID/mem, which reads mappings without PROT_READ too (the kernel
// reads them for the tracer as for a debugger).
//
// Pages shared copy-on-write with another task (cow) are read through
// /proc/PID/mem only: process_vm_readv pins the pages it reads
// (FOLL_PIN), and the kernel unshares an anonymous page that is pinned
// while shared, so the tree would come out of a --leave-running dump
// with a copy of every page it shared since a fork. /proc/PID/mem takes
// a plain reference, which leaves the page shared.
type taskMem struct {
	fs  proc.FS
	pid int
	cow []proc.Span // by address
	mem *os.File    // opened on first need
	mu  sync.Mutex
}

func (m *taskMem) readAt(buf []byte, addr uint64) error {
	end := addr + uint64(len(buf))
	i := sort.Search(len(m.cow), func(i int) bool { return m.cow[i].End > addr })
	if i == len(m.cow) || m.cow[i].Start >= end {
		return m.readPinned(buf, addr)
	}
	// Split at the shared spans: the rest still goes by process_vm_readv.
	for at := addr; at < end; {
		var next uint64
		var err error
		switch {
		case i < len(m.cow) && m.cow[i].Start <= at:
			next = min(m.cow[i].End, end)
			err = m.readMemFile(buf[at-addr:next-addr], at)
			i++
		case i < len(m.cow) && m.cow[i].Start < end:
			next = m.cow[i].Start
			err = m.readPinned(buf[at-addr:next-addr], at)
		default:
			next = end
			err = m.readPinned(buf[at-addr:], at)
		}
		if err != nil {
			return err
		}
		at = next
	}
	return nil
}

// readPinned reads with process_vm_readv, and /proc/PID/mem where it
// cannot (a mapping without PROT_READ).
func (m *taskMem) readPinned(buf []byte, addr uint64) error {
	n, err := ptrace.ReadMem(m.pid, addr, buf)
	if err == nil && n == len(buf) {
		return nil
	}
	if ferr := m.readMemFile(buf, addr); ferr != nil {
		return errors.Join(err, ferr)
	}
	return nil
}

// readMemFile reads through /proc/PID/mem.
func (m *taskMem) readMemFile(buf []byte, addr uint64) error {
	f, err := m.memFile()
	if err != nil {
		return err
	}
	if _, err := f.ReadAt(buf, int64(addr)); err != nil {
		return fmt.Errorf("read memory of pid %d at %#x: %w", m.pid, addr, err)
	}
	return nil
}

func (m *taskMem) memFile() (*os.File, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.mem == nil {
		f, err := os.Open(m.fs.Path(m.pid, 0, "mem"))
		if err != nil {
			return nil, fmt.Errorf("open memory of pid %d: %w", m.pid, err)
		}
		m.mem = f
	}
	return m.mem, nil
}

func (m *taskMem) close() error {
	if m.mem != nil {
		return m.mem.Close()
	}
	return nil
}

// liveMem reads the memory of a task that runs again: a pre-dump releases
// the tree before it reads the pages, so that the tree is frozen only
// while its mappings are listed and write-protected for tracking. The task
// may meanwhile write a page, unmap it or exit. None of that matters to
// the image set: a page written, or mapped anew, after the write-protect
// is one the next dump takes whole instead of from this pre-dump, so a
// page read torn, or read as zeros because it is gone, is never restored.
// What must not happen is reading another process: a pid reused after the
// task's exit. So each read is kept only when the task's pidfd, opened
// while it was frozen, still names a task (live or zombie) after the read.
type liveMem struct {
	m      *taskMem
	pidfd  int
	unread atomic.Uint64 // pages read as zeros
}

func newLiveMem(fs proc.FS, pid int, cow []proc.Span) (*liveMem, error) {
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return nil, fmt.Errorf("open pidfd of pid %d: %w", pid, err)
	}
	return &liveMem{m: &taskMem{fs: fs, pid: pid, cow: cow}, pidfd: fd}, nil
}

// gone reports whether the task was reaped, so that its pid may name
// another process now.
func (l *liveMem) gone() bool {
	return errors.Is(unix.PidfdSendSignal(l.pidfd, 0, nil, 0), unix.ESRCH)
}

func (l *liveMem) readAt(buf []byte, addr uint64) error {
	if err := l.m.readAt(buf, addr); err == nil && !l.gone() {
		return nil
	}
	for off := 0; off < len(buf); off += pageSize {
		p := buf[off:min(off+pageSize, len(buf))]
		if l.gone() {
			clear(buf[off:])
			l.unread.Add(uint64((len(buf) - off + pageSize - 1) / pageSize))
			return nil
		}
		if err := l.m.readAt(p, addr+uint64(off)); err != nil || l.gone() {
			clear(p)
			l.unread.Add(1)
		}
	}
	return nil
}

func (l *liveMem) close() error {
	unix.Close(l.pidfd)
	return l.m.close()
}

// fileMem reads a shared memory object (a memfd, shared anonymous memory)
// through a mapping of our own, m, of its whole pages: page addresses are
// offsets in the object. f is the object, closed with the mapping.
type fileMem struct {
	f *os.File
	m []byte
}

func (m *fileMem) readAt(buf []byte, addr uint64) error {
	if addr > uint64(len(m.m)) || uint64(len(buf)) > uint64(len(m.m))-addr {
		return fmt.Errorf("read shared memory %s at %#x: past its %d bytes: %w", m.f.Name(), addr, len(m.m), io.ErrUnexpectedEOF)
	}
	if err := copyFaulting(buf, m.m[addr:]); err != nil {
		return fmt.Errorf("read shared memory %s at %#x: %w", m.f.Name(), addr, err)
	}
	return nil
}

// errShrunk is a fault while reading a mapped object: something outside
// the frozen tree cut it meanwhile.
var errShrunk = errors.New("the object shrank while it was read (SIGBUS)")

// copyFaulting copies src to dst, and returns errShrunk instead of
// crashing when a page of src faults.
func copyFaulting(dst, src []byte) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(interface{ Addr() uintptr }); !ok {
				panic(r)
			}
			err = errShrunk
		}
	}()
	copy(dst, src)
	return nil
}

func (m *fileMem) close() error {
	if m.m != nil {
		unix.Munmap(m.m)
		m.m = nil
	}
	return m.f.Close()
}

// memChunk is one piece of a pages image: len bytes of memory at addr,
// going to offset off of the image.
type memChunk struct {
	addr uint64
	len  int
	off  int64
}

// runPages is a pages image: the pages of runs, in order, read from mem.
type runPages struct {
	ctx    context.Context // stops the reads when done; nil for none
	mem    memReader
	chunks []memChunk
	total  int64
}

func newRunPages(mem memReader, runs []pageRun) *runPages {
	rp := &runPages{mem: mem}
	for _, r := range runs {
		addr, left := r.addr, r.nr*pageSize
		for left > 0 {
			n := min(left, chunkSize)
			rp.chunks = append(rp.chunks, memChunk{addr: addr, len: int(n), off: rp.total})
			rp.total += int64(n)
			addr += n
			left -= n
		}
	}
	return rp
}

func (rp *runPages) size() int64 { return rp.total }

// failFromHalf makes the reads of the second half of the image fail
// with err (fault point dump:mid-pages).
func (rp *runPages) failFromHalf(err error) {
	if len(rp.chunks) == 0 {
		return
	}
	rp.mem = &failingMem{memReader: rp.mem, from: rp.chunks[len(rp.chunks)/2].addr, err: err}
}

// failingMem fails the reads at and above from.
type failingMem struct {
	memReader
	from uint64
	err  error
}

func (m *failingMem) readAt(buf []byte, addr uint64) error {
	if addr >= m.from {
		return m.err
	}
	return m.memReader.readAt(buf, addr)
}

// err reports the context's end.
func (rp *runPages) err() error {
	if rp.ctx == nil {
		return nil
	}
	return rp.ctx.Err()
}

// bufPool recycles chunk buffers between images.
var bufPool = sync.Pool{New: func() any { b := make([]byte, chunkSize); return &b }}

// writeTo reads the chunks with a few workers, each reading a chunk and
// writing it at its offset, so that reading the target and writing the
// file overlap.
func (rp *runPages) writeTo(f *os.File) error {
	workers := min(max(runtime.GOMAXPROCS(0), 2), 4, len(rp.chunks))
	if workers <= 1 {
		_, err := io.Copy(f, rp.reader())
		return err
	}
	next := make(chan memChunk)
	errc := make(chan error, workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			bp := bufPool.Get().(*[]byte)
			defer bufPool.Put(bp)
			for c := range next {
				if err := rp.err(); err != nil {
					errc <- err
					return
				}
				buf := (*bp)[:c.len]
				if err := rp.mem.readAt(buf, c.addr); err != nil {
					errc <- err
					return
				}
				if _, err := f.WriteAt(buf, c.off); err != nil {
					errc <- err
					return
				}
			}
		}()
	}
	var err error
feed:
	for _, c := range rp.chunks {
		select {
		case next <- c:
		case err = <-errc:
			break feed
		}
	}
	close(next)
	wg.Wait()
	if err == nil {
		select {
		case err = <-errc:
		default:
		}
	}
	return err
}

// reader reads the chunks in order, one chunk ahead of the consumer.
func (rp *runPages) reader() io.Reader {
	pr := &pagesReader{rp: rp, ready: make(chan filled, 2), stop: make(chan struct{})}
	go pr.fetch()
	return pr
}

type filled struct {
	bp  *[]byte
	buf []byte
	err error
}

type pagesReader struct {
	rp       *runPages
	ready    chan filled
	stop     chan struct{}
	stopOnce sync.Once
	cur      filled
	done     bool
}

// Close stops the prefetching, when the reader is left before its end.
func (pr *pagesReader) Close() error {
	pr.stopOnce.Do(func() { close(pr.stop) })
	for f := range pr.ready {
		bufPool.Put(f.bp)
	}
	if pr.cur.bp != nil {
		bufPool.Put(pr.cur.bp)
		pr.cur = filled{}
	}
	pr.done = true
	return nil
}

func (pr *pagesReader) fetch() {
	defer close(pr.ready)
	for _, c := range pr.rp.chunks {
		bp := bufPool.Get().(*[]byte)
		buf := (*bp)[:c.len]
		err := pr.rp.err()
		if err == nil {
			err = pr.rp.mem.readAt(buf, c.addr)
		}
		select {
		case pr.ready <- filled{bp: bp, buf: buf, err: err}:
		case <-pr.stop:
			bufPool.Put(bp)
			return
		}
		if err != nil {
			return
		}
	}
}

func (pr *pagesReader) Read(p []byte) (int, error) {
	for len(pr.cur.buf) == 0 {
		if pr.cur.bp != nil {
			bufPool.Put(pr.cur.bp)
			pr.cur = filled{}
		}
		if pr.done {
			return 0, io.EOF
		}
		f, ok := <-pr.ready
		if !ok {
			pr.done = true
			return 0, io.EOF
		}
		if f.err != nil {
			bufPool.Put(f.bp)
			pr.done = true
			pr.stopOnce.Do(func() { close(pr.stop) })
			return 0, f.err
		}
		pr.cur = f
	}
	n := copy(p, pr.cur.buf)
	pr.cur.buf = pr.cur.buf[n:]
	return n, nil
}

// streamPipeSize is what a stream's pipe is grown to: the most the kernel
// gives a writer without CAP_SYS_RESOURCE by default (pipe-max-size).
const streamPipeSize = 1 << 20

// growPipe enlarges the pipe a stream goes out through, when it is one:
// with the default 64 KiB the dump and its reader take turns every 64 KiB
// (a third of a 1 GiB stream dump went to switching between them). It is
// only a speed-up, so a failure is ignored.
func growPipe(w io.Writer) {
	f, ok := w.(*os.File)
	if !ok {
		return
	}
	if st, err := f.Stat(); err != nil || st.Mode()&os.ModeNamedPipe == 0 {
		return
	}
	unix.FcntlInt(f.Fd(), unix.F_SETPIPE_SZ, streamPipeSize)
}

// pipeMaxPages is how many pages one of CRIU's page-pipe buffers holds at
// most: its pipe grows by doubling from 16 pages to PIPE_MAX_SIZE (819
// pages, which the kernel rounds up to 1024), as far as the kernel lets
// the dumper: past /proc/sys/fs/pipe-max-size only with CAP_SYS_RESOURCE.
func pipeMaxPages() uint64 {
	const criuMax = 1024
	if hasCap(unix.CAP_SYS_RESOURCE) {
		return criuMax
	}
	v, err := proc.FS{}.Sysctl("fs/pipe-max-size")
	if err != nil || len(v) != 1 || v[0] < defPipeLen*pageSize {
		return criuMax
	}
	limit := uint64(v[0])
	n := uint64(defPipeLen)
	for n*2 <= criuMax && n*2*pageSize <= limit {
		n *= 2
	}
	return n
}

// hasCap reports whether this process has capability c in its effective set.
func hasCap(c int) bool {
	st, err := proc.FS{}.Status(os.Getpid(), 0)
	if err != nil {
		return false
	}
	return st.CapEff&(1<<uint(c)) != 0
}
