package ptrace

import (
	"encoding/binary"
	"syscall"
)

// SiginfoSize is the size of siginfo_t (the same on every Linux arch).
const SiginfoSize = 128

// Siginfo is one raw siginfo_t, kept as bytes because images store it so.
type Siginfo [SiginfoSize]byte

// Signo is si_signo.
func (s *Siginfo) Signo() syscall.Signal {
	return syscall.Signal(int32(binary.LittleEndian.Uint32(s[0:4])))
}

// Errno is si_errno.
func (s *Siginfo) Errno() int32 { return int32(binary.LittleEndian.Uint32(s[4:8])) }

// Code is si_code.
func (s *Siginfo) Code() int32 { return int32(binary.LittleEndian.Uint32(s[8:12])) }

// Pid is si_pid, meaningful for signals sent by kill, tgkill, sigqueue and
// for ptrace event stops.
func (s *Siginfo) Pid() int32 { return int32(binary.LittleEndian.Uint32(s[16:20])) }

// Value is si_value (sival_int in its low half), as sigqueue set it.
func (s *Siginfo) Value() uint64 { return binary.LittleEndian.Uint64(s[24:32]) }
