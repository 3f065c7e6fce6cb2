package proc

import (
	"errors"
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// pmScanArg is struct pm_scan_arg of <linux/fs.h> (kernel 6.7+).
type pmScanArg struct {
	size, flags, start, end, walkEnd, vec, vecLen, maxPages uint64
	categoryInverted, categoryMask, categoryAnyofMask       uint64
	returnMask                                              uint64
}

// pageRegion is struct page_region: [start, end) with its categories.
type pageRegion struct{ start, end, categories uint64 }

const (
	// pagemapScan is PAGEMAP_SCAN, _IOWR('f', 16, struct pm_scan_arg).
	pagemapScan = 3<<30 | uint64(unsafe.Sizeof(pmScanArg{}))<<16 | 'f'<<8 | 16
	// pageIsGuard is PAGE_IS_GUARD (kernel 6.15+).
	pageIsGuard = 1 << 8
	scanVecLen  = 512
)

// GuardRegions lists the guard regions (madvise MADV_GUARD_INSTALL) in
// [0, end) with one PAGEMAP_SCAN walk. ok is false, with no error, when
// the kernel's PAGEMAP_SCAN does not know guard regions (or PAGEMAP_SCAN
// itself is missing): a kernel that old cannot have installed any.
func (pm *Pagemap) GuardRegions(end uint64) (regions []Span, ok bool, err error) {
	vec := make([]pageRegion, scanVecLen)
	for start := uint64(0); start < end; {
		arg := pmScanArg{
			start:        start,
			end:          end,
			vec:          uint64(uintptr(unsafe.Pointer(&vec[0]))),
			vecLen:       scanVecLen,
			categoryMask: pageIsGuard,
			returnMask:   pageIsGuard,
		}
		arg.size = uint64(unsafe.Sizeof(arg))
		n, _, errno := unix.Syscall(unix.SYS_IOCTL, pm.f.Fd(), uintptr(pagemapScan), uintptr(unsafe.Pointer(&arg)))
		if errno != 0 {
			if errors.Is(errno, unix.EINVAL) || errors.Is(errno, unix.ENOTTY) {
				return nil, false, nil
			}
			return nil, false, fmt.Errorf("scan %s for guard regions: %w", pm.f.Name(), errno)
		}
		for _, r := range vec[:n] {
			if k := len(regions); k > 0 && regions[k-1].End == r.start {
				regions[k-1].End = r.end
			} else {
				regions = append(regions, Span{r.start, r.end})
			}
		}
		if arg.walkEnd <= start {
			return nil, false, fmt.Errorf("scan %s for guard regions: the walk stopped at %#x of [%#x, %#x)", pm.f.Name(), arg.walkEnd, start, end)
		}
		start = arg.walkEnd
	}
	return regions, true, nil
}

// PAGEMAP_SCAN categories and flags for write tracking (<linux/fs.h>).
const (
	pageIsWPAllowed = 1 << 0
	pageIsWritten   = 1 << 1
)

// WPRegion is a range of pages of a mapping registered with an
// asynchronous write-protecting userfaultfd (UFFD_FEATURE_WP_ASYNC with
// WP_UNPOPULATED): Written says whether its pages were written, or
// populated afresh, since they were last write-protected.
type WPRegion struct {
	Span
	Written bool
}

// WriteTracked lists, in address order, the parts of [start, end) whose
// mappings have write tracking (PAGE_IS_WPALLOWED), each split by
// PAGE_IS_WRITTEN. A part of the range missing from the list has none:
// no such registration, or a mapping created, or moved, since. It only
// reads: nothing is write-protected again.
func (pm *Pagemap) WriteTracked(start, end uint64) ([]WPRegion, error) {
	vec := make([]pageRegion, scanVecLen)
	var out []WPRegion
	for start < end {
		arg := pmScanArg{
			start:        start,
			end:          end,
			vec:          uint64(uintptr(unsafe.Pointer(&vec[0]))),
			vecLen:       scanVecLen,
			categoryMask: pageIsWPAllowed,
			returnMask:   pageIsWPAllowed | pageIsWritten,
		}
		arg.size = uint64(unsafe.Sizeof(arg))
		n, _, errno := unix.Syscall(unix.SYS_IOCTL, pm.f.Fd(), uintptr(pagemapScan), uintptr(unsafe.Pointer(&arg)))
		if errno != 0 {
			return nil, fmt.Errorf("scan %s for written pages: %w", pm.f.Name(), errno)
		}
		for _, r := range vec[:n] {
			w := r.categories&pageIsWritten != 0
			if k := len(out); k > 0 && out[k-1].End == r.start && out[k-1].Written == w {
				out[k-1].End = r.end
			} else {
				out = append(out, WPRegion{Span{r.start, r.end}, w})
			}
		}
		if arg.walkEnd <= start {
			return nil, fmt.Errorf("scan %s for written pages: the walk stopped at %#x of [%#x, %#x)", pm.f.Name(), arg.walkEnd, start, end)
		}
		start = arg.walkEnd
	}
	return out, nil
}
