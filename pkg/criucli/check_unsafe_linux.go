package criucli

import (
	"fmt"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// kcmpEpollTfd is kcmp(2)'s KCMP_EPOLL_TFD, which x/sys/unix lacks.
const kcmpEpollTfd = 7

// kcmpEpollSlot is struct kcmp_epoll_slot (<linux/kcmp.h>).
type kcmpEpollSlot struct {
	efd, tfd, toff uint32
}

// probeKcmpEpoll: the dump tells which open file an epoll target is with
// kcmp(KCMP_EPOLL_TFD) (Linux 4.13): an eventfd added to an epoll must
// compare equal to the target it is.
func probeKcmpEpoll() error {
	ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return fmt.Errorf("epoll_create1: %w", err)
	}
	defer unix.Close(ep)
	ev, err := unix.Eventfd(0, unix.EFD_CLOEXEC)
	if err != nil {
		return fmt.Errorf("eventfd: %w", err)
	}
	defer unix.Close(ev)
	if err := unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, ev, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(ev)}); err != nil {
		return fmt.Errorf("epoll_ctl: %w", err)
	}
	slot := kcmpEpollSlot{efd: uint32(ep), tfd: uint32(ev)}
	pid := uintptr(os.Getpid())
	r, _, errno := unix.Syscall6(unix.SYS_KCMP, pid, pid, kcmpEpollTfd, uintptr(ev), uintptr(unsafe.Pointer(&slot)), 0)
	if errno != 0 {
		return fmt.Errorf("kcmp KCMP_EPOLL_TFD: %w: %w", errno, ErrNotSupported)
	}
	if r != 0 {
		return fmt.Errorf("kcmp KCMP_EPOLL_TFD: the target differs from itself: %w", ErrNotSupported)
	}
	return nil
}
