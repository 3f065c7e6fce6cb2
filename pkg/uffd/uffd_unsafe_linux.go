package uffd

import (
	"errors"
	"fmt"
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

	registerModeWP     = 1 << 1
	writeprotectModeWP = 1 << 0
)

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

// iowr is _IOWR(0xAA, nr, size).
func iowr(nr, size uintptr) uintptr { return 3<<30 | size<<16 | api<<8 | nr }

var (
	ioctlAPI          = iowr(0x3f, unsafe.Sizeof(apiArg{}))
	ioctlRegister     = iowr(0x00, unsafe.Sizeof(registerArg{}))
	ioctlWriteprotect = iowr(0x06, unsafe.Sizeof(writeprotectArg{}))
)

// ErrFeature says the kernel lacks a userfaultfd feature asked for.
var ErrFeature = errors.New("userfaultfd feature not supported")

func ioctl(fd int, req uintptr, arg unsafe.Pointer) error {
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), req, uintptr(arg))
	if errno != 0 {
		return errno
	}
	return nil
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
