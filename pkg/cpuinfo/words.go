package cpuinfo

import "fmt"

// The capability words (see the package doc). The numbers are CRIU's
// image format: they must not change.
const (
	word1EDX        = 0
	word80000001EDX = 1
	word80860001EDX = 2
	wordLinux1      = 3
	word1ECX        = 4
	wordC0000001EDX = 5
	word80000001ECX = 6
	wordLinux2      = 7
	wordLinux3      = 8
	word7EBX        = 9
	wordD1EAX       = 10
	word7ECX        = 11
	wordF1EDX       = 12
	word80000008EBX = 13
	word6EAX        = 14
	word8000000AEDX = 15
	wordF0EDX       = 16
	word80000007EBX = 17
	word7EDX        = 18
)

// Words per capability_ver: version 1 images hold 12 words, version 2
// (what CRIU 4.x writes, and Read) 19.
const (
	wordsV1 = 12
	wordsV2 = 19
	// NumWords is how many words an entry of CapabilityVer holds.
	NumWords = wordsV2
	// CapabilityVer is the capability_ver CRIU 4.x writes.
	CapabilityVer = 2
)

// Feature is a capability bit: word*32 + bit, as the kernel's
// X86_FEATURE_* numbers are.
type Feature int

func feat(word, bit int) Feature { return Feature(word*32 + bit) }

// The bits compel tests or sets itself.
var (
	featFPU     = feat(word1EDX, 0)
	featFXSR    = feat(word1EDX, 24)
	featXMM     = feat(word1EDX, 25)
	featPBE     = feat(word1EDX, 31) // AMD: a 3DNow alias, cleared
	featRepGood = feat(wordLinux1, 16)
	featNOPL    = feat(wordLinux1, 20)
	featCPUID   = feat(wordLinux1, 25)
	featXSAVE   = feat(word1ECX, 26)
	featOSXSAVE = feat(word1ECX, 27)
	featAVX     = feat(word1ECX, 28)
	featMPX     = feat(word7EBX, 14)
	featAVX512F = feat(word7EBX, 16)
	featIntelPT = feat(word7EBX, 25)
	featERMS    = feat(word7EBX, 9)
	featXSAVES  = feat(wordD1EAX, 3)
	featPKU     = feat(word7ECX, 3)
	featHDC     = feat(word6EAX, 13)
	featCQMLLC  = feat(wordF0EDX, 1)
)

// source says where a word comes from, for naming bits that have no name.
var source = [NumWords]string{
	word1EDX:        "cpuid 0x1 edx",
	word80000001EDX: "cpuid 0x80000001 edx",
	word80860001EDX: "cpuid 0x80860001 edx",
	wordLinux1:      "linux word 3",
	word1ECX:        "cpuid 0x1 ecx",
	wordC0000001EDX: "cpuid 0xc0000001 edx",
	word80000001ECX: "cpuid 0x80000001 ecx",
	wordLinux2:      "linux word 7",
	wordLinux3:      "linux word 8",
	word7EBX:        "cpuid 0x7.0 ebx",
	wordD1EAX:       "cpuid 0xd.1 eax",
	word7ECX:        "cpuid 0x7.0 ecx",
	wordF1EDX:       "cpuid 0xf.1 edx",
	word80000008EBX: "cpuid 0x80000008 ebx",
	word6EAX:        "cpuid 0x6 eax",
	word8000000AEDX: "cpuid 0x8000000a edx",
	wordF0EDX:       "cpuid 0xf.0 edx",
	word80000007EBX: "cpuid 0x80000007 ebx",
	word7EDX:        "cpuid 0x7.0 edx",
}

// names are the kernel's names of the capability bits, as /proc/cpuinfo
// prints them (the lower-case X86_FEATURE_* name unless the kernel gives
// another, "sse" for XMM, say). Bits the kernel hides from /proc/cpuinfo
// keep their lower-case X86_FEATURE_* name, so an error can still say
// which bit it is.
var names = map[int]map[int]string{
	word1EDX: {
		0: "fpu", 1: "vme", 2: "de", 3: "pse", 4: "tsc", 5: "msr", 6: "pae", 7: "mce",
		8: "cx8", 9: "apic", 11: "sep", 12: "mtrr", 13: "pge", 14: "mca", 15: "cmov",
		16: "pat", 17: "pse36", 18: "pn", 19: "clflush", 21: "dts", 22: "acpi", 23: "mmx",
		24: "fxsr", 25: "sse", 26: "sse2", 27: "ss", 28: "ht", 29: "tm", 30: "ia64", 31: "pbe",
	},
	word80000001EDX: {
		11: "syscall", 19: "mp", 20: "nx", 22: "mmxext", 25: "fxsr_opt", 26: "pdpe1gb",
		27: "rdtscp", 29: "lm", 30: "3dnowext", 31: "3dnow",
	},
	word80860001EDX: {0: "recovery", 1: "longrun", 3: "lrti"},
	wordLinux1: {
		0: "cxmmx", 1: "k6_mtrr", 2: "cyrix_arr", 3: "centaur_mcr", 4: "k8", 5: "k7",
		6: "p3", 7: "p4", 8: "constant_tsc", 9: "up", 10: "art", 11: "arch_perfmon",
		12: "pebs", 13: "bts", 14: "syscall32", 15: "sysenter32", 16: "rep_good",
		17: "mfence_rdtsc", 18: "lfence_rdtsc", 19: "acc_power", 20: "nopl", 21: "always",
		22: "xtopology", 23: "tsc_reliable", 24: "nonstop_tsc", 25: "cpuid",
		26: "extd_apicid", 27: "amd_dcm", 28: "aperfmperf", 30: "nonstop_tsc_s3",
		31: "tsc_known_freq",
	},
	word1ECX: {
		0: "pni", 1: "pclmulqdq", 2: "dtes64", 3: "monitor", 4: "ds_cpl", 5: "vmx",
		6: "smx", 7: "est", 8: "tm2", 9: "ssse3", 10: "cid", 11: "sdbg", 12: "fma",
		13: "cx16", 14: "xtpr", 15: "pdcm", 17: "pcid", 18: "dca", 19: "sse4_1",
		20: "sse4_2", 21: "x2apic", 22: "movbe", 23: "popcnt", 24: "tsc_deadline_timer",
		25: "aes", 26: "xsave", 27: "osxsave", 28: "avx", 29: "f16c", 30: "rdrand",
		31: "hypervisor",
	},
	wordC0000001EDX: {
		2: "rng", 3: "rng_en", 6: "ace", 7: "ace_en", 8: "ace2", 9: "ace2_en",
		10: "phe", 11: "phe_en", 12: "pmm", 13: "pmm_en",
	},
	word80000001ECX: {
		0: "lahf_lm", 1: "cmp_legacy", 2: "svm", 3: "extapic", 4: "cr8_legacy", 5: "abm",
		6: "sse4a", 7: "misalignsse", 8: "3dnowprefetch", 9: "osvw", 10: "ibs", 11: "xop",
		12: "skinit", 13: "wdt", 15: "lwp", 16: "fma4", 17: "tce", 19: "nodeid_msr",
		21: "tbm", 22: "topoext", 23: "perfctr_core", 24: "perfctr_nb", 26: "bpext",
		27: "ptsc", 28: "perfctr_llc", 29: "mwaitx",
	},
	word7EBX: {
		0: "fsgsbase", 1: "tsc_adjust", 2: "sgx", 3: "bmi1", 4: "hle", 5: "avx2", 7: "smep",
		8: "bmi2", 9: "erms", 10: "invpcid", 11: "rtm", 12: "cqm", 14: "mpx", 15: "rdt_a",
		16: "avx512f", 17: "avx512dq", 18: "rdseed", 19: "adx", 20: "smap",
		21: "avx512ifma", 23: "clflushopt", 24: "clwb", 25: "intel_pt", 26: "avx512pf",
		27: "avx512er", 28: "avx512cd", 29: "sha_ni", 30: "avx512bw", 31: "avx512vl",
	},
	wordD1EAX: {0: "xsaveopt", 1: "xsavec", 2: "xgetbv1", 3: "xsaves", 4: "xfd"},
	word7ECX: {
		0: "prefetchwt1", 1: "avx512vbmi", 2: "umip", 3: "pku", 4: "ospke", 5: "waitpkg",
		6: "avx512_vbmi2", 7: "shstk", 8: "gfni", 9: "vaes", 10: "vpclmulqdq",
		11: "avx512_vnni", 12: "avx512_bitalg", 13: "tme", 14: "avx512_vpopcntdq",
		16: "la57", 22: "rdpid", 24: "bus_lock_detect", 25: "cldemote", 27: "movdiri",
		28: "movdir64b", 29: "enqcmd", 30: "sgx_lc",
	},
	wordF1EDX: {0: "cqm_occup_llc", 1: "cqm_mbm_total", 2: "cqm_mbm_local"},
	word80000008EBX: {
		0: "clzero", 1: "irperf", 2: "xsaveerptr", 4: "rdpru", 9: "wbnoinvd",
		12: "ibpb", 14: "ibrs", 15: "stibp",
	},
	word6EAX: {
		0: "dtherm", 1: "ida", 2: "arat", 4: "pln", 6: "pts", 7: "hwp", 8: "hwp_notify",
		9: "hwp_act_window", 10: "hwp_epp", 11: "hwp_pkg_req", 13: "hdc",
	},
	word8000000AEDX: {
		0: "npt", 1: "lbrv", 2: "svm_lock", 3: "nrip_save", 4: "tsc_scale",
		5: "vmcb_clean", 6: "flushbyasid", 7: "decodeassists", 10: "pausefilter",
		12: "pfthreshold", 13: "avic", 15: "v_vmsave_vmload", 16: "vgif",
	},
	wordF0EDX:       {1: "cqm_llc"},
	word80000007EBX: {0: "overflow_recov", 1: "succor", 3: "smca"},
	word7EDX: {
		2: "avx512_4vnniw", 3: "avx512_4fmaps", 4: "fsrm", 8: "avx512_vp2intersect",
		10: "md_clear", 14: "serialize", 16: "tsxldtrk", 18: "pconfig", 19: "arch_lbr",
		20: "ibt", 22: "amx_bf16", 23: "avx512_fp16", 24: "amx_tile", 25: "amx_int8",
		26: "spec_ctrl", 27: "intel_stibp", 28: "flush_l1d", 29: "arch_capabilities",
		30: "core_capabilities", 31: "spec_ctrl_ssbd",
	},
}

// String names the bit as the kernel does ("avx512f"), or by its word's
// source ("cpuid 0x7.0 ebx bit 13") when it has no name here.
func (f Feature) String() string {
	w, b := int(f)/32, int(f)%32
	if n, ok := names[w][b]; ok {
		return n
	}
	if w >= 0 && w < NumWords {
		return fmt.Sprintf("%s bit %d", source[w], b)
	}
	return fmt.Sprintf("capability word %d bit %d", w, b)
}

// insFeatures are the bits `ins` compares: the instruction-set extensions
// CRIU's x86_ins_capability_mask lists, which a program may have chosen
// at run time and would then execute after the restore.
var insFeatures = []Feature{
	feat(word1EDX, 0), feat(word1EDX, 4), feat(word1EDX, 8), feat(word1EDX, 11),
	feat(word1EDX, 15), feat(word1EDX, 19), feat(word1EDX, 23), feat(word1EDX, 24),
	feat(word1EDX, 25), feat(word1EDX, 26),

	feat(word80000001EDX, 11), feat(word80000001EDX, 22), feat(word80000001EDX, 27),
	feat(word80000001EDX, 30), feat(word80000001EDX, 31),

	featRepGood, featNOPL,

	feat(word1ECX, 0), feat(word1ECX, 1), feat(word1ECX, 3), feat(word1ECX, 9),
	feat(word1ECX, 13), feat(word1ECX, 19), feat(word1ECX, 20), feat(word1ECX, 22),
	feat(word1ECX, 23), feat(word1ECX, 25), feat(word1ECX, 26), feat(word1ECX, 27),
	feat(word1ECX, 28), feat(word1ECX, 29), feat(word1ECX, 30),

	feat(word80000001ECX, 5), feat(word80000001ECX, 6), feat(word80000001ECX, 7),
	feat(word80000001ECX, 8), feat(word80000001ECX, 11), feat(word80000001ECX, 16),
	feat(word80000001ECX, 21),

	feat(word7EBX, 0), feat(word7EBX, 3), feat(word7EBX, 4), feat(word7EBX, 5),
	feat(word7EBX, 8), feat(word7EBX, 9), feat(word7EBX, 11), feat(word7EBX, 14),
	feat(word7EBX, 16), feat(word7EBX, 17), feat(word7EBX, 18), feat(word7EBX, 19),
	feat(word7EBX, 23), feat(word7EBX, 26), feat(word7EBX, 27), feat(word7EBX, 28),
	feat(word7EBX, 29), feat(word7EBX, 30), feat(word7EBX, 31),

	feat(wordD1EAX, 0), feat(wordD1EAX, 1), feat(wordD1EAX, 2),

	feat(word7ECX, 1), feat(word7ECX, 6), feat(word7ECX, 8), feat(word7ECX, 9),
	feat(word7ECX, 10), feat(word7ECX, 11), feat(word7ECX, 12), feat(word7ECX, 13),
	feat(word7ECX, 14), feat(word7ECX, 22),

	feat(word80000008EBX, 0),

	feat(word7EDX, 2), feat(word7EDX, 3),
}

// insMask is insFeatures as one mask per word.
var insMask = func() (m [NumWords]uint32) {
	for _, f := range insFeatures {
		m[f/32] |= 1 << (f % 32)
	}
	return m
}()

// fpuFeatures are the bits `fpu` requires on the host when the image has
// them: the FPU itself and the instructions that save and restore it.
var fpuFeatures = []Feature{featFPU, featFXSR, featOSXSAVE, featXSAVES}
