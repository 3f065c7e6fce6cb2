package dump

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/criugo/criugo/images"
	"github.com/criugo/criugo/pkg/compel"
	"github.com/criugo/criugo/pkg/image"
	"github.com/criugo/criugo/pkg/proc"
	"github.com/criugo/criugo/pkg/ptrace"
	"github.com/criugo/criugo/pkg/uffd"
)

// tracker is the write tracking of one task's mm: a userfaultfd created
// in the task, held here, and a pidfd naming the task it was made for.
type tracker struct {
	pid   int
	uffd  int
	pidfd int
}

func (tk *tracker) close() {
	unix.Close(tk.uffd)
	unix.Close(tk.pidfd)
}

// newTracker makes a userfaultfd for the mm of task pid: injected into
// thread tid, taken with pidfd_getfd, and closed in the task again, so
// that its fd table is as before.
func newTracker(tr *ptrace.Tracer, pid, tid int) (_ *tracker, err error) {
	pidfd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return nil, fmt.Errorf("open pidfd of pid %d: %w", pid, err)
	}
	theirs, err := compel.InjectSyscall(tr, tid, unix.SYS_USERFAULTFD, unix.O_CLOEXEC|unix.O_NONBLOCK)
	if err != nil {
		unix.Close(pidfd)
		return nil, fmt.Errorf("create userfaultfd in pid %d: %w", pid, err)
	}
	fd, gerr := unix.PidfdGetfd(pidfd, int(theirs), 0)
	if _, cerr := compel.InjectSyscall(tr, tid, unix.SYS_CLOSE, theirs); cerr != nil {
		err = fmt.Errorf("close userfaultfd %d in pid %d: %w", theirs, pid, cerr)
	}
	if gerr != nil {
		err = errors.Join(err, fmt.Errorf("take userfaultfd of pid %d: %w", pid, gerr))
	}
	if err != nil {
		if gerr == nil {
			unix.Close(fd)
		}
		unix.Close(pidfd)
		return nil, err
	}
	tk := &tracker{pid: pid, uffd: fd, pidfd: pidfd}
	if err := uffd.Handshake(fd, uffd.FeatureWPAsync|uffd.FeatureWPUnpopulated); err != nil {
		tk.close()
		return nil, fmt.Errorf("track writes of pid %d: %w", pid, err)
	}
	return tk, nil
}

// trackable reports whether writes to m are tracked: private anonymous
// memory (heap, stack, anonymous mappings). Other private mappings are
// dumped whole by every dump.
func trackable(m *mapping) bool {
	return m.kind == vmaAnonPriv && !m.Shared && m.private() &&
		!m.is(images.VmaAreaVdso|images.VmaAreaVvar|images.VmaAreaVsyscall) &&
		m.VmFlags&proc.VmHugeTLB == 0
}

// protect registers t's trackable mappings with the tracker and
// write-protects them, so that the next dump finds what was written since.
// A mapping the kernel refuses is left untracked: the next dump dumps it
// whole, as it would a mapping created after this one.
func (tk *tracker) protect(maps []mapping) error {
	for i := range maps {
		m := &maps[i]
		if !trackable(m) {
			continue
		}
		if err := uffd.RegisterWP(tk.uffd, m.Start, m.Len()); err != nil {
			continue
		}
		if err := uffd.WriteProtect(tk.uffd, m.Start, m.Len()); err != nil {
			return fmt.Errorf("track writes of pid %d: %w", tk.pid, err)
		}
	}
	return nil
}

// unwritten lists the pages of t's trackable mappings that tracking says
// were not written since the last protect: regions of mappings that are
// registered and write-protected (PAGE_IS_WPALLOWED) and not
// PAGE_IS_WRITTEN. As CRIU with soft-dirty bits, mappings without
// PROT_READ are dumped whole by a final dump.
func unwritten(pm *proc.Pagemap, maps []mapping, preDump bool) ([]proc.Span, error) {
	var out []proc.Span
	for i := range maps {
		m := &maps[i]
		if !trackable(m) || (!preDump && m.e.GetProt()&unix.PROT_READ == 0) {
			continue
		}
		regs, err := pm.WriteTracked(m.Start, m.End)
		if err != nil {
			return nil, err
		}
		for _, r := range regs {
			if !r.Written {
				out = append(out, r.Span)
			}
		}
	}
	return out, nil
}

// intersect returns the parts of a that b covers; both sorted and
// disjoint.
func intersect(a, b []proc.Span) []proc.Span {
	var out []proc.Span
	for len(a) > 0 && len(b) > 0 {
		s, e := max(a[0].Start, b[0].Start), min(a[0].End, b[0].End)
		if s < e {
			out = append(out, proc.Span{Start: s, End: e})
		}
		if a[0].End < b[0].End {
			a = a[1:]
		} else {
			b = b[1:]
		}
	}
	return out
}

// parentPages lists the pages a parent image set holds for the task
// dumped as nsPid: its pagemap runs present there or in its own parent
// (sorted, merged). No pagemap there: none, without an error (the task is
// new since).
func parentPages(dir string, nsPid int) ([]proc.Span, error) {
	pm, err := image.ReadPagemapFile(dir, image.Pagemap.FileName(nsPid))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if errors.Is(err, image.ErrBadPagemap) {
		return nil, fmt.Errorf("read parent pagemap: %w: %w", ErrBadInput, err)
	}
	if err != nil {
		return nil, fmt.Errorf("read parent pagemap: %w", err)
	}
	var out []proc.Span
	for _, r := range pm.Runs {
		if !r.HasPages() {
			continue
		}
		if k := len(out); k > 0 && out[k-1].End == r.Vaddr {
			out[k-1].End = r.End()
			continue
		}
		out = append(out, proc.Span{Start: r.Vaddr, End: r.End()})
	}
	return out, nil
}

// pidOfPidfd is the pid a pidfd names, as its fdinfo says: -1 once the
// task is gone.
func pidOfPidfd(fd int) (int, error) {
	f, err := os.Open("/proc/self/fdinfo/" + strconv.Itoa(fd))
	if err != nil {
		return 0, fmt.Errorf("read pidfd: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "Pid:"); ok {
			return strconv.Atoi(strings.TrimSpace(v))
		}
	}
	return 0, fmt.Errorf("read pidfd %d: no Pid line", fd)
}
