package ptrace

import (
	"errors"
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// maxTransfer caps one process_vm_* call; larger transfers loop.
const maxTransfer = 1 << 30

// ReadMem reads len(buf) bytes of pid's memory at addr with
// process_vm_readv. It needs no stop and no tracer thread, only ptrace
// access to pid. It returns how many bytes it read; fewer than len(buf)
// comes with an error matching ErrFault (and EFAULT) when the range runs
// into memory pid cannot read.
func ReadMem(pid int, addr uint64, buf []byte) (int, error) {
	return transfer(pid, addr, buf, false)
}

// WriteMem writes buf into pid's memory at addr with process_vm_writev.
// Like a store by pid itself it fails on read-only mappings; see PokeText.
func WriteMem(pid int, addr uint64, buf []byte) (int, error) {
	return transfer(pid, addr, buf, true)
}

func transfer(pid int, addr uint64, buf []byte, write bool) (int, error) {
	done := 0
	for done < len(buf) {
		chunk := min(len(buf)-done, maxTransfer)
		local := []unix.Iovec{{Base: &buf[done]}}
		local[0].SetLen(chunk)
		remote := []unix.RemoteIovec{{Base: uintptr(addr) + uintptr(done), Len: chunk}}
		var n int
		var err error
		if write {
			n, err = unix.ProcessVMWritev(pid, local, remote, 0)
		} else {
			n, err = unix.ProcessVMReadv(pid, local, remote, 0)
		}
		if err == unix.EINTR {
			continue
		}
		op := "read"
		if write {
			op = "write"
		}
		if err != nil {
			if err == unix.EFAULT {
				return done, fmt.Errorf("%s memory of pid %d at %#x: %w", op, pid, addr+uint64(done), errors.Join(ErrFault, err))
			}
			return done, fmt.Errorf("%s memory of pid %d at %#x: %w", op, pid, addr+uint64(done), err)
		}
		if n == 0 {
			return done, fmt.Errorf("%s memory of pid %d at %#x: no progress: %w", op, pid, addr+uint64(done), ErrFault)
		}
		done += n
	}
	return done, nil
}

// PokeText writes buf into pid's memory at addr through /proc/PID/mem,
// which writes even read-only private mappings (the kernel copies the page
// on write, as for a debugger's breakpoint). Use it only for the few bytes
// of code injection.
func PokeText(pid int, addr uint64, buf []byte) error {
	f, err := os.OpenFile("/proc/"+strconv.Itoa(pid)+"/mem", os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("poke text of pid %d: %w", pid, err)
	}
	defer f.Close()
	n, err := f.WriteAt(buf, int64(addr))
	if err != nil {
		if errors.Is(err, unix.EIO) || errors.Is(err, unix.EFAULT) {
			err = errors.Join(ErrFault, err)
		}
		return fmt.Errorf("poke text of pid %d at %#x: %w", pid, addr, err)
	}
	if n != len(buf) {
		return fmt.Errorf("poke text of pid %d at %#x: wrote %d of %d bytes: %w", pid, addr, n, len(buf), ErrFault)
	}
	return nil
}
