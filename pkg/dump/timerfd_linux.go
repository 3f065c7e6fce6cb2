package dump

import (
	"fmt"

	"github.com/criugo/criugo/images"
	"github.com/criugo/criugo/pkg/proc"
)

func init() {
	registerFdKind(images.FdTypes_TIMERFD, &fdKind{link: proc.LinkAnonInode, anon: "timerfd",
		dump: func(d *dumper, x *fdDump) error { return d.timerfd(x.f, x.id, x.flags, x.fown) }})
}

// timerfd records a timerfd as fdinfo shows it: the clock, the
// expirations not yet read, the settime flags, the time left until the
// next expiry (relative, also for a TFD_TIMER_ABSTIME timer; 0 when the
// timer is disarmed or expired with ticks pending) and the interval.
func (d *dumper) timerfd(f *fdFile, id, flags uint32, fown *images.FownEntry) error {
	tf := f.info.Timerfd
	if tf == nil {
		return fmt.Errorf("timerfd without clockid in fdinfo: %w", ErrKernel)
	}
	if tf.Value.Sec < 0 || tf.Value.Nsec < 0 || tf.Interval.Sec < 0 || tf.Interval.Nsec < 0 {
		return fmt.Errorf("timerfd with negative times %v %v: %w", tf.Value, tf.Interval, ErrKernel)
	}
	d.addFile(&images.FileEntry{Type: images.FdTypes_TIMERFD.Enum(), Id: ptr(id), Tfd: &images.TimerfdEntry{
		Id:           ptr(id),
		Flags:        ptr(flags),
		Fown:         fown,
		Clockid:      ptr(uint32(tf.ClockID)),
		Ticks:        ptr(tf.Ticks),
		SettimeFlags: ptr(tf.SettimeFlags),
		Vsec:         ptr(uint64(tf.Value.Sec)),
		Vnsec:        ptr(uint64(tf.Value.Nsec)),
		Isec:         ptr(uint64(tf.Interval.Sec)),
		Insec:        ptr(uint64(tf.Interval.Nsec)),
	}})
	return nil
}
