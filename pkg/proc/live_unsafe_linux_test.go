package proc

import (
	"errors"
	"io"
	"os"
	"testing"
	"unsafe"

	"github.com/criugo/criugo/internal/testutil"
	"golang.org/x/sys/unix"
)

func mmapAnon(t *testing.T, pages int, prot int) ([]byte, uint64) {
	t.Helper()
	b, err := unix.Mmap(-1, 0, pages*os.Getpagesize(), prot, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Munmap(b) })
	return b, uint64(uintptr(unsafe.Pointer(&b[0])))
}

func TestLivePagemap(t *testing.T) {
	ps := os.Getpagesize()
	b, addr := mmapAnon(t, 4, unix.PROT_READ|unix.PROT_WRITE)
	b[0] = 1
	b[2*ps] = 1

	pm, err := FS{}.OpenPagemap(self)
	if err != nil {
		t.Fatal(err)
	}
	defer pm.Close()
	e := make([]PagemapEntry, 4)
	if err := pm.Read(addr, e); err != nil {
		t.Fatal(err)
	}
	for i, want := range []bool{true, false, true, false} {
		if e[i].Present() != want || e[i].Swapped() || e[i].FileOrShared() {
			t.Errorf("page %d: %v, want present=%v", i, e[i], want)
		}
	}
	if !e[0].Exclusive() || !e[2].Exclusive() {
		t.Errorf("touched private pages not exclusive: %v %v", e[0], e[2])
	}
	t.Run("pfn", func(t *testing.T) {
		testutil.RequireRoot(t)
		if e[0].PFN() == 0 || e[0].PFN() == e[2].PFN() {
			t.Errorf("PFNs %#x %#x", e[0].PFN(), e[2].PFN())
		}
	})

	// A read spanning several chunks agrees with page-by-page reads.
	n := pagemapChunk + 100
	big, baddr := mmapAnon(t, n, unix.PROT_READ|unix.PROT_WRITE)
	for i := 0; i < n; i += 7 {
		big[i*ps] = 1
	}
	all := make([]PagemapEntry, n)
	if err := pm.Read(baddr, all); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if all[i].Present() != (i%7 == 0) {
			t.Fatalf("page %d of %d: %v", i, n, all[i])
		}
	}

	if err := pm.Read(addr+1, e); err == nil {
		t.Errorf("unaligned read accepted")
	}
	if err := pm.Read(1<<47, e[:1]); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("read past the user address space: %v", err)
	}
}

func TestLiveMapsGuard(t *testing.T) {
	_, addr := mmapAnon(t, 3, unix.PROT_NONE)
	maps, err := FS{}.Maps(self)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range maps {
		if v.Start <= addr && addr < v.End {
			if v.Perm != 0 || v.Shared || v.Kind != VMAAnon || v.End-addr < uint64(3*os.Getpagesize()) {
				t.Errorf("guard mapping %+v", v)
			}
			return
		}
	}
	t.Errorf("no mapping holds %#x", addr)
}

// sigevent as the kernel reads it (struct sigevent, 64 bytes on x86_64).
type sigevent struct {
	value  uint64
	signo  int32
	notify int32
	tid    int32
	_      [44]byte
}

func TestLiveTimers(t *testing.T) {
	ev := sigevent{value: 0xfeed, signo: int32(unix.SIGUSR2), notify: SigevNone}
	var id int32
	_, _, errno := unix.Syscall(unix.SYS_TIMER_CREATE, unix.CLOCK_BOOTTIME, uintptr(unsafe.Pointer(&ev)), uintptr(unsafe.Pointer(&id)))
	if errno != 0 {
		t.Fatalf("timer_create: %v", errno)
	}
	defer unix.Syscall(unix.SYS_TIMER_DELETE, uintptr(id), 0, 0)

	timers, err := FS{}.Timers(self)
	if err != nil {
		t.Fatal(err)
	}
	for _, tm := range timers {
		if tm.ID == int(id) {
			want := PosixTimer{ID: int(id), Signal: int(unix.SIGUSR2), Sigval: 0xfeed, Notify: SigevNone, NotifyPid: self, ClockID: unix.CLOCK_BOOTTIME}
			if tm != want {
				t.Errorf("timer %+v, want %+v", tm, want)
			}
			return
		}
	}
	t.Errorf("timer %d not in %+v", id, timers)
}
