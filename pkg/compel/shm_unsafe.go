//go:build linux

package compel

import (
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// word points at the 32-bit word at off in the shared mapping mem; off is
// a multiple of 4 and mem is page-aligned.
func word(mem []byte, off int) *uint32 {
	_ = mem[off+3]
	return (*uint32)(unsafe.Pointer(&mem[off]))
}

func loadWord(mem []byte, off int) uint32     { return atomic.LoadUint32(word(mem, off)) }
func storeWord(mem []byte, off int, v uint32) { atomic.StoreUint32(word(mem, off), v) }

// futexWait sleeps while the shared word at off holds val, at most d. The
// futex is not private: the parasite wakes it from another process.
func futexWait(mem []byte, off int, val uint32, d time.Duration) {
	ts := unix.NsecToTimespec(d.Nanoseconds())
	// EAGAIN (the word changed), EINTR and ETIMEDOUT all mean: look again.
	unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(word(mem, off))), futexWaitOp, uintptr(val), uintptr(unsafe.Pointer(&ts)), 0, 0)
}

// futexWake wakes the waiter on the shared word at off.
func futexWake(mem []byte, off int) {
	unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(word(mem, off))), futexWakeOp, 1, 0, 0, 0)
}

// FUTEX_WAIT and FUTEX_WAKE, without FUTEX_PRIVATE_FLAG.
const (
	futexWaitOp = 0
	futexWakeOp = 1
)
