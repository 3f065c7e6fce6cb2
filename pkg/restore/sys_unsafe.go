//go:build linux

package restore

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// fOwnerEx is struct f_owner_ex.
type fOwnerEx struct {
	Type int32
	Pid  int32
}

// setOwnerEx is fcntl(fd, F_SETOWN_EX, &{typ, pid}).
func setOwnerEx(fd uintptr, typ, pid int32) error {
	o := fOwnerEx{Type: typ, Pid: pid}
	_, _, e := unix.Syscall(unix.SYS_FCNTL, fd, unix.F_SETOWN_EX, uintptr(unsafe.Pointer(&o)))
	if e != 0 {
		return e
	}
	return nil
}
