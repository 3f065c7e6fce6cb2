package sysv

import "golang.org/x/sys/unix"

// SysV IPC commands and flags (linux/ipc.h, sem.h, msg.h, shm.h) that
// x/sys/unix does not define.
const (
	msgStatCmd   = 11 // MSG_STAT: msgctl by index
	msgInfoCmd   = 12 // MSG_INFO
	shmStatCmd   = 13 // SHM_STAT: shmctl by index
	shmInfoCmd   = 14 // SHM_INFO
	semGetAllCmd = 13 // GETALL
	semSetAllCmd = 17 // SETALL
	semStatCmd   = 18 // SEM_STAT: semctl by index
	semInfoCmd   = 19 // SEM_INFO
	msgCopyFlag  = 0o40000
)

// SemidDS is struct semid64_ds of x86_64.
type SemidDS struct {
	Perm  unix.SysvIpcPerm
	Otime int64
	_     uint64
	Ctime int64
	_     uint64
	Nsems uint64
	_     [2]uint64
}

// MsqidDS is struct msqid64_ds of x86_64.
type MsqidDS struct {
	Perm   unix.SysvIpcPerm
	Stime  int64
	Rtime  int64
	Ctime  int64
	Cbytes uint64
	Qnum   uint64
	Qbytes uint64
	Lspid  int32
	Lrpid  int32
	_      [2]uint64
}

// ShmStat reads the segment at index idx of the kernel's table into ds
// and returns its id. An unused index gives EINVAL.
func ShmStat(idx int, ds *unix.SysvShmDesc) (int, error) {
	return unix.SysvShmCtl(idx, shmStatCmd, ds)
}
