// Package cpuinfo describes the CPU in CRIU's cpuinfo.img (magic CPUINFO,
// one cpuinfo_entry holding one cpuinfo_x86_entry) and checks such a
// description against the CPU it runs on, as CRIU 4.2's `criu cpuinfo
// dump` and `criu cpuinfo check` do, and as its restore does with
// --cpu-cap.
//
// # What the entry holds
//
// Read fills an entry from CPUID the way CRIU's compel library does, so
// that an image written here is the image CRIU writes on the same CPU,
// byte for byte: vendor (Intel; AMD, which includes Hygon), family, model
// and stepping from leaf 1, the brand string of leaves 0x80000002-4 with
// its leading blanks dropped, capability_ver 2 and 19 capability words,
// and the xsave state CPUID leaf 0xD reports.
//
// The capability words follow the kernel's cpufeature word layout as it
// was when CRIU fixed it (compel's enum cpuid_leafs); their order is part
// of the image format:
//
//	word  source                 word  source
//	   0  CPUID 1 EDX               10  CPUID 0xD.1 EAX
//	   1  CPUID 0x80000001 EDX      11  CPUID 7.0 ECX
//	   2  (Transmeta) always 0      12  CPUID 0xF.1 EDX, if 16 has cqm_llc
//	   3  Linux-defined, see below  13  CPUID 0x80000008 EBX
//	   4  CPUID 1 ECX               14  CPUID 6 EAX
//	   5  (VIA/Centaur) always 0    15  CPUID 0x8000000A EDX
//	   6  CPUID 0x80000001 ECX      16  CPUID 0xF.0 EDX
//	   7  Linux-defined, always 0   17  CPUID 0x80000007 EBX
//	   8  Linux-defined, always 0   18  CPUID 7.0 EDX
//	   9  CPUID 7.0 EBX
//
// A word is read only when the CPU's highest basic (leaf 0 EAX) or
// extended (leaf 0x80000000 EAX) leaf reaches its leaf; otherwise it is 0.
// On top of the raw registers, as compel does: word 3 gets cpuid and nopl
// always, and rep_good on AMD family >= 0x10, Intel family 6 and late K8
// steppings (Intel family 15 loses rep_good and erms); xsave is cleared
// when the basic leaves stop below 0xD; on AMD bit 31 of word 0 is cleared.
//
// xfeatures_mask is CPUID 0xD.0 EDX:EAX less the components whose feature
// bit is missing, masked with compel's user-state mask. That mask clears
// bits 1 (SSE), 3 and 8, not only the supervisor components it means to
// (compel's XFEATURE_MASK_SUPERVISOR ORs in the number of the HDC
// component instead of its bit), so an AVX CPU's mask reads 0x5, not 0x7;
// Read reproduces it, since a check compares masks computed alike.
// xsave_size and xsave_size_max are CPUID 0xD.0 EBX and ECX.
//
// # What a check compares
//
// Check takes an image's entry and the host's and a set of Caps, CRIU's
// --cpu-cap modes:
//
//   - fpu: the image's fpu, fxsr, osxsave and xsaves bits are on the host,
//     its xfeatures_mask is a subset of the host's, and both xsave sizes
//     are the host's exactly (a program that sized its xsave buffers from
//     CPUID would overrun them on a larger area).
//   - ins: every instruction-set bit of the image (a fixed subset of the
//     words: sse*, avx*, avx512*, aes, bmi*, ... CRIU's
//     x86_ins_capability_mask) is on the host.
//   - cpu: all 19 words are equal.
//
// ParseCaps reads --cpu-cap as CRIU does, which adds to (or with ^ takes
// from) the default fpu,ins rather than replacing it: "fpu" still checks
// ins too, "^ins" checks fpu only, "cpu" checks all three. `criu cpuinfo
// check` turns an empty set ("none", "^all") into all three; a restore
// given none checks nothing.
//
// An image of capability_ver 1 holds 12 words; the check completes it with
// the host's words 12-18. An image without xfeatures_mask or the xsave
// sizes is taken to have the host's.
//
// Read, Check and the image helpers are pure and build everywhere; only
// Host, which executes CPUID, needs x86_64 (elsewhere it, and DumpDir,
// CheckDir and CheckHost with it, fail with ErrNotSupported).
package cpuinfo
