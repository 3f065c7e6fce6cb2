package restore

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// SysV IPC calls x/sys/unix has no wrappers for (x86_64 layouts).

// semidDS is struct semid64_ds of x86_64 (104 bytes).
type semidDS struct {
	perm  unix.SysvIpcPerm
	otime int64
	_     uint64
	ctime int64
	_     uint64
	nsems uint64
	_     [2]uint64
}

// msqidDS is struct msqid64_ds of x86_64 (120 bytes).
type msqidDS struct {
	perm   unix.SysvIpcPerm
	stime  int64
	rtime  int64
	ctime  int64
	cbytes uint64
	qnum   uint64
	qbytes uint64
	lspid  int32
	lrpid  int32
	_      [2]uint64
}

func semSetAll(id int, vals []uint16) error {
	if len(vals) == 0 {
		return nil
	}
	_, _, e := unix.Syscall6(unix.SYS_SEMCTL, uintptr(id), 0, semSetAllCmd, uintptr(unsafe.Pointer(&vals[0])), 0, 0)
	if e != 0 {
		return e
	}
	return nil
}

func semSet(id int, ds *semidDS) error {
	_, _, e := unix.Syscall6(unix.SYS_SEMCTL, uintptr(id), 0, unix.IPC_SET, uintptr(unsafe.Pointer(ds)), 0, 0)
	if e != 0 {
		return e
	}
	return nil
}

func msgSet(id int, ds *msqidDS) error {
	_, _, e := unix.Syscall(unix.SYS_MSGCTL, uintptr(id), unix.IPC_SET, uintptr(unsafe.Pointer(ds)))
	if e != 0 {
		return e
	}
	return nil
}

// msgSend queues a message of type mtype with text data.
func msgSend(id int, mtype uint64, data []byte) error {
	buf := make([]byte, 8+len(data))
	*(*uint64)(unsafe.Pointer(&buf[0])) = mtype
	copy(buf[8:], data)
	_, _, e := unix.Syscall6(unix.SYS_MSGSND, uintptr(id), uintptr(unsafe.Pointer(&buf[0])), uintptr(len(data)), unix.IPC_NOWAIT, 0, 0)
	if e != 0 {
		return e
	}
	return nil
}

// wholePages extends an attached segment to the end of its last page.
func wholePages(b []byte) []byte {
	if len(b) == 0 {
		return b
	}
	n := (len(b) + pageSize - 1) / pageSize * pageSize
	return unsafe.Slice(&b[0], n)
}
