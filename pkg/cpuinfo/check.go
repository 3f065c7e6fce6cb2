package cpuinfo

import (
	"errors"
	"fmt"
	"strings"

	"github.com/criugo/criugo/images"
)

// ErrBadImage is returned for a cpuinfo entry no check can use: an
// unknown vendor or capability_ver, or a word count that does not match
// its capability_ver.
var ErrBadImage = errors.New("bad cpuinfo image")

// Mismatch is a failed check: what the image needs that the host lacks.
// It wraps ErrCPUFeature.
type Mismatch struct {
	// Checks are the checks that were made.
	Checks Caps
	// Missing are capability bits the image has and the host lacks,
	// among those the checks compare.
	Missing []Feature
	// Extra are bits the host has and the image lacks: only cpu, which
	// wants the words equal, counts them.
	Extra []Feature
	// Xfeatures are xsave components (a bit each, as in XCR0) the image
	// has and the host lacks.
	Xfeatures uint64
	// HostXfeatures is the host's xfeatures_mask, when Xfeatures is set.
	HostXfeatures uint64
	// XsaveSize and XsaveSizeMax are the image's and the host's sizes of
	// the xsave area (for the enabled and for all components), when they
	// differ.
	XsaveSize, XsaveSizeMax [2]uint32
}

func (m *Mismatch) Error() string {
	var parts []string
	if len(m.Missing) > 0 {
		parts = append(parts, "needs "+joinFeatures(m.Missing)+", which this CPU lacks")
	}
	if m.Xfeatures != 0 {
		parts = append(parts, fmt.Sprintf("needs xsave features %s (%#x), which this CPU (%#x) lacks",
			xfeatureNames(m.Xfeatures), m.Xfeatures, m.HostXfeatures))
	}
	if s := m.XsaveSize; s != [2]uint32{} {
		parts = append(parts, fmt.Sprintf("xsave area of %d bytes, this CPU's is %d", s[0], s[1]))
	}
	if s := m.XsaveSizeMax; s != [2]uint32{} {
		parts = append(parts, fmt.Sprintf("largest xsave area of %d bytes, this CPU's is %d", s[0], s[1]))
	}
	if len(m.Extra) > 0 {
		parts = append(parts, "this CPU has "+joinFeatures(m.Extra)+", which the image lacks")
	}
	return fmt.Sprintf("%s (checked %s): %v", strings.Join(parts, "; "), m.Checks, ErrCPUFeature)
}

func (m *Mismatch) Unwrap() error { return ErrCPUFeature }

func joinFeatures(fs []Feature) string {
	s := make([]string, len(fs))
	for i, f := range fs {
		s[i] = f.String()
	}
	return strings.Join(s, ", ")
}

// described is an entry completed for a check, CRIU's img_to_cpuinfo.
type described struct {
	caps          caps
	mask          uint64
	size, sizeMax uint32
}

// describe completes e: a version 1 entry gets host's words 12-18, and
// absent xsave fields are host's. host is nil when e is the host.
func describe(e *images.CpuinfoX86Entry, host *described) (*described, error) {
	switch e.GetVendorId() {
	case images.CpuinfoX86Entry_INTEL, images.CpuinfoX86Entry_AMD:
	default:
		return nil, fmt.Errorf("unknown cpu vendor %d: %w", e.GetVendorId(), ErrBadImage)
	}
	var want int
	switch e.GetCapabilityVer() {
	case 1:
		want = wordsV1
	case 2:
		want = wordsV2
	default:
		return nil, fmt.Errorf("unknown capability_ver %d: %w", e.GetCapabilityVer(), ErrBadImage)
	}
	if n := len(e.GetCapability()); n != want {
		return nil, fmt.Errorf("%d capability words, capability_ver %d has %d: %w", n, e.GetCapabilityVer(), want, ErrBadImage)
	}
	if host == nil && (want != NumWords || e.XfeaturesMask == nil || e.XsaveSize == nil || e.XsaveSizeMax == nil) {
		return nil, fmt.Errorf("host description without all it holds: %w", ErrBadImage)
	}
	d := &described{}
	if host != nil {
		*d = *host
	}
	copy(d.caps[:], e.GetCapability())
	if e.XfeaturesMask != nil {
		d.mask = e.GetXfeaturesMask()
	}
	if e.XsaveSize != nil {
		d.size = e.GetXsaveSize()
	}
	if e.XsaveSizeMax != nil {
		d.sizeMax = e.GetXsaveSizeMax()
	}
	return d, nil
}

// Check compares an image's CPU with the host's (as Read gives it) with
// the checks of c, and returns a *Mismatch naming everything the image
// needs that the host lacks. No checks at all (CapNone) checks nothing,
// not even that the image is well formed, as a CRIU restore does.
func Check(img, host *images.CpuinfoX86Entry, c Caps) error {
	if c&CapAll == 0 {
		return nil
	}
	h, err := describe(host, nil)
	if err != nil {
		return err
	}
	d, err := describe(img, h)
	if err != nil {
		return err
	}
	m := &Mismatch{Checks: c & CapAll}
	var need caps
	if c&CapFPU != 0 {
		for _, f := range fpuFeatures {
			need.set(f)
		}
		if x := d.mask &^ h.mask; x != 0 {
			m.Xfeatures, m.HostXfeatures = x, h.mask
		}
		if d.size != h.size {
			m.XsaveSize = [2]uint32{d.size, h.size}
		}
		if d.sizeMax != h.sizeMax {
			m.XsaveSizeMax = [2]uint32{d.sizeMax, h.sizeMax}
		}
	}
	if c&CapINS != 0 {
		for w := range need {
			need[w] |= insMask[w]
		}
	}
	if c&CapCPU != 0 {
		for w := range need {
			need[w] = ^uint32(0)
		}
	}
	for w := range need {
		for b := 0; b < 32; b++ {
			f := feat(w, b)
			switch {
			case need.has(f) && d.caps.has(f) && !h.caps.has(f):
				m.Missing = append(m.Missing, f)
			case c&CapCPU != 0 && h.caps.has(f) && !d.caps.has(f):
				m.Extra = append(m.Extra, f)
			}
		}
	}
	if m.Missing == nil && m.Extra == nil && m.Xfeatures == 0 && m.XsaveSize == [2]uint32{} && m.XsaveSizeMax == [2]uint32{} {
		return nil
	}
	return m
}
