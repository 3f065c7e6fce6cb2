package dump

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// kcmpEpollTfd is the kcmp(2) type comparing a file with a target of an
// epoll instance.
const kcmpEpollTfd = 7

// sameEpollTarget tells whether fd of pid1 is the file registered as the
// toff-th target with fd number tfd in the epoll instance efd of pid2
// (kcmp KCMP_EPOLL_TFD). A pid1 without fd gives EBADF.
func sameEpollTarget(pid1, fd, pid2, efd, tfd int, toff uint32) (bool, error) {
	slot := struct{ efd, tfd, toff uint32 }{uint32(efd), uint32(tfd), toff}
	r, _, errno := unix.Syscall6(unix.SYS_KCMP, uintptr(pid1), uintptr(pid2), kcmpEpollTfd, uintptr(fd),
		uintptr(unsafe.Pointer(&slot)), 0)
	if errno != 0 {
		return false, errno
	}
	return r == 0, nil
}

// getsockoptRaw reads a socket option into b, telling the kernel optlen
// (the size of b for most options; SO_GET_FILTER counts instructions), and
// returns the optlen the kernel gives back.
func getsockoptRaw(fd, level, opt int, b []byte, optlen uint32) (uint32, error) {
	var p unsafe.Pointer
	if len(b) > 0 {
		p = unsafe.Pointer(&b[0])
	}
	_, _, errno := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(fd), uintptr(level), uintptr(opt), uintptr(p),
		uintptr(unsafe.Pointer(&optlen)), 0)
	if errno != 0 {
		return 0, errno
	}
	return optlen, nil
}
