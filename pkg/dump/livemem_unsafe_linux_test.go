package dump

import (
	"bytes"
	"os"
	"os/exec"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/criugo/criugo/pkg/proc"
)

// TestLiveMemUnmapped: a pre-dump reads a task that runs again; a page it
// has unmapped since is read as zeros and counted, its neighbours whole.
func TestLiveMemUnmapped(t *testing.T) {
	m, err := unix.Mmap(-1, 0, 3*pageSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(m)
	for i := range m {
		m[i] = byte(i/pageSize + 1)
	}
	addr := uint64(uintptr(unsafe.Pointer(&m[0])))
	// The middle page only: unix.Munmap takes whole mappings.
	if _, _, errno := unix.Syscall(unix.SYS_MUNMAP, uintptr(addr+pageSize), pageSize, 0); errno != 0 {
		t.Fatal(errno)
	}
	lm, err := newLiveMem(proc.FS{}, os.Getpid(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer lm.close()
	buf := bytes.Repeat([]byte{0xff}, 3*pageSize)
	if err := lm.readAt(buf, addr); err != nil {
		t.Fatalf("read: %v", err)
	}
	for i, want := range []byte{1, 0, 3} {
		if p := buf[i*pageSize : (i+1)*pageSize]; !bytes.Equal(p, bytes.Repeat([]byte{want}, pageSize)) {
			t.Errorf("page %d: first byte %#x, want all %#x", i, p[0], want)
		}
	}
	if n := lm.unread.Load(); n != 1 {
		t.Errorf("%d pages counted unread, want 1", n)
	}
}

// TestLiveMemGone: once the task is reaped its pid may name another
// process, so nothing is read through it: all zeros, all counted.
func TestLiveMemGone(t *testing.T) {
	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Skipf("start sleep: %v", err)
	}
	lm, err := newLiveMem(proc.FS{}, cmd.Process.Pid, nil)
	if err != nil {
		cmd.Process.Kill()
		t.Fatal(err)
	}
	defer lm.close()
	cmd.Process.Kill()
	cmd.Wait()
	buf := bytes.Repeat([]byte{0xff}, 2*pageSize)
	if err := lm.readAt(buf, 0x400000); err != nil {
		t.Fatalf("read: %v", err)
	}
	if !bytes.Equal(buf, make([]byte, len(buf))) {
		t.Error("a reaped task's memory was not read as zeros")
	}
	if n := lm.unread.Load(); n != 2 {
		t.Errorf("%d pages counted unread, want 2", n)
	}
}
