//go:build linux

package restore

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// bindRaw and connectRaw take a struct sockaddr as its bytes: unix names
// go to the kernel byte for byte (unix.SockaddrUnix turns a leading '@'
// into an abstract name and refuses a 108-byte one), and AF_UNSPEC, which
// unix.Sockaddr cannot express, disconnects a datagram socket.

func bindRaw(fd int, sa []byte) error {
	_, _, e := unix.Syscall(unix.SYS_BIND, uintptr(fd), uintptr(unsafe.Pointer(&sa[0])), uintptr(len(sa)))
	if e != 0 {
		return e
	}
	return nil
}

func connectRaw(fd int, sa []byte) error {
	_, _, e := unix.Syscall(unix.SYS_CONNECT, uintptr(fd), uintptr(unsafe.Pointer(&sa[0])), uintptr(len(sa)))
	if e != 0 {
		return e
	}
	return nil
}
