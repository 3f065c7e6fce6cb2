package restore

import (
	"bytes"
	"fmt"
	"os"
	"sort"

	"golang.org/x/sys/unix"

	"github.com/criugo/criugo/pkg/proc"
	"github.com/criugo/criugo/pkg/ptrace"
)

// Copy-on-write sharing between a parent and its children.
//
// A child forked before the dump shares with its parent, copy-on-write,
// every private page neither of them wrote since. Each task's pagemap
// holds its own pages (CRIU's images say nothing of the sharing), so the
// restore finds it again, as CRIU's does, by comparing: a child is forked
// from its parent once the parent's memory is in (createChild), and so
// starts with the parent's pages; each private VMA of the child's image
// that the parent's image has at the same place, of the same kind, file
// and flags (inheritedVMAs) is kept as the fork left it instead of being
// mapped anew. In such a VMA, a page of the child's pagemap that the
// parent's pagemap also has is compared with what the child holds there
// (the parent's page): equal, it stays shared; else the child's bytes are
// written with process_vm_writev, which copies the page as a write of the
// child's own would. A page only the child has goes in as any other (the
// page there is not populated). A page only the parent has is dropped
// (MADV_DONTNEED), so that the child reads zeros or its file there. A
// grandchild then compares with its parent, the child, and so on down
// the tree.
//
//	parent (restored)   [ A | B | C | - ]      pagemap: A B C
//	child, forked       [ A | B | C | - ]      shares all
//	child's pagemap:      A   B'  -   D
//	child, restored     [ A | B'| - | D ]      A shared; B' written (copied);
//	                                           C dropped; D put in (uffd or write)
//
// Kept VMAs are not registered with the userfaultfd: the pages they hold
// already must not be copied over, and a fault that would wait for it
// must not happen while criu-restore reads or writes the child.

// Madvise advice the parent's image may hold that the fork does not copy.
const (
	madvDontfork   = 10
	madvWipeonfork = 18
)

// inheritable says whether VMA v of a child's image can be kept as the
// fork from a parent whose image has pv there left it: both private
// anonymous, or both private mappings of the same file at the same offset
// opened alike, with the same flags, protection and advice; none locked
// (mlock filled the parent's with pages of its own), dropped by the fork
// (MADV_DONTFORK) or wiped by it (MADV_WIPEONFORK, MAP_DROPPABLE).
func inheritable(v, pv *vma) bool {
	if v.start() != pv.start() || v.end() != pv.end() || v.kind != pv.kind {
		return false
	}
	e, pe := v.e, pv.e
	switch v.kind {
	case vmaKindAnon:
	case vmaKindFile:
		if v.shared() || e.GetShmid() != pe.GetShmid() || e.GetPgoff() != pe.GetPgoff() || vmaAccmode(v) != vmaAccmode(pv) {
			return false
		}
	default:
		return false
	}
	if e.GetFlags() != pe.GetFlags() || e.GetProt() != pe.GetProt() || e.GetStatus() != pe.GetStatus() || e.GetMadv() != pe.GetMadv() {
		return false
	}
	if e.GetFlags()&(mapLocked|mapDroppable|mapShared) != 0 {
		return false
	}
	return e.GetMadv()&(1<<madvDontfork|1<<madvWipeonfork) == 0
}

// hasGuard says whether a guard region of p lies in [s.start, s.end).
func (p *mmPlan) hasGuard(s span) bool {
	for _, g := range p.guards {
		if g.start < s.end && s.start < g.end {
			return true
		}
	}
	return false
}

// inheritedVMAs marks the VMAs of p, the image of t, that t keeps from the
// fork (vma.inherited) and returns the parent's pages in them, by
// address: what t holds there until its restore drops or replaces it.
// cur is t's memory map as it is. A task not forked from a restored parent
// keeps nothing.
func inheritedVMAs(t *task, p *mmPlan, cur []proc.VMA) []span {
	for _, v := range p.vmas {
		v.inherited = false
	}
	pp := t.forkedFrom
	if pp == nil || !useCOW {
		return nil
	}
	var parentPages []span
	for _, v := range p.vmas {
		pv := pp.vmaAt(v.start())
		if pv == nil || !inheritable(v, pv) || p.hasGuard(span{v.start(), v.end()}) || pp.hasGuard(span{pv.start(), pv.end()}) {
			continue
		}
		// The fork copied it: one VMA of t holds it whole.
		i := sort.Search(len(cur), func(i int) bool { return cur[i].End > v.start() })
		if i == len(cur) || cur[i].Start > v.start() || cur[i].End < v.end() {
			continue
		}
		v.inherited = true
		parentPages = append(parentPages, pp.pagesIn(span{v.start(), v.end()})...)
	}
	return parentPages
}

// useCOW lets the tests turn the sharing off (every task then gets its
// memory fresh, as the mutation check of test/programs/cow.c does).
var useCOW = true

// pagesIn returns the pages p's pagemap puts in s (present, or in a
// parent image set), by address.
func (p *mmPlan) pagesIn(s span) []span {
	var out []span
	for _, run := range p.runs {
		if !run.present && !run.inParent {
			continue
		}
		lo, hi := max(run.vaddr, s.start), min(run.end(), s.end)
		if lo >= hi {
			continue
		}
		if n := len(out); n > 0 && out[n-1].end == lo {
			out[n-1].end = hi
			continue
		}
		out = append(out, span{lo, hi})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].start < out[j].start })
	return out
}

// subtract returns the parts of a (sorted, disjoint) that no span of b
// (sorted, disjoint) covers.
func subtract(a, b []span) []span {
	var out []span
	j := 0
	for _, s := range a {
		at := s.start
		for j < len(b) && b[j].end <= at {
			j++
		}
		for k := j; k < len(b) && b[k].start < s.end; k++ {
			if b[k].start > at {
				out = append(out, span{at, b[k].start})
			}
			at = max(at, b[k].end)
		}
		if at < s.end {
			out = append(out, span{at, s.end})
		}
	}
	return out
}

// cowSink is the pageSink of a task that kept VMAs from its parent: the
// pieces where the parent has pages (shared, sorted) are compared with
// what the task holds and written only where they differ; the rest goes
// to next.
type cowSink struct {
	next    pageSink
	pid     int
	shared  []span
	img     []byte     // the image's bytes of a piece
	held    []byte     // the task's bytes of the same piece
	bufs    [2]*[]byte // img and held, from pageBufs
	put     []span     // pages seen by the sink, to tell which the parent alone has
	mem     *os.File   // /proc/PID/mem of the task, opened on first need
	compare uint64     // pages compared
	same    uint64     // pages found equal: left shared
}

// cowPiece bounds a piece compared at once: a buffer of pageBufs.
const cowPiece = pageBatchBytes

func newCOWSink(next pageSink, pid int, shared []span) *cowSink {
	return &cowSink{next: next, pid: pid, shared: shared}
}

func (s *cowSink) page(addr, n uint64) error {
	end := addr + n
	if k := len(s.put); k > 0 && s.put[k-1].end == addr {
		s.put[k-1].end = end
	} else {
		s.put = append(s.put, span{addr, end})
	}
	for addr < end {
		i := sort.Search(len(s.shared), func(i int) bool { return s.shared[i].end > addr })
		if i == len(s.shared) || s.shared[i].start >= end {
			return s.next.page(addr, end-addr)
		}
		if sh := s.shared[i]; sh.start > addr {
			if err := s.next.page(addr, sh.start-addr); err != nil {
				return err
			}
			addr = sh.start
		}
		hi := min(end, s.shared[i].end)
		for addr < hi {
			k := min(hi-addr, cowPiece)
			if err := s.comparePiece(addr, k); err != nil {
				return err
			}
			addr += k
		}
	}
	return nil
}

// comparePiece reads the image's n bytes for addr, compares them page by
// page with the task's, and writes the runs of pages that differ.
func (s *cowSink) comparePiece(addr, n uint64) error {
	if s.img == nil {
		// Kept from task to task, as the sinks' own (pageBufs).
		s.bufs = [2]*[]byte{pageBufs.Get().(*[]byte), pageBufs.Get().(*[]byte)}
		s.img, s.held = *s.bufs[0], *s.bufs[1]
	}
	img, mem := s.img[:n], s.held[:n]
	if err := s.next.skip(n, img); err != nil {
		return err
	}
	if err := s.readMem(mem, addr); err != nil {
		return err
	}
	write := func(lo, hi uint64) error {
		if lo == hi {
			return nil
		}
		got, err := ptrace.WriteMem(s.pid, addr+lo, img[lo:hi])
		if err != nil || got != int(hi-lo) {
			return fmt.Errorf("write pages at %#x: %d of %d bytes: %w", addr+lo, got, hi-lo, orFault(err))
		}
		return nil
	}
	var from uint64 // start of the run of differing pages, or off
	differ := false
	for off := uint64(0); off < n; off += pageSize {
		s.compare++
		if bytes.Equal(img[off:off+pageSize], mem[off:off+pageSize]) {
			s.same++
			if differ {
				if err := write(from, off); err != nil {
					return err
				}
				differ = false
			}
			continue
		}
		if !differ {
			from, differ = off, true
		}
	}
	if differ {
		return write(from, n)
	}
	return nil
}

// readMem reads the task's memory through /proc/PID/mem, which takes a
// plain reference on each page: process_vm_readv pins them, and the
// kernel copies an anonymous page pinned while shared, which would undo
// the sharing it looks at.
func (s *cowSink) readMem(buf []byte, addr uint64) error {
	if s.mem == nil {
		f, err := os.Open(fmt.Sprintf("/proc/%d/mem", s.pid))
		if err != nil {
			return fmt.Errorf("read inherited pages of pid %d: %w", s.pid, err)
		}
		s.mem = f
	}
	if _, err := s.mem.ReadAt(buf, int64(addr)); err != nil {
		return fmt.Errorf("read inherited pages of pid %d at %#x: %w", s.pid, addr, err)
	}
	return nil
}

func (s *cowSink) close() {
	if s.bufs[0] != nil {
		pageBufs.Put(s.bufs[0])
		pageBufs.Put(s.bufs[1])
		s.bufs, s.img, s.held = [2]*[]byte{}, nil, nil
	}
	if s.mem != nil {
		s.mem.Close()
		s.mem = nil
	}
}

func orFault(err error) error {
	if err != nil {
		return err
	}
	return ptrace.ErrFault
}

func (s *cowSink) skip(n uint64, keep []byte) error { return s.next.skip(n, keep) }

func (s *cowSink) seek(f *os.File, off uint64) error { return s.next.seek(f, off) }

func (s *cowSink) flush() error { return s.next.flush() }

// dropParentOnly adds to bt the MADV_DONTNEED of the pages the parent
// alone has (shared minus what the task's pagemap put).
func (s *cowSink) dropParentOnly(t *task, bt *callBatch) {
	sort.Slice(s.put, func(i, j int) bool { return s.put[i].start < s.put[j].start })
	for _, d := range subtract(s.shared, s.put) {
		bt.onError(bt.add("madvise MADV_DONTNEED", unix.SYS_MADVISE, d.start, d.end-d.start, unix.MADV_DONTNEED), func(err error) error {
			return fmt.Errorf("drop the parent's pages [%#x, %#x) from pid %d: %w", d.start, d.end, t.pid, err)
		})
	}
}

// sameExe says whether t was forked from a restored parent whose exe file
// is file id, the exe file of t's image: the same entry of files.img, or
// one of the same path.
func (r *restorer) sameExe(t *task, id uint32) bool {
	if t.forkedFrom == nil {
		return false
	}
	pid := t.forkedFrom.mm.GetExeFileId()
	if pid == id {
		return true
	}
	a, aerr := r.files.entry(pid)
	b, berr := r.files.entry(id)
	if aerr != nil || berr != nil || a.GetReg() == nil || b.GetReg() == nil {
		return false
	}
	return a.GetReg().GetName() == b.GetReg().GetName()
}
