package uffd

import (
	"errors"
	"fmt"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Features of UFFDIO_API (<linux/userfaultfd.h>).
const (
	// FeatureWPUnpopulated write-protects pages that are not populated
	// yet (with pte markers), so that a first write to them counts too.
	FeatureWPUnpopulated = 1 << 13
	// FeatureWPAsync makes the kernel resolve write-protect faults
	// itself: the writer never blocks, and the page is left unprotected,
	// which PAGEMAP_SCAN reports as PAGE_IS_WRITTEN.
	FeatureWPAsync = 1 << 15
)

const (
	api = 0xaa

	registerModeMissing = 1 << 0
	registerModeWP      = 1 << 1
	writeprotectModeWP  = 1 << 0
)

// IoctlCopy is the bit of UFFDIO_COPY (_UFFDIO_COPY) in the ioctls a
// registered range supports.
const IoctlCopy = 1 << 3

// CopyModeDontWake is UFFDIO_COPY_MODE_DONTWAKE: nobody waits on a fault
// in the copied pages, so none is woken.
const CopyModeDontWake = 1 << 0

type apiArg struct{ api, features, ioctls uint64 }
type uRange struct{ start, len uint64 }
type registerArg struct {
	r      uRange
	mode   uint64
	ioctls uint64
}
type writeprotectArg struct {
	r    uRange
	mode uint64
}
type copyArg struct {
	dst, src, len, mode uint64
	copied              int64 // bytes copied, or -errno
}

// iowr is _IOWR(0xAA, nr, size), ior _IOR(0xAA, nr, size).
func iowr(nr, size uintptr) uintptr { return 3<<30 | size<<16 | api<<8 | nr }
func ior(nr, size uintptr) uintptr  { return 2<<30 | size<<16 | api<<8 | nr }

var (
	ioctlAPI          = iowr(0x3f, unsafe.Sizeof(apiArg{}))
	ioctlRegister     = iowr(0x00, unsafe.Sizeof(registerArg{}))
	ioctlUnregister   = ior(0x01, unsafe.Sizeof(uRange{}))
	ioctlCopy         = iowr(0x03, unsafe.Sizeof(copyArg{}))
	ioctlWriteprotect = iowr(0x06, unsafe.Sizeof(writeprotectArg{}))
)

// ErrFeature says the kernel lacks a userfaultfd feature asked for.
var ErrFeature = errors.New("userfaultfd feature not supported")

// ioctl issues one userfaultfd ioctl, again when a signal interrupts it.
// (Not for UFFDIO_COPY, which may have copied part when interrupted.)
func ioctl(fd int, req uintptr, arg unsafe.Pointer) error {
	for {
		_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), req, uintptr(arg))
		switch errno {
		case 0:
			return nil
		case unix.EINTR:
			continue
		}
		return errno
	}
}

// Handshake does the UFFDIO_API handshake on a new userfaultfd, asking for
// features; it fails with ErrFeature when the kernel offers less.
func Handshake(fd int, features uint64) error {
	a := apiArg{api: api, features: features}
	if err := ioctl(fd, ioctlAPI, unsafe.Pointer(&a)); err != nil {
		if errors.Is(err, unix.EINVAL) {
			return fmt.Errorf("userfaultfd api with features %#x: %w: %w", features, ErrFeature, err)
		}
		return fmt.Errorf("userfaultfd api: %w", err)
	}
	if a.features&features != features {
		return fmt.Errorf("userfaultfd api: %w: asked %#x, got %#x", ErrFeature, features, a.features)
	}
	return nil
}

// RegisterWP registers [start, start+n) for write-protect tracking. The
// range must cover whole mappings of the mm.
func RegisterWP(fd int, start, n uint64) error {
	a := registerArg{r: uRange{start, n}, mode: registerModeWP}
	if err := ioctl(fd, ioctlRegister, unsafe.Pointer(&a)); err != nil {
		return fmt.Errorf("register %#x-%#x for write protection: %w", start, start+n, err)
	}
	return nil
}

// WriteProtect write-protects [start, start+n), a registered range.
func WriteProtect(fd int, start, n uint64) error {
	a := writeprotectArg{r: uRange{start, n}, mode: writeprotectModeWP}
	if err := ioctl(fd, ioctlWriteprotect, unsafe.Pointer(&a)); err != nil {
		return fmt.Errorf("write-protect %#x-%#x: %w", start, start+n, err)
	}
	return nil
}

// RegisterMissing registers [start, start+n) for missing-page handling
// and returns the ioctls the range supports (IoctlCopy, ...).
func RegisterMissing(fd int, start, n uint64) (uint64, error) {
	a := registerArg{r: uRange{start, n}, mode: registerModeMissing}
	if err := ioctl(fd, ioctlRegister, unsafe.Pointer(&a)); err != nil {
		return 0, fmt.Errorf("register %#x-%#x for missing pages: %w", start, start+n, err)
	}
	return a.ioctls, nil
}

// Unregister ends the handling of [start, start+n).
func Unregister(fd int, start, n uint64) error {
	a := uRange{start, n}
	if err := ioctl(fd, ioctlUnregister, unsafe.Pointer(&a)); err != nil {
		return fmt.Errorf("unregister %#x-%#x: %w", start, start+n, err)
	}
	return nil
}

// Copy is one UFFDIO_COPY of src to dst, which must be registered and not
// yet populated, in the userfaultfd's mm. It returns how many bytes were
// copied. Fewer than len(src) with a nil error (interrupted by a signal)
// or an error matching EAGAIN (the mm changed under the copy) means: copy
// the rest again.
func Copy(fd int, dst uint64, src []byte, mode uint64) (int, error) {
	if len(src) == 0 {
		return 0, nil
	}
	for {
		a := copyArg{dst: dst, src: uint64(uintptr(unsafe.Pointer(&src[0]))), len: uint64(len(src)), mode: mode}
		_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), ioctlCopy, uintptr(unsafe.Pointer(&a)))
		runtime.KeepAlive(src) // a.src holds its address as a plain integer
		n := 0
		if a.copied > 0 {
			n = int(a.copied)
		}
		switch {
		case errno == 0:
			return n, nil
		case errno == unix.EINTR && n == 0:
			continue
		case errno == unix.EINTR:
			return n, nil
		}
		return n, fmt.Errorf("copy %d bytes to %#x: %w", len(src), dst, errno)
	}
}
