//go:build linux

package soccr

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// tcpRepairWindow is struct tcp_repair_window from linux/tcp.h.
type tcpRepairWindow struct {
	SndWl1    uint32
	SndWnd    uint32
	MaxWindow uint32
	RcvWnd    uint32
	RcvWup    uint32
}

// getsockoptBytes reads a socket option of up to len(buf) bytes and returns
// how many the kernel wrote.
func getsockoptBytes(fd, level, opt int, buf []byte) (int, error) {
	n := uint32(len(buf))
	_, _, e := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(fd), uintptr(level), uintptr(opt),
		uintptr(unsafe.Pointer(&buf[0])), uintptr(unsafe.Pointer(&n)), 0)
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}

func getRepairWindow(fd int) (tcpRepairWindow, error) {
	var w tcpRepairWindow
	n := uint32(unsafe.Sizeof(w))
	_, _, e := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(fd), unix.SOL_TCP, unix.TCP_REPAIR_WINDOW,
		uintptr(unsafe.Pointer(&w)), uintptr(unsafe.Pointer(&n)), 0)
	if e != 0 {
		return w, e
	}
	return w, nil
}

func setRepairWindow(fd int, w tcpRepairWindow) error {
	_, _, e := unix.Syscall6(unix.SYS_SETSOCKOPT, uintptr(fd), unix.SOL_TCP, unix.TCP_REPAIR_WINDOW,
		uintptr(unsafe.Pointer(&w)), unsafe.Sizeof(w), 0)
	if e != 0 {
		return e
	}
	return nil
}
