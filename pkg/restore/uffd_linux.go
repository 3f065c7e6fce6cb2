package restore

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/criugo/criugo/pkg/compel"
	"github.com/criugo/criugo/pkg/ptrace"
	"github.com/criugo/criugo/pkg/uffd"
)

// useUffd lets tests force the paths without a userfaultfd.
var useUffd = true

// taskUffd is a userfaultfd of a task's mm, created by the task itself (an
// injected userfaultfd(2)) and taken into criu-restore with pidfd_getfd.
// The private anonymous VMAs that get pages are registered for missing
// pages, so that criu-restore fills them with UFFDIO_COPY: the kernel
// allocates each page and copies into it, where a fault (the task's own
// preadv, or process_vm_writev) clears the page before the copy; and
// several copies run at once from criu-restore's threads while the task
// stays stopped. The ranges are unregistered before the task runs again.
//
//	criu-restore                            task (stopped)
//	  inject userfaultfd() --------------->  fd N on the task's mm
//	  pidfd_getfd(pidfd, N) <-------------   (inject close(N))
//	  UFFDIO_API, UFFDIO_REGISTER(vma...)
//	  worker 1: pread pages-N.img -> buf -> UFFDIO_COPY(buf -> vma)
//	  worker 2: pread pages-N.img -> buf -> UFFDIO_COPY(buf -> vma)
//	  UFFDIO_UNREGISTER(vma...), close
type taskUffd struct {
	fd   int
	regs []span // registered ranges, by address
}

// uffdWanted is what openUffd registers of p: the VMAs that get pages
// and can take UFFDIO_COPY; none when userfaultfd is not used.
func uffdWanted(p *mmPlan) []span {
	if !useUffd {
		return nil
	}
	var want []span
	for _, v := range p.vmas {
		if v.pages && v.kind == vmaKindAnon && !v.inherited {
			want = append(want, span{v.start(), v.end()})
		}
	}
	return want
}

// queueUffd adds to bt, a batch of t's leader, the userfaultfd call that
// openUffd takes the result of; -1 when none is wanted. The call may
// fail: the pages then go in another way.
func queueUffd(bt *callBatch, p *mmPlan) int {
	if len(uffdWanted(p)) == 0 {
		return -1
	}
	i := bt.add("userfaultfd", unix.SYS_USERFAULTFD, unix.O_CLOEXEC|unix.O_NONBLOCK)
	bt.mayFail(i)
	return i
}

// openUffd gives task t a userfaultfd with the VMAs of p that get pages
// and can take UFFDIO_COPY registered, from the task's userfaultfd call
// uffdCall of bt (queueUffd; bt has run), whose fd it takes and has bt
// close in the task later. It returns nil without an error when the task
// cannot have one (a kernel without userfaultfd, a sysctl that forbids
// it, or nothing to register): the pages then go in another way.
func (r *restorer) openUffd(t *task, p *mmPlan, bt *callBatch, uffdCall int) (*taskUffd, error) {
	if uffdCall < 0 {
		return nil, nil
	}
	want := uffdWanted(p)
	tfd := bt.result(uffdCall)
	if _, err := compel.Result(t.threads[0].tid, "userfaultfd", unix.SYS_USERFAULTFD, tfd); err != nil {
		r.logf("pid %d: no userfaultfd (%v): pages go in with preadv or process_vm_writev", t.pid, err)
		return nil, nil
	}
	fd, gerr := takeFd(t.real, int(tfd))
	// The task's copy goes with the batch's next run.
	bt.add("close", unix.SYS_CLOSE, tfd)
	if gerr != nil {
		r.logf("pid %d: cannot take its userfaultfd (%v): pages go in another way", t.pid, gerr)
		return nil, nil
	}
	u := &taskUffd{fd: fd}
	if err := u.setup(want); err != nil {
		if cerr := u.close(); cerr != nil {
			return nil, fmt.Errorf("restore pages of pid %d: %w", t.pid, cerr)
		}
		r.logf("pid %d: userfaultfd unusable (%v): pages go in another way", t.pid, err)
		return nil, nil
	}
	return u, nil
}

// takeFd duplicates fd tfd of task pid into criu-restore.
func takeFd(pid, tfd int) (int, error) {
	pidfd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return -1, fmt.Errorf("open pidfd of pid %d: %w", pid, err)
	}
	defer unix.Close(pidfd)
	fd, err := unix.PidfdGetfd(pidfd, tfd, 0)
	if err != nil {
		return -1, fmt.Errorf("take fd %d of pid %d: %w", tfd, pid, err)
	}
	return fd, nil
}

func (u *taskUffd) setup(want []span) error {
	if err := uffd.Handshake(u.fd, 0); err != nil {
		return fmt.Errorf("userfaultfd handshake: %w", err)
	}
	for _, s := range want {
		ioctls, err := uffd.RegisterMissing(u.fd, s.start, s.end-s.start)
		if err != nil {
			return fmt.Errorf("register [%#x, %#x) with userfaultfd: %w", s.start, s.end, err)
		}
		u.regs = append(u.regs, s)
		if ioctls&uffd.IoctlCopy == 0 {
			return fmt.Errorf("register [%#x, %#x) with userfaultfd: no UFFDIO_COPY: %w", s.start, s.end, unix.EOPNOTSUPP)
		}
	}
	return nil
}

// covers reports whether [addr, addr+n) lies in one registered range.
func (u *taskUffd) covers(addr, n uint64) bool {
	i := sort.Search(len(u.regs), func(i int) bool { return u.regs[i].end > addr })
	return i < len(u.regs) && u.regs[i].start <= addr && addr+n <= u.regs[i].end
}

// uffdRetries bounds the UFFDIO_COPY calls that copy nothing: EAGAIN
// comes only while the mm changes, which a stopped task does not do.
const uffdRetries = 100

// copy puts b at addr, which must be covered and not yet populated.
func (u *taskUffd) copy(addr uint64, b []byte) error {
	for idle := 0; len(b) > 0; {
		// Nobody waits on a fault in these pages: the task is stopped.
		n, err := uffd.Copy(u.fd, addr, b, uffd.CopyModeDontWake)
		addr += uint64(n)
		b = b[n:]
		if err != nil && !errors.Is(err, unix.EAGAIN) {
			return fmt.Errorf("copy pages to %#x: %w", addr, err)
		}
		if n == 0 {
			if idle++; idle >= uffdRetries {
				return fmt.Errorf("copy pages to %#x: no progress: %w", addr, unix.EAGAIN)
			}
		}
	}
	return nil
}

// close unregisters every range, so that the task faults normally again,
// and closes criu-restore's fd (the last one: the task closed its own).
func (u *taskUffd) close() error {
	var errs []error
	for _, s := range u.regs {
		if err := uffd.Unregister(u.fd, s.start, s.end-s.start); err != nil {
			errs = append(errs, fmt.Errorf("unregister [%#x, %#x) from userfaultfd: %w", s.start, s.end, err))
		}
	}
	u.regs = nil
	if err := unix.Close(u.fd); err != nil {
		errs = append(errs, fmt.Errorf("close userfaultfd: %w", err))
	}
	return errors.Join(errs...)
}

// maxPageWorkers bounds how many copies run at once from a pages file.
const maxPageWorkers = 4

// uffdSink is the pageSink of a task with a userfaultfd: pages go in with
// UFFDIO_COPY where the userfaultfd covers them and with
// process_vm_writev elsewhere (a private file mapping's changed pages).
// From a pages file the pieces are listed and, at flush, read with pread
// and copied by a few workers at once. From a stream they are read in
// order into batches of pageBatchBytes, which a copier goroutine puts in
// while the next batch is read:
//
//	page(): stream --read--> batch --full--> copier: UFFDIO_COPY each piece
//	          ^                                 |
//	          +------------- free <-------------+
type uffdSink struct {
	u    *taskUffd
	pid  int
	name string

	file *os.File // the pages file read from, or nil for a stream
	off  uint64   // file offset of the next piece
	jobs []pageJob

	src  io.Reader // the stream, when file is nil
	cur  *pageBatch
	free chan *pageBatch // batches to fill; streamBatches in all
	full chan *pageBatch // batches for the copier; nil when it is not running
	done chan error      // the copier's first error, when it ends
	// failed is set by the copier on its first error, so that the reader
	// stops early.
	failed atomic.Bool
}

// pageJob is one piece of a pages file: n bytes at offset off of file go
// to addr (file is nil for a piece of a stream batch).
type pageJob struct {
	addr, n, off uint64
	file         *os.File
}

// pageBatch is pages read from a stream: pieces of buf, each going to its
// address.
type pageBatch struct {
	buf    []byte
	used   uint64
	pieces []pageJob // off is the offset in buf
}

// streamBatches is how many batches a stream sink fills and copies in
// turn: one being read, one being copied, one ready.
const streamBatches = 3

func newUffdSink(u *taskUffd, pid int, name string, src io.Reader) *uffdSink {
	s := &uffdSink{u: u, pid: pid, name: name}
	if f, ok := src.(*os.File); ok {
		s.file = f
	} else {
		s.src = src
	}
	return s
}

func (s *uffdSink) page(addr, n uint64) error {
	for n > 0 {
		if s.file != nil {
			k := min(n, pageBatchBytes)
			s.jobs = append(s.jobs, pageJob{addr: addr, n: k, off: s.off, file: s.file})
			s.off += k
			addr += k
			n -= k
			continue
		}
		if s.failed.Load() {
			return s.flush()
		}
		if s.cur == nil {
			s.cur = s.nextBatch()
		}
		b := s.cur
		k := min(n, uint64(len(b.buf))-b.used)
		if _, err := io.ReadFull(s.src, b.buf[b.used:b.used+k]); err != nil {
			return fmt.Errorf("read %s: %w", s.name, truncatedErr(err))
		}
		b.pieces = append(b.pieces, pageJob{addr: addr, n: k, off: b.used})
		b.used += k
		if b.used == uint64(len(b.buf)) {
			s.full <- b
			s.cur = nil
		}
		addr += k
		n -= k
	}
	return nil
}

// nextBatch returns an empty batch, starting the copier first if needed.
func (s *uffdSink) nextBatch() *pageBatch {
	if s.full == nil {
		if s.free == nil {
			s.free = make(chan *pageBatch, streamBatches)
			for range streamBatches {
				s.free <- &pageBatch{buf: make([]byte, pageBatchBytes)}
			}
		}
		s.full = make(chan *pageBatch, streamBatches)
		s.done = make(chan error, 1)
		go s.copier(s.full, s.done)
	}
	return <-s.free
}

// copier puts in the batches of full until it is closed; after an error it
// only hands the batches back.
func (s *uffdSink) copier(full <-chan *pageBatch, done chan<- error) {
	var err error
	for b := range full {
		for _, p := range b.pieces {
			if err != nil {
				break
			}
			err = s.put(p.addr, b.buf[p.off:p.off+p.n])
			if err != nil {
				s.failed.Store(true)
			}
		}
		b.used, b.pieces = 0, b.pieces[:0]
		s.free <- b
	}
	done <- err
}

// seek moves a file sink to another pages file (pages in a parent image
// set); the pieces listed so far keep their own.
func (s *uffdSink) seek(f *os.File, off uint64) error {
	if s.file == nil || f == nil {
		return errSeekStream
	}
	s.file, s.off = f, off
	return nil
}

func (s *uffdSink) skip(n uint64, keep []byte) error {
	if s.file != nil {
		if keep != nil {
			if _, err := s.file.ReadAt(keep[:n], int64(s.off)); err != nil {
				return fmt.Errorf("read %s: %w", s.file.Name(), truncatedErr(err))
			}
		}
		s.off += n
		return nil
	}
	if keep == nil {
		keep = make([]byte, n)
	}
	if _, err := io.ReadFull(s.src, keep[:n]); err != nil {
		return fmt.Errorf("read %s: %w", s.name, truncatedErr(err))
	}
	return nil
}

// put writes b at addr in the task.
func (s *uffdSink) put(addr uint64, b []byte) error {
	if s.u.covers(addr, uint64(len(b))) {
		return s.u.copy(addr, b)
	}
	n, err := ptrace.WriteMem(s.pid, addr, b)
	if err != nil {
		return fmt.Errorf("write pages at %#x: %w", addr, err)
	}
	if n != len(b) {
		return fmt.Errorf("write pages at %#x: %d of %d bytes written: %w", addr, n, len(b), ptrace.ErrFault)
	}
	return nil
}

// pageBufs are the workers' buffers of flush, pageBatchBytes each, kept
// from task to task: allocated afresh for every task of a wide tree they
// kept the garbage collector busy for a fifth of the restore.
var pageBufs = sync.Pool{New: func() any {
	b := make([]byte, pageBatchBytes)
	return &b
}}

// flush puts in every page given so far: the listed pieces of a pages
// file, with up to maxPageWorkers workers, each reading a piece into its
// buffer and copying it into the task; or the last batch of a stream,
// waiting for the copier to finish. It must run before the userfaultfd is
// closed, also after a failure, so that no copy is left running.
func (s *uffdSink) flush() error {
	if s.file == nil {
		if s.full == nil {
			return nil
		}
		if s.cur != nil && s.cur.used > 0 {
			s.full <- s.cur
			s.cur = nil
		}
		close(s.full)
		s.full = nil
		return <-s.done
	}
	jobs := s.jobs
	s.jobs = nil
	if len(jobs) == 0 {
		return nil
	}
	var bufLen uint64
	for _, j := range jobs {
		bufLen = max(bufLen, j.n)
	}
	sizes := fileSizes(jobs)
	workers := min(runtime.GOMAXPROCS(0), maxPageWorkers, len(jobs))
	var next atomic.Int64
	var failed atomic.Bool
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			bp := pageBufs.Get().(*[]byte)
			defer pageBufs.Put(bp)
			buf := (*bp)[:bufLen]
			for !failed.Load() {
				i := next.Add(1) - 1
				if i >= int64(len(jobs)) {
					return
				}
				j := jobs[i]
				err := s.putMapped(j, sizes)
				if errors.Is(err, errNoMap) {
					b := buf[:j.n]
					if err = readAt(j.file, b, j.off); err == nil {
						err = s.put(j.addr, b)
					}
				}
				if err != nil {
					errs[w] = err
					failed.Store(true)
					return
				}
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// errNoMap is putMapped's "read the piece instead".
var errNoMap = errors.New("piece not mapped")

// fileSizes returns the sizes of the pages files of jobs, -1 for one
// that cannot be told.
func fileSizes(jobs []pageJob) map[*os.File]int64 {
	sizes := map[*os.File]int64{}
	for _, j := range jobs {
		if _, ok := sizes[j.file]; ok {
			continue
		}
		sizes[j.file] = -1
		if st, err := j.file.Stat(); err == nil && st.Mode().IsRegular() {
			sizes[j.file] = st.Size()
		}
	}
	return sizes
}

// putMapped puts in a piece of a pages file straight from a mapping of
// the file, populated at once, so that each page is copied once (from
// the page cache into the task) instead of twice through a buffer. It
// returns errNoMap when the piece is to be read instead: the file is
// not a regular one that can be mapped, or is shorter than the piece
// (the read then names the truncation).
func (s *uffdSink) putMapped(j pageJob, sizes map[*os.File]int64) error {
	size := sizes[j.file]
	if size < 0 || j.off%pageSize != 0 || j.off+j.n > uint64(size) || j.n == 0 {
		return errNoMap
	}
	m, err := unix.Mmap(int(j.file.Fd()), int64(j.off), int(j.n), unix.PROT_READ, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		return errNoMap
	}
	err = s.put(j.addr, m)
	if uerr := unix.Munmap(m); err == nil && uerr != nil {
		err = fmt.Errorf("unmap %s at %d: %w", j.file.Name(), j.off, uerr)
	}
	return err
}

func readAt(f *os.File, b []byte, off uint64) error {
	if _, err := f.ReadAt(b, int64(off)); err != nil {
		return fmt.Errorf("read %s at %d: %w", f.Name(), off, truncatedErr(err))
	}
	return nil
}
