package uffd

import (
	"errors"
	"os"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/criugo/criugo/internal/testutil"
	"github.com/criugo/criugo/pkg/proc"
)

// setup makes a userfaultfd with features and an anonymous mapping of
// pages pages, both gone when the test ends (the mapping first).
func setup(t *testing.T, features uint64, pages int) (fd int, mem []byte, base uint64) {
	t.Helper()
	testutil.RequireRoot(t)
	ufd, _, errno := unix.Syscall(unix.SYS_USERFAULTFD, unix.O_CLOEXEC|unix.O_NONBLOCK, 0, 0)
	if errno != 0 {
		t.Fatalf("userfaultfd: %v", errno)
	}
	fd = int(ufd)
	t.Cleanup(func() { unix.Close(fd) })
	if err := Handshake(fd, features); err != nil {
		t.Fatal(err)
	}
	mem, err := unix.Mmap(-1, 0, pages*os.Getpagesize(), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Munmap(mem) })
	return fd, mem, uint64(uintptr(unsafePointer(mem)))
}

// TestWriteTracking: after RegisterWP and WriteProtect, PAGEMAP_SCAN
// reports exactly the pages written since as written, also the ones not
// populated at the time.
func TestWriteTracking(t *testing.T) {
	const pages = 16
	fd, mem, base := setup(t, FeatureWPAsync|FeatureWPUnpopulated, pages)
	ps := os.Getpagesize()
	for i := 0; i < pages/2; i++ { // the upper half stays unpopulated
		mem[i*ps] = 1
	}
	if err := RegisterWP(fd, base, uint64(pages*ps)); err != nil {
		t.Fatal(err)
	}
	if err := WriteProtect(fd, base, uint64(pages*ps)); err != nil {
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

// TestCopy: pages registered for missing-page handling are filled by
// Copy, a second Copy of a filled page fails with EEXIST, and after
// Unregister the range faults normally again.
func TestCopy(t *testing.T) {
	const pages = 4
	fd, mem, base := setup(t, 0, pages)
	ps := os.Getpagesize()
	ioctls, err := RegisterMissing(fd, base, uint64(pages*ps))
	if err != nil {
		t.Fatal(err)
	}
	if ioctls&IoctlCopy == 0 {
		t.Fatalf("registered range supports ioctls %#x, no UFFDIO_COPY", ioctls)
	}
	src := make([]byte, 2*ps)
	for i := range src {
		src[i] = byte(i % 251)
	}
	n, err := Copy(fd, base+uint64(ps), src, CopyModeDontWake)
	if err != nil || n != len(src) {
		t.Fatalf("copy: %d, %v; want %d", n, err, len(src))
	}
	if _, err := Copy(fd, base+uint64(ps), src[:ps], CopyModeDontWake); !errors.Is(err, unix.EEXIST) {
		t.Errorf("copy over a filled page: %v, want EEXIST", err)
	}
	if err := Unregister(fd, base, uint64(pages*ps)); err != nil {
		t.Fatal(err)
	}
	for i := range src {
		if mem[ps+i] != src[i] {
			t.Fatalf("byte %d of the copied pages: %d, want %d", i, mem[ps+i], src[i])
		}
	}
	if mem[0] != 0 || mem[3*ps] != 0 { // would block on a fault if still registered
		t.Errorf("pages not copied are not zero")
	}
}
