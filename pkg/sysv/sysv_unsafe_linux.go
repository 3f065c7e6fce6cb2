package sysv

import (
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// infoBuf is room for struct seminfo, msginfo and shm_info, which the
// *_INFO commands fill (48 bytes at most) and nobody here reads: only
// their return value, the highest index in use, matters.
type infoBuf [64]byte

func semctl(id, num, cmd int, arg unsafe.Pointer) (int, error) {
	r, _, e := unix.Syscall6(unix.SYS_SEMCTL, uintptr(id), uintptr(num), uintptr(cmd), uintptr(arg), 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(r), nil
}

func msgctl(id, cmd int, arg unsafe.Pointer) (int, error) {
	r, _, e := unix.Syscall(unix.SYS_MSGCTL, uintptr(id), uintptr(cmd), uintptr(arg))
	if e != 0 {
		return 0, e
	}
	return int(r), nil
}

// SemInfo returns the highest index in use in the semaphore set table.
func SemInfo() (int, error) {
	var b infoBuf
	return semctl(0, 0, semInfoCmd, unsafe.Pointer(&b))
}

// SemStat reads the set at index idx of the kernel's table into ds and
// returns its id. An unused index gives EINVAL.
func SemStat(idx int, ds *SemidDS) (int, error) {
	return semctl(idx, 0, semStatCmd, unsafe.Pointer(ds))
}

// SemGetAll reads the values of the len(vals) semaphores of set id.
func SemGetAll(id int, vals []uint16) error {
	if len(vals) == 0 {
		return nil
	}
	_, err := semctl(id, 0, semGetAllCmd, unsafe.Pointer(&vals[0]))
	return err
}

// SemSetAll sets the values of the len(vals) semaphores of set id.
func SemSetAll(id int, vals []uint16) error {
	if len(vals) == 0 {
		return nil
	}
	_, err := semctl(id, 0, semSetAllCmd, unsafe.Pointer(&vals[0]))
	return err
}

// SemSet sets the owner and mode of set id from ds.Perm (IPC_SET).
func SemSet(id int, ds *SemidDS) error {
	_, err := semctl(id, 0, unix.IPC_SET, unsafe.Pointer(ds))
	return err
}

// MsgInfo returns the highest index in use in the message queue table.
func MsgInfo() (int, error) {
	var b infoBuf
	return msgctl(0, msgInfoCmd, unsafe.Pointer(&b))
}

// MsgStat reads the queue at index idx of the kernel's table into ds and
// returns its id. An unused index gives EINVAL.
func MsgStat(idx int, ds *MsqidDS) (int, error) {
	return msgctl(idx, msgStatCmd, unsafe.Pointer(ds))
}

// MsgSet sets the owner, mode and byte limit of queue id from ds.Perm
// and ds.Qbytes (IPC_SET).
func MsgSet(id int, ds *MsqidDS) error {
	_, err := msgctl(id, unix.IPC_SET, unsafe.Pointer(ds))
	return err
}

// MsgCopy copies message number n of queue id into buf (the mtype in its
// first 8 bytes, then the text) without taking it off the queue, and
// returns the text's length. buf must have room for 8 bytes and more.
func MsgCopy(id, n int, buf []byte) (int, error) {
	r, _, e := unix.Syscall6(unix.SYS_MSGRCV, uintptr(id), uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)-8), uintptr(n), unix.IPC_NOWAIT|msgCopyFlag, 0)
	if e != 0 {
		return 0, e
	}
	return int(r), nil
}

// MsgSend queues a message of type mtype with text data on queue id,
// without waiting for room.
func MsgSend(id int, mtype uint64, data []byte) error {
	buf := make([]byte, 8+len(data))
	*(*uint64)(unsafe.Pointer(&buf[0])) = mtype
	copy(buf[8:], data)
	_, _, e := unix.Syscall6(unix.SYS_MSGSND, uintptr(id), uintptr(unsafe.Pointer(&buf[0])), uintptr(len(data)), unix.IPC_NOWAIT, 0, 0)
	if e != 0 {
		return e
	}
	return nil
}

// ShmInfo returns the highest index in use in the shared memory table.
func ShmInfo() (int, error) {
	var b infoBuf
	r, _, e := unix.Syscall(unix.SYS_SHMCTL, 0, shmInfoCmd, uintptr(unsafe.Pointer(&b)))
	if e != 0 {
		return 0, e
	}
	return int(r), nil
}

// WholePages extends an attached segment, as unix.SysvShmAttach gives it
// (its size long), to the end of its last page, which the mapping covers:
// the kernel rounds a segment up to whole pages.
func WholePages(b []byte) []byte {
	if len(b) == 0 {
		return b
	}
	pageSize := os.Getpagesize()
	n := (len(b) + pageSize - 1) / pageSize * pageSize
	return unsafe.Slice(&b[0], n)
}
