package restore

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"github.com/criugo/criugo/images"
)

// A timerfd is made unarmed and armed at the clock stage of finish.
func init() {
	registerFileKind(images.FdTypes_TIMERFD, &fileKind{
		has:    func(e *images.FileEntry) bool { return e.GetTfd() != nil },
		open:   func(f *fileObjs, e *images.FileEntry) (*os.File, error) { return f.timerfdDesc(e.GetTfd()) },
		fown:   func(e *images.FileEntry) *images.FownEntry { return e.GetTfd().GetFown() },
		finish: (*fileObjs).armTimerfds,
		stage:  finishClock,
	})
}

// timerfdObj is a timerfd created by criu-restore and armed only when the
// tree is about to run (armTimerfds), as CRIU arms them in its restorer at
// the very end: the time the restore takes does not eat into the timer.
type timerfdObj struct {
	file *os.File
	e    *images.TimerfdEntry
}

// timerfdDesc creates a timerfd on the saved clock, not armed yet.
func (f *fileObjs) timerfdDesc(e *images.TimerfdEntry) (*os.File, error) {
	if e == nil {
		return nil, fmt.Errorf("TIMERFD without timerfd entry: %w", ErrBadImage)
	}
	if e.GetVnsec() >= 1e9 || e.GetInsec() >= 1e9 || e.GetVsec() > 1<<62 || e.GetIsec() > 1<<62 {
		return nil, fmt.Errorf("timerfd %d: value %d.%09d interval %d.%09d: %w", e.GetId(), e.GetVsec(), e.GetVnsec(), e.GetIsec(), e.GetInsec(), ErrBadImage)
	}
	flags := unix.TFD_CLOEXEC
	if e.GetFlags()&unix.O_NONBLOCK != 0 {
		flags |= unix.TFD_NONBLOCK
	}
	fd, err := unix.TimerfdCreate(int(e.GetClockid()), flags)
	if err != nil {
		return nil, fmt.Errorf("create timerfd %d on clock %d: %w", e.GetId(), e.GetClockid(), err)
	}
	file := f.keep(os.NewFile(uintptr(fd), fmt.Sprintf("anon_inode:[timerfd] %d", e.GetId())))
	if err := setStatusFlags(file, int(e.GetFlags())); err != nil {
		return nil, err
	}
	unarmed := stateOf[[]timerfdObj](f, images.FdTypes_TIMERFD)
	*unarmed = append(*unarmed, timerfdObj{file, e})
	return file, nil
}

// armTimerfds sets every timerfd going with the time it had left and its
// interval, and gives it back the expirations it had not reported. The
// image holds the time left (fdinfo's it_value is relative even for a
// TFD_TIMER_ABSTIME timer), so an absolute timer is set to now plus that.
func (f *fileObjs) armTimerfds() error {
	for _, t := range *stateOf[[]timerfdObj](f, images.FdTypes_TIMERFD) {
		e := t.e
		spec := unix.ItimerSpec{
			Value:    unix.Timespec{Sec: int64(e.GetVsec()), Nsec: int64(e.GetVnsec())},
			Interval: unix.Timespec{Sec: int64(e.GetIsec()), Nsec: int64(e.GetInsec())},
		}
		armed := spec.Value.Sec != 0 || spec.Value.Nsec != 0
		if armed && e.GetSettimeFlags()&unix.TFD_TIMER_ABSTIME != 0 {
			var now unix.Timespec
			if err := unix.ClockGettime(int32(e.GetClockid()), &now); err != nil {
				return fmt.Errorf("arm timerfd %d: read clock %d: %w", e.GetId(), e.GetClockid(), err)
			}
			spec.Value.Sec += now.Sec
			spec.Value.Nsec += now.Nsec
			if spec.Value.Nsec >= 1e9 {
				spec.Value.Sec++
				spec.Value.Nsec -= 1e9
			}
		}
		// A disarmed timer is set too: the kernel keeps the interval
		// and the flags it is given either way.
		if err := unix.TimerfdSettime(int(t.file.Fd()), int(e.GetSettimeFlags()), &spec, nil); err != nil {
			return fmt.Errorf("arm timerfd %d (flags %#x, value %d.%09d, interval %d.%09d): %w",
				e.GetId(), e.GetSettimeFlags(), spec.Value.Sec, spec.Value.Nsec, spec.Interval.Sec, spec.Interval.Nsec, err)
		}
		if e.GetTicks() != 0 {
			if err := setTimerfdTicks(int(t.file.Fd()), e.GetTicks()); err != nil {
				return fmt.Errorf("set %d expirations of timerfd %d: %w", e.GetTicks(), e.GetId(), err)
			}
		}
	}
	return nil
}
