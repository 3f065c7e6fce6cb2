package dump

import (
	"fmt"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/criugo/criugo/pkg/proc"
)

// zeroPageSink receives the byte read to fault the zero page in; being a
// package variable, the read cannot be optimised away.
//
//lint:ignore U1000 only written, on purpose
var zeroPageSink byte

// zeroPagePFN returns the page frame number of the kernel's shared zero
// page, which an anonymous page only ever read is mapped to: such pages
// hold nothing to dump. Found as CRIU finds it: read one fresh anonymous
// page of our own and look at its pagemap entry (PFNs need CAP_SYS_ADMIN).
func zeroPagePFN() (uint64, error) {
	mem, err := unix.Mmap(-1, 0, pageSize, unix.PROT_READ, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return 0, fmt.Errorf("find zero page: %w", err)
	}
	defer unix.Munmap(mem)
	// The read faults the zero page in; a package variable keeps the
	// compiler from dropping it.
	zeroPageSink = mem[0]
	addr := uint64(uintptr(unsafe.Pointer(&mem[0])))
	pm, err := proc.FS{}.OpenPagemap(os.Getpid())
	if err != nil {
		return 0, fmt.Errorf("find zero page: %w", err)
	}
	defer pm.Close()
	var e [1]proc.PagemapEntry
	if err := pm.Read(addr, e[:]); err != nil {
		return 0, fmt.Errorf("find zero page: %w", err)
	}
	if !e[0].Present() || e[0].PFN() == 0 {
		return 0, fmt.Errorf("find zero page: pagemap shows no frame (no CAP_SYS_ADMIN?): %w", ErrKernel)
	}
	return e[0].PFN(), nil
}

// robustList returns the robust futex list head and length of thread tid
// (get_robust_list(2), which writes both into our memory).
func robustList(tid int) (head uint64, length uint32, err error) {
	var h uintptr
	var n uintptr
	_, _, errno := unix.Syscall(unix.SYS_GET_ROBUST_LIST, uintptr(tid),
		uintptr(unsafe.Pointer(&h)), uintptr(unsafe.Pointer(&n)))
	if errno != 0 {
		return 0, 0, errno
	}
	return uint64(h), uint32(n), nil
}

// schedParam returns the real-time priority of thread tid
// (sched_getparam(2)).
func schedParam(tid int) (uint32, error) {
	var prio int32
	_, _, errno := unix.Syscall(unix.SYS_SCHED_GETPARAM, uintptr(tid), uintptr(unsafe.Pointer(&prio)), 0)
	if errno != 0 {
		return 0, fmt.Errorf("read scheduling priority of tid %d: %w", tid, errno)
	}
	return uint32(prio), nil
}

// ownerEx reads the owner of fd's file (fcntl F_GETOWN_EX): the kind of
// owner (thread, process, process group) and its id.
func ownerEx(fd int) (typ, pid int32, err error) {
	var o struct{ Type, Pid int32 }
	_, _, errno := unix.Syscall(unix.SYS_FCNTL, uintptr(fd), unix.F_GETOWN_EX, uintptr(unsafe.Pointer(&o)))
	if errno != 0 {
		return 0, 0, errno
	}
	return o.Type, o.Pid, nil
}

// mincore fills vec with one byte per page of mem: bit 0 set for a page
// that is resident.
func mincore(mem []byte, vec []byte) error {
	if len(mem) == 0 {
		return nil
	}
	_, _, errno := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(&mem[0])), uintptr(len(mem)), uintptr(unsafe.Pointer(&vec[0])))
	if errno != 0 {
		return errno
	}
	return nil
}
