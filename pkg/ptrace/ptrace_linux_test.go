package ptrace

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/criugo/criugo/internal/testutil"
	"golang.org/x/sys/unix"
)

var (
	traceeOnce sync.Once
	traceeBin  string
	traceeErr  error
)

// buildTracee compiles testdata/tracee.c once per test binary run.
func buildTracee(t testing.TB) string {
	t.Helper()
	traceeOnce.Do(func() {
		dir, err := os.MkdirTemp("", "ptrace-test-")
		if err != nil {
			traceeErr = err
			return
		}
		traceeBin = filepath.Join(dir, "tracee")
		traceeErr = testutil.CompileC(traceeBin, "-O1", "-Wall", "testdata/tracee.c")
	})
	if traceeErr != nil {
		t.Fatalf("build tracee: %v", traceeErr)
	}
	return traceeBin
}

// The main goroutine keeps the main thread, so that TestMain can start a
// tracer from the main thread.
func init() { runtime.LockOSThread() }

// mainThreadTracer is a Tracer started from the main thread, by TestMain.
var mainThreadTracer *Tracer

func TestMain(m *testing.M) {
	if unix.Gettid() == unix.Getpid() {
		mainThreadTracer = newTracer()
		ready := make(chan int, 1)
		mainThreadTracer.run(ready) // hands over and returns
		mainThreadTracer.threadID = <-ready
	}
	code := m.Run()
	if traceeBin != "" {
		os.RemoveAll(filepath.Dir(traceeBin))
	}
	os.Exit(code)
}

// startTracee starts the tracee in mode and returns once it said ready.
func startTracee(t testing.TB, mode string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(buildTracee(t), mode)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || line != "ready\n" {
		t.Fatalf("tracee %s: got %q, %v", mode, line, err)
	}
	// Wait until it sleeps: it may still be in its write of "ready".
	syscallFile := fmt.Sprintf("/proc/%d/syscall", cmd.Process.Pid)
	for i := 0; ; i++ {
		b, err := os.ReadFile(syscallFile)
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(string(b), strconv.Itoa(unix.SYS_CLOCK_NANOSLEEP)+" ") {
			return cmd
		}
		if i == 2000 {
			t.Fatalf("tracee %s does not sleep: %s", mode, b)
		}
		time.Sleep(time.Millisecond)
	}
}

// seizeStopped seizes pid and brings it into an interrupt stop.
func seizeStopped(t *testing.T, tr *Tracer, pid int, opts Options) {
	t.Helper()
	if err := tr.Seize(pid, opts); err != nil {
		t.Fatal(err)
	}
	st, err := tr.InterruptWait(pid)
	if err != nil {
		t.Fatal(err)
	}
	if st.Kind != InterruptStop || st.Signal != unix.SIGTRAP || st.Tid != pid {
		t.Fatalf("stop = %v, want interrupt-stop of %d", st, pid)
	}
}

func TestStructSizes(t *testing.T) {
	for _, c := range []struct {
		name      string
		got, want uintptr
	}{
		{"Regs", unsafe.Sizeof(Regs{}), RegsSize},
		{"rawSyscallInfo", unsafe.Sizeof(rawSyscallInfo{}), rawSyscallInfoSize},
		{"RseqConfiguration", unsafe.Sizeof(RseqConfiguration{}), rseqConfigurationSize},
		{"SockFilter", unsafe.Sizeof(SockFilter{}), 8},
		{"seccompMetadata", unsafe.Sizeof(seccompMetadata{}), seccompMetadataSize},
		{"Siginfo", unsafe.Sizeof(Siginfo{}), SiginfoSize},
		{"peeksiginfoArgs", unsafe.Sizeof(peeksiginfoArgs{}), 16},
	} {
		if c.got != c.want {
			t.Errorf("sizeof %s = %d, want %d", c.name, c.got, c.want)
		}
	}
	if off := unsafe.Offsetof(Regs{}.OrigRax); off != 15*8 {
		t.Errorf("offset of OrigRax = %d", off)
	}
	if off := unsafe.Offsetof(Regs{}.FsBase); off != 21*8 {
		t.Errorf("offset of FsBase = %d", off)
	}
}

func TestDecodeStatus(t *testing.T) {
	for _, c := range []struct {
		status uint32
		want   Stop
	}{
		{0x0300, Stop{Tid: 7, Kind: Exited, Status: 3}},
		{0x0009, Stop{Tid: 7, Kind: Killed, Signal: unix.SIGKILL}},
		{0x857f, Stop{Tid: 7, Kind: SyscallStop, Signal: unix.SIGTRAP}},
		{0x80057f, Stop{Tid: 7, Kind: InterruptStop, Signal: unix.SIGTRAP, Event: 128}},
		{0x80137f, Stop{Tid: 7, Kind: GroupStop, Signal: unix.SIGSTOP, Event: 128}},
		{0x03057f, Stop{Tid: 7, Kind: EventStop, Signal: unix.SIGTRAP, Event: 3}},
		{0x0b7f, Stop{Tid: 7, Kind: SignalStop, Signal: unix.SIGSEGV}},
	} {
		if got := decodeStatus(7, unix.WaitStatus(c.status)); got != c.want {
			t.Errorf("decode %#x = %+v, want %+v", c.status, got, c.want)
		}
	}
}

func TestErrorMatchesErrno(t *testing.T) {
	tr := NewTracer()
	defer tr.Close()
	// pid_max is 32768 here (and at most 4194304 anywhere): no such task.
	err := tr.Interrupt(1 << 23)
	if !errors.Is(err, unix.ESRCH) || !errors.Is(err, ErrRequest) {
		t.Fatalf("interrupt of a missing task: %v, want ESRCH and ErrRequest", err)
	}
	var perr *Error
	if !errors.As(err, &perr) || perr.Op != "interrupt" {
		t.Fatalf("error %#v is not an *Error for interrupt", err)
	}
}

func TestTracerLeavesMainThread(t *testing.T) {
	tr := mainThreadTracer
	if tr == nil {
		t.Fatal("TestMain did not run on the main thread")
	}
	if tr.ThreadID() == unix.Getpid() {
		t.Fatal("a tracer started from the main thread serves on it")
	}
	if err := tr.Interrupt(1 << 23); !errors.Is(err, unix.ESRCH) {
		t.Fatalf("request to the handed-over tracer: %v", err)
	}
	// Not closed: -count=N runs this test again with the same tracer.
}

func TestTracerThread(t *testing.T) {
	tr := NewTracer()
	if tr.ThreadID() == unix.Getpid() {
		t.Fatal("tracer runs on the main thread")
	}
	if err := tr.Close(); err != nil {
		t.Fatal(err)
	}
	if err := tr.Interrupt(1); !errors.Is(err, ErrClosed) {
		t.Fatalf("request after Close: %v, want ErrClosed", err)
	}
	tr.Close() // a second Close is harmless
}

func TestSeizeRegsSigmask(t *testing.T) {
	testutil.RequireRoot(t)
	cmd := startTracee(t, "sleep")
	pid := cmd.Process.Pid
	tr := NewTracer()
	defer tr.Close()
	seizeStopped(t, tr, pid, OptTraceSysGood)

	if o, ok := tr.Options(pid); !ok || o != OptTraceSysGood {
		t.Errorf("options = %#x, %v", o, ok)
	}
	regs, err := tr.GetRegs(pid)
	if err != nil {
		t.Fatal(err)
	}
	// Interrupted inside clock_nanosleep, which asks for a restart block.
	if regs.OrigRax != unix.SYS_CLOCK_NANOSLEEP || int64(regs.Rax) != -516 {
		t.Errorf("orig_rax %d rax %d, want %d and -516", regs.OrigRax, int64(regs.Rax), unix.SYS_CLOCK_NANOSLEEP)
	}
	if regs.Cs != 0x33 {
		t.Errorf("cs = %#x, want the 64-bit user segment 0x33", regs.Cs)
	}
	info, err := tr.GetSyscallInfo(pid)
	if err != nil {
		t.Fatal(err)
	}
	if info.Op != SyscallInfoNone || info.IP != regs.Rip || info.SP != regs.Rsp || info.Arch != 0xc000003e {
		t.Errorf("syscall info %+v, regs rip %#x rsp %#x", info, regs.Rip, regs.Rsp)
	}

	// Registers round-trip, and a change sticks.
	changed := *regs
	changed.R12 = 0x1122334455667788
	if err := tr.SetRegs(pid, &changed); err != nil {
		t.Fatal(err)
	}
	if got, err := tr.GetRegs(pid); err != nil || *got != changed {
		t.Fatalf("after SetRegs: %+v, %v", got, err)
	}
	if err := tr.SetRegs(pid, regs); err != nil {
		t.Fatal(err)
	}

	mask, err := tr.GetSigmask(pid)
	if err != nil {
		t.Fatal(err)
	}
	want := mask | 1<<(unix.SIGUSR1-1) | 1<<(unix.SIGKILL-1)
	if err := tr.SetSigmask(pid, want); err != nil {
		t.Fatal(err)
	}
	got, err := tr.GetSigmask(pid)
	if err != nil {
		t.Fatal(err)
	}
	if got != want&^(1<<(unix.SIGKILL-1)) {
		t.Errorf("sigmask = %#x after setting %#x", got, want)
	}
	if err := tr.SetSigmask(pid, mask); err != nil {
		t.Fatal(err)
	}

	xs, err := tr.GetFPRegs(pid)
	if err != nil {
		t.Fatal(err)
	}
	// legacy area 512 + xsave header 64, in 8-byte units.
	if len(xs) < 576 || len(xs)%8 != 0 {
		t.Fatalf("xsave area of %d bytes", len(xs))
	}
	if err := tr.SetFPRegs(pid, xs); err != nil {
		t.Fatal(err)
	}
	xs2, err := tr.GetFPRegs(pid)
	if err != nil || !bytes.Equal(xs, xs2) {
		t.Fatalf("xsave area changed across SetFPRegs (%v)", err)
	}

	rc, err := tr.GetRseqConfiguration(pid)
	if err != nil {
		t.Fatal(err)
	}
	// glibc 2.35+ registers rseq for every thread; Debian 12 has 2.36.
	if rc.Pointer == 0 || rc.Size != 32 || rc.Signature != 0x53053053 {
		t.Errorf("rseq configuration %+v", rc)
	}

	// Step into the restarted sleep: the kernel rewinds to restart_syscall.
	if err := tr.Syscall(pid, 0); err != nil {
		t.Fatal(err)
	}
	st, err := tr.Wait(pid)
	if err != nil || st.Kind != SyscallStop {
		t.Fatalf("after PTRACE_SYSCALL: %v, %v", st, err)
	}
	info, err = tr.GetSyscallInfo(pid)
	if err != nil || info.Op != SyscallInfoEntry || info.Nr != unix.SYS_RESTART_SYSCALL {
		t.Fatalf("syscall entry %+v, %v; want restart_syscall", info, err)
	}
	if err := tr.Detach(pid, 0); err != nil {
		t.Fatal(err)
	}
	if _, ok := tr.Options(pid); ok {
		t.Error("options kept after detach")
	}
	if err := tr.Interrupt(pid); !errors.Is(err, unix.ESRCH) {
		t.Errorf("interrupt after detach: %v, want ESRCH", err)
	}
}

func TestPeekSiginfo(t *testing.T) {
	testutil.RequireRoot(t)
	cmd := startTracee(t, "sigqueue")
	pid := cmd.Process.Pid
	tr := NewTracer()
	defer tr.Close()
	seizeStopped(t, tr, pid, 0)

	shared, err := tr.PeekSiginfo(pid, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(shared) != 1 || shared[0].Signo() != unix.SIGUSR1 || shared[0].Code() != -1 /* SI_QUEUE */ ||
		int(shared[0].Pid()) != pid || uint32(shared[0].Value()) != 42 {
		t.Fatalf("shared queue: %d entries, first %v code %d pid %d value %d", len(shared),
			shared[0].Signo(), shared[0].Code(), shared[0].Pid(), shared[0].Value())
	}
	private, err := tr.PeekSiginfo(pid, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(private) != 1 || private[0].Signo() != unix.SIGUSR2 || private[0].Code() != -6 /* SI_TKILL */ {
		t.Fatalf("thread queue: %d entries", len(private))
	}
	si, err := tr.GetSiginfo(pid)
	if err != nil {
		t.Fatal(err)
	}
	if si.Signo() != unix.SIGTRAP || si.Code() != int32(unix.SIGTRAP)|ptraceEventStop<<8 {
		t.Errorf("interrupt stop siginfo: signo %v code %#x", si.Signo(), si.Code())
	}
}

func TestSeccompFilter(t *testing.T) {
	testutil.RequireRoot(t)
	cmd := startTracee(t, "seccomp")
	pid := cmd.Process.Pid
	tr := NewTracer()
	defer tr.Close()
	seizeStopped(t, tr, pid, OptSuspendSeccomp)

	// Index 0 is the oldest filter: two instructions, no flags.
	for i, want := range []struct {
		insns int
		flags uint64
	}{{2, 0}, {1, unix.SECCOMP_FILTER_FLAG_LOG}} {
		prog, err := tr.SeccompGetFilter(pid, i)
		if err != nil {
			t.Fatal(err)
		}
		if len(prog) != want.insns || prog[len(prog)-1] != (SockFilter{Code: unix.BPF_RET | unix.BPF_K, K: unix.SECCOMP_RET_ALLOW}) {
			t.Errorf("filter %d: %+v", i, prog)
		}
		flags, err := tr.SeccompGetFlags(pid, i)
		if err != nil {
			t.Fatal(err)
		}
		if flags != want.flags {
			t.Errorf("filter %d flags %#x, want %#x", i, flags, want.flags)
		}
	}
	if _, err := tr.SeccompGetFilter(pid, 2); !errors.Is(err, unix.ENOENT) {
		t.Errorf("filter past the last: %v, want ENOENT", err)
	}
}

func TestWaitExitAndPoll(t *testing.T) {
	testutil.RequireRoot(t)
	cmd := startTracee(t, "sleep")
	pid := cmd.Process.Pid
	tr := NewTracer()
	defer tr.Close()
	if err := tr.Seize(pid, 0); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := tr.Poll(pid); ok || err != nil {
		t.Fatalf("poll of a sleeping tracee: ok %v, %v", ok, err)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	st, ok, err := tr.WaitTimeout(pid, 5e9)
	if err != nil || !ok || st.Kind != Killed || st.Signal != unix.SIGKILL {
		t.Fatalf("wait after SIGKILL: %v, %v, %v", st, ok, err)
	}
}

func TestMemSelf(t *testing.T) {
	// process_vm_* on oneself needs no privilege.
	page := os.Getpagesize()
	m, err := unix.Mmap(-1, 0, 2*page, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(m)
	if err := unix.Mprotect(m[page:], unix.PROT_NONE); err != nil {
		t.Fatal(err)
	}
	m = m[:page]
	base := uint64(uintptr(unsafe.Pointer(&m[0])))
	pid := os.Getpid()

	src := bytes.Repeat([]byte("criugo"), 100)
	if n, err := WriteMem(pid, base+100, src); err != nil || n != len(src) {
		t.Fatalf("write: %d, %v", n, err)
	}
	if !bytes.Equal(m[100:100+len(src)], src) {
		t.Fatal("write did not land")
	}
	got := make([]byte, len(src))
	if n, err := ReadMem(pid, base+100, got); err != nil || n != len(src) || !bytes.Equal(got, src) {
		t.Fatalf("read: %d, %v", n, err)
	}
	// A read running off the mapping stops at its end.
	got = make([]byte, 200)
	n, err := ReadMem(pid, base+uint64(page)-96, got)
	if n != 96 || !errors.Is(err, ErrFault) || !errors.Is(err, unix.EFAULT) {
		t.Fatalf("read across the end: %d, %v", n, err)
	}

	// PokeText writes a read-only mapping.
	if err := unix.Mprotect(m, unix.PROT_READ); err != nil {
		t.Fatal(err)
	}
	if _, err := WriteMem(pid, base, []byte{1}); !errors.Is(err, ErrFault) {
		t.Fatalf("process_vm_writev into read-only memory: %v", err)
	}
	if err := PokeText(pid, base, []byte{0xcc, 0x0f, 0x05}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(m[:3], []byte{0xcc, 0x0f, 0x05}) {
		t.Fatalf("poke did not land: % x", m[:3])
	}
}
