package uffd

import (
	"os"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/criugo/criugo/internal/testutil"
	"github.com/criugo/criugo/pkg/proc"
)

// TestWriteTracking: after RegisterWP and WriteProtect, PAGEMAP_SCAN
// reports exactly the pages written since as written, also the ones not
// populated at the time.
func TestWriteTracking(t *testing.T) {
	testutil.RequireRoot(t)
	fd, _, errno := unix.Syscall(unix.SYS_USERFAULTFD, unix.O_CLOEXEC|unix.O_NONBLOCK, 0, 0)
	if errno != 0 {
		t.Fatalf("userfaultfd: %v", errno)
	}
	defer unix.Close(int(fd))
	if err := Handshake(int(fd), FeatureWPAsync|FeatureWPUnpopulated); err != nil {
		t.Fatal(err)
	}
	const pages = 16
	ps := os.Getpagesize()
	mem, err := unix.Mmap(-1, 0, pages*ps, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(mem)
	for i := 0; i < pages/2; i++ { // the upper half stays unpopulated
		mem[i*ps] = 1
	}
	base := uint64(uintptr(unsafePointer(mem)))
	if err := RegisterWP(int(fd), base, uint64(pages*ps)); err != nil {
		t.Fatal(err)
	}
	if err := WriteProtect(int(fd), base, uint64(pages*ps)); err != nil {
		t.Fatal(err)
	}
	written := map[int]bool{2: true, 5: true, 12: true}
	for i := range written {
		mem[i*ps+7] = 9
	}
	pm, err := proc.FS{}.OpenPagemap(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	defer pm.Close()
	regs, err := pm.WriteTracked(base, base+uint64(pages*ps))
	if err != nil {
		t.Fatal(err)
	}
	var got [pages]int // 0 untracked, 1 clean, 2 written
	for _, r := range regs {
		for a := r.Start; a < r.End; a += uint64(ps) {
			got[(a-base)/uint64(ps)] = 1
			if r.Written {
				got[(a-base)/uint64(ps)] = 2
			}
		}
	}
	for i, g := range got {
		want := 1
		if written[i] {
			want = 2
		}
		if g != want {
			t.Errorf("page %d: %d, want %d (0 untracked, 1 clean, 2 written)", i, g, want)
		}
	}
}
