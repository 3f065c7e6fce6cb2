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

// Span is a range [Start, End) of addresses.
type Span struct{ Start, End uint64 }

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
