//go:build linux

package ptrace

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// ptrace issues one raw request. x/sys/unix lacks several of the requests
// this package needs on amd64, and its wrappers differ in how they return
// results, so every request goes through here.
//
//go:uintptrescapes
func ptrace(req, tid int, addr, data uintptr) (uintptr, error) {
	r, _, errno := unix.Syscall6(unix.SYS_PTRACE, uintptr(req), uintptr(tid), addr, data, 0, 0)
	if errno != 0 {
		return 0, errno
	}
	return r, nil
}

// getRegset reads one regset into buf and returns how many bytes the
// kernel filled.
func getRegset(tid int, note uintptr, buf []byte) (int, error) {
	iov := unix.Iovec{Base: &buf[0]}
	iov.SetLen(len(buf))
	_, err := ptrace(unix.PTRACE_GETREGSET, tid, note, uintptr(unsafe.Pointer(&iov)))
	return int(iov.Len), err
}

func setRegset(tid int, note uintptr, buf []byte) error {
	iov := unix.Iovec{Base: &buf[0]}
	iov.SetLen(len(buf))
	_, err := ptrace(unix.PTRACE_SETREGSET, tid, note, uintptr(unsafe.Pointer(&iov)))
	return err
}

// regsBytes views r as the bytes the kernel reads and writes.
func regsBytes(r *Regs) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(r)), unsafe.Sizeof(*r))
}

// ptracePtr issues a request whose data argument points at v's bytes.
func ptracePtr[T any](req, tid int, addr uintptr, v *T) (uintptr, error) {
	return ptrace(req, tid, addr, uintptr(unsafe.Pointer(v)))
}

// ptraceSlice issues a request whose data argument points at s's first
// element (or is NULL when s is empty).
func ptraceSlice[T any](req, tid int, addr uintptr, s []T) (uintptr, error) {
	var p uintptr
	if len(s) > 0 {
		p = uintptr(unsafe.Pointer(&s[0]))
	}
	return ptrace(req, tid, addr, p)
}

// peekSiginfo issues one PTRACE_PEEKSIGINFO into buf.
func peekSiginfo(tid int, args *peeksiginfoArgs, buf []Siginfo) (uintptr, error) {
	return ptrace(unix.PTRACE_PEEKSIGINFO, tid, uintptr(unsafe.Pointer(args)), uintptr(unsafe.Pointer(&buf[0])))
}
