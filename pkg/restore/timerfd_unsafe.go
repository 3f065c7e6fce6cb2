//go:build linux

package restore

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// tfdIocSetTicks is TFD_IOC_SET_TICKS, _IOW('T', 0, __u64): it sets the
// expirations a timerfd has to report (needs CONFIG_CHECKPOINT_RESTORE).
const tfdIocSetTicks = 0x40085400

// setTimerfdTicks is ioctl(fd, TFD_IOC_SET_TICKS, &ticks).
func setTimerfdTicks(fd int, ticks uint64) error {
	_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), tfdIocSetTicks, uintptr(unsafe.Pointer(&ticks)))
	if e != 0 {
		return e
	}
	return nil
}
