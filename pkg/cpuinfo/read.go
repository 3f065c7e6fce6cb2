package cpuinfo

import (
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/criugo/criugo/images"
	"github.com/criugo/criugo/internal/errdefs"
)

// ErrNotSupported is returned by Read for a CPU CRIU does not describe: a
// vendor other than Intel, AMD and Hygon, no FPU, an FPU without FXSAVE,
// or xsave state without x87 and SSE.
var ErrNotSupported = errdefs.ErrNotSupported

// CPUID answers one CPUID query: leaf in EAX, subleaf in ECX.
type CPUID func(leaf, sub uint32) (eax, ebx, ecx, edx uint32)

// xsaveComponentFeature lists the xsave components compel knows and the
// feature each needs (the
// kernel's xsave_cpuid_features): a component whose feature bit is off is
// left out of xfeatures_mask.
var xsaveComponentFeature = [...]Feature{
	0: featFPU, 1: featXMM, 2: featAVX, 3: featMPX, 4: featMPX,
	5: featAVX512F, 6: featAVX512F, 7: featAVX512F, 8: featIntelPT, 9: featPKU, 10: featHDC,
}

const (
	// xfeatureMaskUser is compel's XFEATURE_MASK_USER: x87, SSE, AVX,
	// MPX, AVX-512 and PKRU.
	xfeatureMaskUser = 0x2ff
	// xfeatureMaskSupervisor is compel's XFEATURE_MASK_SUPERVISOR as it
	// evaluates: the PT bit (0x100) ORed with XFEATURE_HDC, the number
	// 10, not its bit (see the package doc).
	xfeatureMaskSupervisor = 0x100 | 10
)

// caps is a set of capability words.
type caps [NumWords]uint32

func (c *caps) has(f Feature) bool { return c[f/32]&(1<<(f%32)) != 0 }
func (c *caps) set(f Feature)      { c[f/32] |= 1 << (f % 32) }
func (c *caps) clear(f Feature)    { c[f/32] &^= 1 << (f % 32) }

// Read describes the CPU that q queries as CRIU 4.2's compel_cpuid does
// (see the package doc for what goes where).
func Read(q CPUID) (*images.CpuinfoX86Entry, error) {
	var c caps
	// CRIU keeps the highest basic leaf in an int and compares it signed.
	maxLeaf, v0, v2, v1 := q(0, 0)
	level := int32(maxLeaf)
	var vb [12]byte // EBX, EDX, ECX
	binary.LittleEndian.PutUint32(vb[0:], v0)
	binary.LittleEndian.PutUint32(vb[4:], v1)
	binary.LittleEndian.PutUint32(vb[8:], v2)
	vendorID := string(vb[:])
	var vendor images.CpuinfoX86EntryVendor
	switch vendorID {
	case "GenuineIntel":
		vendor = images.CpuinfoX86Entry_INTEL
	case "AuthenticAMD", "HygonGenuine":
		vendor = images.CpuinfoX86Entry_AMD
	default:
		return nil, fmt.Errorf("cpu vendor %q: %w", strings.TrimRight(vendorID, "\x00"), ErrNotSupported)
	}

	// compel keeps family, model and stepping in bytes.
	family, model, stepping := uint8(4), uint8(0), uint8(0)
	if level >= 1 {
		eax, _, ecx, edx := q(1, 0)
		family = uint8(eax >> 8 & 0xf)
		model = uint8(eax >> 4 & 0xf)
		stepping = uint8(eax & 0xf)
		if family == 0xf {
			family += uint8(eax >> 20 & 0xff)
		}
		if family >= 6 {
			model += uint8(eax>>16&0xf) << 4
		}
		c[word1EDX], c[word1ECX] = edx, ecx
	}
	if level >= 6 {
		c[word6EAX], _, _, _ = q(6, 0)
	}
	if level >= 7 {
		_, c[word7EBX], c[word7ECX], c[word7EDX] = q(7, 0)
	}
	if level >= 0xd {
		c[wordD1EAX], _, _, _ = q(0xd, 1)
	}
	if level >= 0xf {
		_, _, _, c[wordF0EDX] = q(0xf, 0)
		if c.has(featCQMLLC) {
			_, _, _, c[wordF1EDX] = q(0xf, 1)
		}
	}

	// Only leaf 0x80000001 is guarded by the check that the extended
	// leaves exist; compel reads the later ones on the level alone.
	ext, _, _, _ := q(0x80000000, 0)
	if ext&0xffff0000 == 0x80000000 && ext >= 0x80000001 {
		_, _, c[word80000001ECX], c[word80000001EDX] = q(0x80000001, 0)
	}
	var modelID string
	if ext >= 0x80000004 {
		var brand [48]byte
		for i := uint32(0); i < 3; i++ {
			r0, r1, r2, r3 := q(0x80000002+i, 0)
			for j, r := range [4]uint32{r0, r1, r2, r3} {
				binary.LittleEndian.PutUint32(brand[16*i+4*uint32(j):], r)
			}
		}
		s := string(brand[:])
		if n := strings.IndexByte(s, 0); n >= 0 {
			s = s[:n]
		}
		// Intel right-justifies the brand string.
		modelID = strings.TrimLeft(s, " ")
	}
	if ext >= 0x80000007 {
		_, c[word80000007EBX], _, _ = q(0x80000007, 0)
	}
	if ext >= 0x8000000a {
		_, _, _, c[word8000000AEDX] = q(0x8000000a, 0)
	}
	if ext >= 0x80000008 {
		_, c[word80000008EBX], _, _ = q(0x80000008, 0)
	}

	// Every x86_64 CPU has CPUID and NOPL.
	c.set(featCPUID)
	c.set(featNOPL)
	if level < 0xd {
		c.clear(featXSAVE)
	}
	switch vendor {
	case images.CpuinfoX86Entry_INTEL:
		switch family {
		case 15:
			c.clear(featRepGood)
			c.clear(featERMS)
		case 6:
			c.set(featRepGood)
		}
	case images.CpuinfoX86Entry_AMD:
		// Bit 31 of leaf 1 EDX is an old alias of 3DNow on AMD.
		c.clear(featPBE)
		if family >= 0x10 {
			c.set(featRepGood)
		}
		if family == 0xf {
			// K8 from stepping C on.
			if sig, _, _, _ := q(1, 0); sig >= 0x0f48 && sig < 0x0f50 || sig >= 0x0f58 {
				c.set(featRepGood)
			}
		}
	}
	// CRIU's cpu_init refuses an FPU that cannot FXSAVE.
	if !c.has(featFPU) {
		return nil, fmt.Errorf("no fpu: %w", ErrNotSupported)
	}
	if !c.has(featFXSR) {
		return nil, fmt.Errorf("fpu without fxsave: %w", ErrNotSupported)
	}

	e := &images.CpuinfoX86Entry{
		VendorId:      vendor.Enum(),
		CpuFamily:     ptr(uint32(family)),
		Model:         ptr(uint32(model)),
		Stepping:      ptr(uint32(stepping)),
		CapabilityVer: ptr(uint32(CapabilityVer)),
		Capability:    append([]uint32(nil), c[:]...),
	}
	if modelID != "" {
		e.ModelId = ptr(modelID)
	}
	var mask uint64
	var size, sizeMax uint32
	if c.has(featXSAVE) {
		eax, ebx, ecx, edx := q(0xd, 0)
		mask = uint64(edx)<<32 | uint64(eax)
		if mask&0x3 != 0x3 {
			return nil, fmt.Errorf("xsave state without x87 and sse (cpuid 0xd: %#x): %w", mask, ErrNotSupported)
		}
		for i, f := range xsaveComponentFeature {
			if !c.has(f) {
				mask &^= 1 << i
			}
		}
		mask &= xfeatureMaskUser
		mask &^= xfeatureMaskSupervisor
		size, sizeMax = ebx, ecx
	}
	e.XfeaturesMask, e.XsaveSize, e.XsaveSizeMax = ptr(mask), ptr(size), ptr(sizeMax)
	return e, nil
}

func ptr[T any](v T) *T { return &v }
