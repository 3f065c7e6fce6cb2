package dump

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

// ipcInfoBuf is room for struct seminfo, msginfo and shm_info, which the
// *_INFO commands fill (48 bytes at most).
type ipcInfoBuf [64]byte

func semctl(id, num, cmd int, arg unsafe.Pointer) (int, error) {
	r, _, e := unix.Syscall6(unix.SYS_SEMCTL, uintptr(id), uintptr(num), uintptr(cmd), uintptr(arg), 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(r), nil
}

func semStat(idx int, ds *semidDS) (int, error) {
	return semctl(idx, 0, semStatCmd, unsafe.Pointer(ds))
}

func semInfo() (int, error) {
	var b ipcInfoBuf
	return semctl(0, 0, semInfoCmd, unsafe.Pointer(&b))
}

// semGetAll reads the values of the n semaphores of set id.
func semGetAll(id int, vals []uint16) error {
	if len(vals) == 0 {
		return nil
	}
	_, err := semctl(id, 0, semGetAllCmd, unsafe.Pointer(&vals[0]))
	return err
}

func msgctl(id, cmd int, arg unsafe.Pointer) (int, error) {
	r, _, e := unix.Syscall(unix.SYS_MSGCTL, uintptr(id), uintptr(cmd), uintptr(arg))
	if e != 0 {
		return 0, e
	}
	return int(r), nil
}

func msgStat(idx int, ds *msqidDS) (int, error) {
	return msgctl(idx, msgStatCmd, unsafe.Pointer(ds))
}

func msgInfo() (int, error) {
	var b ipcInfoBuf
	return msgctl(0, msgInfoCmd, unsafe.Pointer(&b))
}

func shmInfo() (int, error) {
	var b ipcInfoBuf
	r, _, e := unix.Syscall(unix.SYS_SHMCTL, 0, shmInfoCmd, uintptr(unsafe.Pointer(&b)))
	if e != 0 {
		return 0, e
	}
	return int(r), nil
}

// msgCopy copies message number n of queue id into buf (a long mtype,
// then the text) without taking it off the queue, and returns the text's
// length.
func msgCopy(id, n int, buf []byte) (int, error) {
	r, _, e := unix.Syscall6(unix.SYS_MSGRCV, uintptr(id), uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)-8), uintptr(n), unix.IPC_NOWAIT|msgCopyFlag, 0)
	if e != 0 {
		return 0, e
	}
	return int(r), nil
}

// wholePages extends an attached segment to the end of its last page,
// which the mapping covers (the kernel rounds a segment up to pages).
func wholePages(b []byte) []byte {
	if len(b) == 0 {
		return b
	}
	n := (len(b) + pageSize - 1) / pageSize * pageSize
	return unsafe.Slice(&b[0], n)
}
