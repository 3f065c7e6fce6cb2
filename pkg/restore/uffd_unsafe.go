//go:build linux

package restore

import (
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// userfaultfd ioctls (linux/userfaultfd.h): _IOWR/_IOR(0xAA, nr, struct).
const (
	uffdAPI            = 0xAA
	uffdioAPI          = 0xc018aa3f // _IOWR(0xAA, 0x3F, struct uffdio_api), 24 bytes
	uffdioRegister     = 0xc020aa00 // _IOWR(0xAA, 0x00, struct uffdio_register), 32 bytes
	uffdioUnregister   = 0x8010aa01 // _IOR(0xAA, 0x01, struct uffdio_range), 16 bytes
	uffdioCopy         = 0xc028aa03 // _IOWR(0xAA, 0x03, struct uffdio_copy), 40 bytes
	uffdRegModeMissing = 1          // UFFDIO_REGISTER_MODE_MISSING
	uffdCopyDontwake   = 1          // UFFDIO_COPY_MODE_DONTWAKE: nobody waits for these pages
	uffdIoctlCopy      = 1 << 3     // bit _UFFDIO_COPY of uffdio_register.ioctls
)

// uffdioAPIArg is struct uffdio_api.
type uffdioAPIArg struct {
	API      uint64
	Features uint64
	Ioctls   uint64
}

// uffdioRange is struct uffdio_range.
type uffdioRange struct {
	Start uint64
	Len   uint64
}

// uffdioRegisterArg is struct uffdio_register.
type uffdioRegisterArg struct {
	Range  uffdioRange
	Mode   uint64
	Ioctls uint64
}

// uffdioCopyArg is struct uffdio_copy.
type uffdioCopyArg struct {
	Dst  uint64
	Src  uint64
	Len  uint64
	Mode uint64
	Copy int64
}

func uffdIoctl(fd int, req uintptr, arg unsafe.Pointer) error {
	for {
		_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), req, uintptr(arg))
		if e == unix.EINTR {
			continue
		}
		if e != 0 {
			return e
		}
		return nil
	}
}

// uffdHandshake is UFFDIO_API with no optional features.
func uffdHandshake(fd int) error {
	a := uffdioAPIArg{API: uffdAPI}
	return uffdIoctl(fd, uffdioAPI, unsafe.Pointer(&a))
}

// uffdRegister registers [start, start+n) for missing-page handling and
// returns the ioctls the range supports.
func uffdRegister(fd int, start, n uint64) (uint64, error) {
	a := uffdioRegisterArg{Range: uffdioRange{Start: start, Len: n}, Mode: uffdRegModeMissing}
	err := uffdIoctl(fd, uffdioRegister, unsafe.Pointer(&a))
	return a.Ioctls, err
}

func uffdUnregister(fd int, start, n uint64) error {
	a := uffdioRange{Start: start, Len: n}
	return uffdIoctl(fd, uffdioUnregister, unsafe.Pointer(&a))
}

// uffdCopy is one UFFDIO_COPY of src to dst in the uffd's mm. It returns
// how many bytes were copied, which may be fewer than len(src) with
// EAGAIN (the mm changed under the copy) or another error.
func uffdCopy(fd int, dst uint64, src []byte) (int, error) {
	a := uffdioCopyArg{Dst: dst, Src: uint64(uintptr(unsafe.Pointer(&src[0]))), Len: uint64(len(src)), Mode: uffdCopyDontwake}
	_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), uffdioCopy, uintptr(unsafe.Pointer(&a)))
	runtime.KeepAlive(src) // a.Src holds its address as a plain integer
	n := 0
	if a.Copy > 0 {
		n = int(a.Copy)
	}
	if e != 0 {
		return n, e
	}
	return n, nil
}
