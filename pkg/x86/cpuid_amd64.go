package x86

// CPUID executes the CPUID instruction for leaf and subleaf sub, for
// packages that read CPU identification themselves (pkg/cpuinfo).
func CPUID(leaf, sub uint32) (eax, ebx, ecx, edx uint32) { return cpuid(leaf, sub) }
