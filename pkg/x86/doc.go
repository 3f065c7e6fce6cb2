// Package x86 converts the x86_64 CPU state of a thread between the
// kernel's form (ptrace's user_regs_struct, the NT_X86_XSTATE xsave area,
// user_desc TLS slots) and CRIU's image form (user_x86_regs_entry,
// user_x86_fpregs_entry, user_desc_t). Dump and restore both use it, so
// the two directions live side by side and are tested against each other.
//
// The xsave area as NT_X86_XSTATE gives and takes it is the standard (not
// compacted) format, whose component offsets the CPU reports in CPUID leaf
// 0xD and which differ between vendors (AMD Zen 4 puts the AVX-512 opmask
// right after the AVX state, Intel leaves room for MPX):
//
//	  0  legacy FXSAVE region (512 bytes)
//	     0 cwd u16 | 2 swd u16 | 4 twd u16 | 6 fop u16 | 8 rip u64 | 16 rdp u64
//	     24 mxcsr u32 | 28 mxcsr_mask u32 | 32 st_space 128 | 160 xmm_space 256
//	     416 padding 48 | 464 sw_reserved 48 (for ptrace: XCR0 in word 0)
//	512  xsave header: xstate_bv u64 | xcomp_bv u64 | reserved 48
//	576+ one block per component i >= 2, at CPUID(0xD, i).EBX, EAX bytes long
//
// A thread stopped inside a system call that a signal interrupted has
// -ERESTART* in ax and the call number in orig_ax. The image records it as
// CRIU does: about to issue the call again (ax = orig_ax, ip back over the
// 2-byte syscall instruction), or, for a call that restarts through
// restart_syscall() and whose restart block cannot survive, returning EINTR.
package x86
