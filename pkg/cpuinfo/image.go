package cpuinfo

import (
	"fmt"

	"github.com/criugo/criugo/images"
	"github.com/criugo/criugo/pkg/image"
)

// FileName is the image file of the CPU description.
const FileName = "cpuinfo.img"

// Image wraps an x86 entry into the cpuinfo.img CRIU writes: one
// cpuinfo_entry holding it.
func Image(e *images.CpuinfoX86Entry) *image.Image {
	return &image.Image{Kind: image.CPUInfo, Entries: []image.Entry{
		{Msg: &images.CpuinfoEntry{X86Entry: []*images.CpuinfoX86Entry{e}}},
	}}
}

// FromImage returns the x86 entry of a decoded cpuinfo.img, which must
// hold one cpuinfo_entry with one x86 entry.
func FromImage(img *image.Image) (*images.CpuinfoX86Entry, error) {
	if img.Kind != image.CPUInfo {
		return nil, fmt.Errorf("a %s image, not CPUINFO: %w", img.Kind.Name, ErrBadImage)
	}
	if len(img.Entries) != 1 {
		return nil, fmt.Errorf("%d entries, want 1: %w", len(img.Entries), ErrBadImage)
	}
	ci, ok := img.Entries[0].Msg.(*images.CpuinfoEntry)
	if !ok {
		return nil, fmt.Errorf("entry is %T: %w", img.Entries[0].Msg, ErrBadImage)
	}
	if n := len(ci.GetX86Entry()); n != 1 {
		return nil, fmt.Errorf("%d x86 entries, want 1: %w", n, ErrBadImage)
	}
	return ci.GetX86Entry()[0], nil
}

// ReadDir reads the x86 entry of dir's cpuinfo.img.
func ReadDir(dir string) (*images.CpuinfoX86Entry, error) {
	img, err := image.ReadFile(dir, FileName)
	if err != nil {
		return nil, err
	}
	e, err := FromImage(img)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", FileName, err)
	}
	return e, nil
}

// WriteDir writes e as dir's cpuinfo.img, a new file (O_EXCL, mode 0600).
func WriteDir(dir string, e *images.CpuinfoX86Entry) error {
	return image.WriteFile(dir, FileName, Image(e))
}
