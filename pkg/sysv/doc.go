// Package sysv makes the SysV IPC calls that golang.org/x/sys/unix has no
// wrappers for: the semctl and msgctl commands a dump reads an IPC
// namespace's semaphore sets and message queues with (*_STAT and *_INFO,
// GETALL, MSG_COPY), and those a restore sets them up with (SETALL,
// IPC_SET, msgsnd). Shared memory segments need only SHM_INFO and
// WholePages here; x/sys/unix covers the rest.
//
// The structures are the kernel's 64-bit ones of x86_64 (IPC_64 is
// implied there), with struct ipc64_perm as unix.SysvIpcPerm:
//
//	semid64_ds (104 bytes)                 msqid64_ds (120 bytes)
//	  0  ipc64_perm (48)                      0  ipc64_perm (48)
//	 48  sem_otime       i64                 48  msg_stime      i64
//	 56  unused          u64                 56  msg_rtime      i64
//	 64  sem_ctime       i64                 64  msg_ctime      i64
//	 72  unused          u64                 72  msg_cbytes     u64
//	 80  sem_nsems       u64                 80  msg_qnum       u64
//	 88  unused          2*u64               88  msg_qbytes     u64
//	                                         96  msg_lspid      i32
//	                                        100  msg_lrpid      i32
//	                                        104  unused         2*u64
//
// A message as msgsnd takes it and MSG_COPY gives it back:
//
//	| mtype (long, 8) | text ... |
//
// The calls return the bare errno of a failure; callers say which object
// and command failed.
package sysv
