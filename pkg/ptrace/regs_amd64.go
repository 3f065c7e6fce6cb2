package ptrace

// Regs is the x86_64 user_regs_struct, as NT_PRSTATUS gives it: 27
// eight-byte words, 216 bytes, in the kernel's order.
type Regs struct {
	R15, R14, R13, R12 uint64
	Rbp, Rbx           uint64
	R11, R10, R9, R8   uint64
	Rax, Rcx, Rdx      uint64
	Rsi, Rdi           uint64
	OrigRax            uint64
	Rip                uint64
	Cs                 uint64
	Eflags             uint64
	Rsp                uint64
	Ss                 uint64
	FsBase, GsBase     uint64
	Ds, Es, Fs, Gs     uint64
}

// RegsSize is the size of Regs, which the kernel checks.
const RegsSize = 216

// ntPrstatus and ntX86Xstate are the regset note types of GETREGSET.
const (
	ntPrstatus  = 1
	ntX86Xstate = 0x202
)

// xstateMax bounds the xsave area this package asks for: the largest
// layout x86 defines today (AMX tiles included) is under 12 KiB.
const xstateMax = 64 << 10

// SyscallInfo is the decoded struct ptrace_syscall_info of
// PTRACE_GET_SYSCALL_INFO.
type SyscallInfo struct {
	Op   uint8  // SyscallInfoNone, SyscallInfoEntry, SyscallInfoExit, SyscallInfoSeccomp
	Arch uint32 // AUDIT_ARCH_X86_64 = 0xc000003e
	IP   uint64
	SP   uint64
	// Entry and Seccomp stops.
	Nr   uint64
	Args [6]uint64
	// Exit stops.
	RetVal  int64
	IsError bool
	// Seccomp stops: the SECCOMP_RET_DATA of the filter's verdict.
	RetData uint32
}

// Values of SyscallInfo.Op.
const (
	SyscallInfoNone    = 0
	SyscallInfoEntry   = 1
	SyscallInfoExit    = 2
	SyscallInfoSeccomp = 3
)

// rawSyscallInfo is the kernel layout: 24 bytes of header and a union whose
// largest member (seccomp: nr, args[6], ret_data, padding) is 64 bytes.
type rawSyscallInfo struct {
	Op    uint8
	_     [3]uint8
	Arch  uint32
	IP    uint64
	SP    uint64
	Union [8]uint64
}

const rawSyscallInfoSize = 88

// RseqConfiguration is struct ptrace_rseq_configuration (24 bytes).
type RseqConfiguration struct {
	Pointer   uint64 // address of the thread's struct rseq, 0 if none
	Size      uint32 // registered size (32 for glibc's registration)
	Signature uint32 // abort signature
	Flags     uint32
	_         uint32
}

const rseqConfigurationSize = 24

// SockFilter is one classic BPF instruction, struct sock_filter (8 bytes).
type SockFilter struct {
	Code uint16
	Jt   uint8
	Jf   uint8
	K    uint32
}

// bpfMaxInsns bounds one seccomp filter (BPF_MAXINSNS).
const bpfMaxInsns = 4096

// seccompMetadata is struct seccomp_metadata.
type seccompMetadata struct {
	FilterOff uint64
	Flags     uint64
}

const seccompMetadataSize = 16

// peeksiginfoArgs is struct ptrace_peeksiginfo_args.
type peeksiginfoArgs struct {
	Off   uint64
	Flags uint32
	Nr    int32
}

// peeksiginfoShared is PTRACE_PEEKSIGINFO_SHARED: read the thread group's
// queue instead of the thread's own.
const peeksiginfoShared = 1

// maxQueuedSignals bounds PeekSiginfo: more pending signals than this in
// one queue is refused rather than read.
const maxQueuedSignals = 1 << 16
