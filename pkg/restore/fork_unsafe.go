//go:build linux

package restore

import (
	"fmt"
	"runtime"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// cloneArgs is struct clone_args (CLONE_ARGS_SIZE_VER2, 88 bytes).
type cloneArgs struct {
	Flags      uint64
	Pidfd      uint64
	ChildTid   uint64
	ParentTid  uint64
	ExitSignal uint64
	Stack      uint64
	StackSize  uint64
	TLS        uint64
	SetTid     uint64
	SetTidSize uint64
	Cgroup     uint64
}

const cloneArgsSize = 88

// forkStub starts the tree's root: a copy of this process holding only the
// calling thread, with the given PID (any free one for 0), that waits in
// pause() to be seized and morphed (or, for a pidfd of a process long
// gone, to be killed). All signals are blocked in it and Go's handlers are reset
// to SIG_DFL (CLONE_CLEAR_SIGHAND), so none of them can run there;
// PR_SET_PDEATHSIG kills it if this process goes away before seizing it.
// nsFlags are the namespaces it is born in: with CLONE_NEWPID it is the
// init of a new pid namespace (pid must be 1, its pid there), and the pid
// returned is its pid outside; with CLONE_NEWUSER it is in a new user
// namespace (owning the new pid namespace) that has no maps yet. With
// sibling it is a child of this process's parent (CLONE_PARENT), which
// gets the exit signal this process was made with, as clone3 allows no
// other then.
func forkStub(pid int, nsFlags uint64, sibling bool) (int, error) {
	setTid := [1]int32{int32(pid)}
	flags := uint64(unix.CLONE_CLEAR_SIGHAND) | nsFlags&(unix.CLONE_NEWPID|unix.CLONE_NEWUSER)
	args := cloneArgs{
		Flags:      flags,
		ExitSignal: uint64(unix.SIGCHLD),
	}
	if sibling {
		args.Flags |= unix.CLONE_PARENT
		args.ExitSignal = 0
	}
	if pid != 0 {
		args.SetTid, args.SetTidSize = uint64(uintptr(unsafe.Pointer(&setTid[0]))), 1
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	all := ^uint64(0)
	var old uint64
	if _, _, e := syscall.RawSyscall6(unix.SYS_RT_SIGPROCMASK, unix.SIG_SETMASK, uintptr(unsafe.Pointer(&all)), uintptr(unsafe.Pointer(&old)), 8, 0, 0); e != 0 {
		return 0, fmt.Errorf("block signals: %w", e)
	}
	child, errno := rawFork(unsafe.Pointer(&args))
	syscall.RawSyscall6(unix.SYS_RT_SIGPROCMASK, unix.SIG_SETMASK, uintptr(unsafe.Pointer(&old)), 0, 8, 0, 0)
	runtime.KeepAlive(&setTid)
	if errno != 0 {
		return 0, fmt.Errorf("clone3 with pid %d: %w", pid, errno)
	}
	return child, nil
}

// rawFork runs clone3 and, in the child, only raw system calls: the child
// is a copy of one thread of a Go process whose other threads are gone, so
// it must not allocate, grow its stack, or take a runtime lock.
//
//go:nosplit
//go:norace
func rawFork(args unsafe.Pointer) (int, syscall.Errno) {
	r, _, errno := syscall.RawSyscall(unix.SYS_CLONE3, uintptr(args), cloneArgsSize, 0)
	if errno != 0 {
		return 0, errno
	}
	if r != 0 {
		return int(r), 0
	}
	syscall.RawSyscall(unix.SYS_PRCTL, unix.PR_SET_PDEATHSIG, uintptr(unix.SIGKILL), 0)
	for {
		syscall.RawSyscall(unix.SYS_PAUSE, 0, 0, 0)
	}
}

// cloneArgsBytes encodes clone_args for a clone3 injected into a task.
func cloneArgsBytes(a *cloneArgs) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(a)), cloneArgsSize)
}
