package restore

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"github.com/criugo/criugo/images"
	"github.com/criugo/criugo/pkg/image"
	"github.com/criugo/criugo/pkg/proc"
)

// Time namespaces. timens-<id>.img holds what the tree's CLOCK_MONOTONIC
// and CLOCK_BOOTTIME read at the dump, inside its time namespace. The
// root, having unshared CLONE_NEWTIME, has a new namespace for its
// children to come that no task is in yet: only then can its offsets be
// written (/proc/PID/timens_offsets), and they are made so that the
// clocks go on from the dumped values. Offsets count from the host's
// clocks, which criu-restore reads as its own less its own offsets. The
// root then joins the namespace itself (setns on its time_for_children;
// it is single-threaded still), and every task forked from it is born
// there.

// restoreTimeNS sets the offsets of root's new time namespace from
// timens-<id>.img and moves root into it.
func (r *restorer) restoreTimeNS(root *task, id uint32) error {
	name := image.TimeNS.FileName(id)
	te, err := single[*images.TimensEntry](r.set, name)
	if err != nil {
		return err
	}
	if te.GetMonotonic() == nil || te.GetBoottime() == nil {
		return fmt.Errorf("read %s: no clock values: %w", name, ErrBadImage)
	}
	own, err := proc.FS{}.TimensOffsets(os.Getpid())
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("read own time namespace offsets: %w", err)
	}
	var lines []byte
	for _, c := range []struct {
		clock int32
		name  string
		want  *images.Timespec
	}{
		{unix.CLOCK_MONOTONIC, "monotonic", te.GetMonotonic()},
		{unix.CLOCK_BOOTTIME, "boottime", te.GetBoottime()},
	} {
		if c.want.GetTvNsec() >= 1e9 || c.want.GetTvSec() > 1<<62 {
			return fmt.Errorf("read %s: %s clock %d.%09d: %w", name, c.name, c.want.GetTvSec(), c.want.GetTvNsec(), ErrBadImage)
		}
		var now unix.Timespec
		if err := unix.ClockGettime(c.clock, &now); err != nil {
			return fmt.Errorf("read %s clock: %w", c.name, err)
		}
		// The host's clock: criu-restore's own, less its namespace's offset.
		sec, nsec := now.Sec, now.Nsec
		for _, o := range own {
			if o.Clock == c.name {
				sec, nsec = sec-o.Sec, nsec-o.Nsec
			}
		}
		sec, nsec = normTimespec(int64(c.want.GetTvSec())-sec, int64(c.want.GetTvNsec())-nsec)
		lines = fmt.Appendf(lines, "%d %d %d\n", c.clock, sec, nsec)
	}
	path := proc.FS{}.Path(root.real, 0, "timens_offsets")
	if err := os.WriteFile(path, lines, 0); err != nil {
		return fmt.Errorf("restore time namespace (%s): set offsets: %w", name, err)
	}
	b := newScratchBuf(root.scratch)
	pathp := b.cstring("/proc/self/ns/time_for_children")
	if err := b.flush(root.real); err != nil {
		return err
	}
	th := root.threads[0]
	fd, err := r.call(root, th, "open time_for_children", unix.SYS_OPENAT, atFDCWD, pathp, unix.O_RDONLY|unix.O_CLOEXEC)
	if err != nil {
		return fmt.Errorf("restore time namespace (%s): %w", name, err)
	}
	_, err = r.call(root, th, "setns time", unix.SYS_SETNS, fd, unix.CLONE_NEWTIME)
	if _, cerr := r.call(root, th, "close", unix.SYS_CLOSE, fd); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("restore time namespace (%s): %w", name, err)
	}
	return nil
}

// normTimespec brings nsec into [0, 1e9).
func normTimespec(sec, nsec int64) (int64, int64) {
	sec += nsec / 1e9
	nsec %= 1e9
	if nsec < 0 {
		sec--
		nsec += 1e9
	}
	return sec, nsec
}
