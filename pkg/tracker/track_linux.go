package tracker

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"github.com/criugo/criugo/pkg/compel"
	"github.com/criugo/criugo/pkg/proc"
	"github.com/criugo/criugo/pkg/ptrace"
	"github.com/criugo/criugo/pkg/uffd"
)

// uffdUserModeOnly is UFFD_USER_MODE_ONLY, userfaultfd(2)'s flag for a
// uffd that handles faults taken in user mode only.
const uffdUserModeOnly = 1

// Tracker is the write tracking of one task's mm: a userfaultfd created
// in the task, held here, and a pidfd naming the task it was made for.
type Tracker struct {
	pid   int
	uffd  int
	pidfd int
}

// Pid is the pid of the task tracked.
func (tk *Tracker) Pid() int { return tk.pid }

// Close drops the tracking: the registration and the protection go with
// the last userfaultfd.
func (tk *Tracker) Close() {
	unix.Close(tk.uffd)
	unix.Close(tk.pidfd)
}

// New makes a userfaultfd for the mm of task pid: injected into thread
// tid, which tr holds stopped, taken with pidfd_getfd, and closed in the
// task again, so that its fd table is as before.
func New(tr *ptrace.Tracer, pid, tid int) (_ *Tracker, err error) {
	pidfd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return nil, fmt.Errorf("open pidfd of pid %d: %w", pid, err)
	}
	theirs, err := compel.InjectSyscall(tr, tid, unix.SYS_USERFAULTFD, unix.O_CLOEXEC|unix.O_NONBLOCK)
	if errors.Is(err, unix.EPERM) {
		// A task without CAP_SYS_PTRACE (a container's) may only make a
		// userfaultfd for faults in user mode while
		// vm.unprivileged_userfaultfd is 0. That is all the tracking
		// needs: in asynchronous write-protect mode the kernel lifts the
		// protection itself on any write fault, its own copies to user
		// memory included, and never hands a fault to the uffd.
		theirs, err = compel.InjectSyscall(tr, tid, unix.SYS_USERFAULTFD, unix.O_CLOEXEC|unix.O_NONBLOCK|uffdUserModeOnly)
	}
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
	tk := &Tracker{pid: pid, uffd: fd, pidfd: pidfd}
	if err := uffd.Handshake(fd, uffd.FeatureWPAsync|uffd.FeatureWPUnpopulated); err != nil {
		tk.Close()
		return nil, fmt.Errorf("track writes of pid %d: %w", pid, err)
	}
	return tk, nil
}

// Protect registers the task's mappings at maps (whole mappings, those
// whose writes are to be tracked) with the tracker and write-protects
// them, so that the next dump finds what was written since. A mapping the
// kernel refuses is left untracked: the next dump dumps it whole, as it
// would a mapping created after this one.
func (tk *Tracker) Protect(maps []proc.Span) error {
	for i := range maps {
		m := &maps[i]
		if err := uffd.RegisterWP(tk.uffd, m.Start, m.End-m.Start); err != nil {
			continue
		}
		if err := uffd.WriteProtect(tk.uffd, m.Start, m.End-m.Start); err != nil {
			return fmt.Errorf("track writes of pid %d: %w", tk.pid, err)
		}
	}
	return nil
}

// Unwritten lists the pages of the mappings at maps that tracking says
// were not written since the last Protect: regions of mappings that are
// registered and write-protected (PAGE_IS_WPALLOWED) and not
// PAGE_IS_WRITTEN. A mapping not registered (created, moved or replaced
// since) has no such region.
func Unwritten(pm *proc.Pagemap, maps []proc.Span) ([]proc.Span, error) {
	var out []proc.Span
	for i := range maps {
		m := &maps[i]
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

// Intersect returns the parts of a that b covers; both sorted and
// disjoint.
func Intersect(a, b []proc.Span) []proc.Span {
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

// pidOfPidfd is the pid a pidfd names, as its fdinfo says: -1 once the
// task is gone.
func pidOfPidfd(fd int) (int, error) {
	pid, err := proc.FS{}.PidfdPid(os.Getpid(), fd)
	if err != nil {
		return 0, fmt.Errorf("read pidfd %d: %w", fd, err)
	}
	return pid, nil
}
