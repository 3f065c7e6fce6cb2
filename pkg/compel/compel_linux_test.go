package compel

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/criugo/criugo/internal/testutil"
	"github.com/criugo/criugo/pie"
	"github.com/criugo/criugo/pkg/ptrace"
	"golang.org/x/sys/unix"
)

var (
	victimOnce sync.Once
	victimBin  string
	victimErr  error
)

func buildVictim(t *testing.T) string {
	t.Helper()
	victimOnce.Do(func() {
		dir, err := os.MkdirTemp("", "compel-test-")
		if err != nil {
			victimErr = err
			return
		}
		victimBin = filepath.Join(dir, "victim")
		victimErr = testutil.CompileC(victimBin, "-O1", "-Wall", "-pthread", "testdata/victim.c")
	})
	if victimErr != nil {
		t.Fatalf("build victim: %v", victimErr)
	}
	return victimBin
}

func TestMain(m *testing.M) {
	code := m.Run()
	if victimBin != "" {
		os.RemoveAll(filepath.Dir(victimBin))
	}
	os.Exit(code)
}

type victim struct {
	cmd  *exec.Cmd
	in   io.WriteCloser
	out  *bufio.Reader
	pid  int
	vals map[string]string
}

func startVictim(t *testing.T, args ...string) *victim {
	t.Helper()
	v := &victim{cmd: exec.Command(buildVictim(t), args...)}
	var err error
	if v.in, err = v.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	stdout, err := v.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	v.cmd.Stderr = os.Stderr
	if err := v.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		v.cmd.Process.Kill()
		v.cmd.Wait()
	})
	v.out = bufio.NewReader(stdout)
	line, err := v.out.ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "ready ") {
		t.Fatalf("victim %v: %q, %v", args, line, err)
	}
	v.vals = make(map[string]string)
	for _, kv := range strings.Fields(line)[1:] {
		k, val, _ := strings.Cut(kv, "=")
		v.vals[k] = val
	}
	v.pid = v.cmd.Process.Pid
	return v
}

func (v *victim) num(t *testing.T, key string, base int) uint64 {
	t.Helper()
	n, err := strconv.ParseUint(v.vals[key], base, 64)
	if err != nil {
		t.Fatalf("victim value %s: %v", key, err)
	}
	return n
}

// check asks the victim to check itself and wants PASS.
func (v *victim) check(t *testing.T) {
	t.Helper()
	if _, err := io.WriteString(v.in, "check\n"); err != nil {
		t.Fatal(err)
	}
	line, err := v.out.ReadString('\n')
	if err != nil || line != "PASS\n" {
		t.Fatalf("victim check: %q, %v", line, err)
	}
}

// threadState is what must come back unchanged after a cure.
type threadState struct {
	regs ptrace.Regs
	fp   []byte
	mask uint64
}

func snapshot(t *testing.T, tr *ptrace.Tracer, tid int) threadState {
	t.Helper()
	r, err := tr.GetRegs(tid)
	if err != nil {
		t.Fatal(err)
	}
	fp, err := tr.GetFPRegs(tid)
	if err != nil {
		t.Fatal(err)
	}
	mask, err := tr.GetSigmask(tid)
	if err != nil {
		t.Fatal(err)
	}
	return threadState{*r, fp, mask}
}

func (s threadState) same(t *testing.T, tr *ptrace.Tracer, tid int) {
	t.Helper()
	now := snapshot(t, tr, tid)
	if now.regs != s.regs {
		t.Errorf("tid %d registers changed:\n%+v\n%+v", tid, s.regs, now.regs)
	}
	if !bytes.Equal(now.fp, s.fp) {
		t.Errorf("tid %d xsave area changed", tid)
	}
	if now.mask != s.mask {
		t.Errorf("tid %d signal mask %#x, was %#x", tid, now.mask, s.mask)
	}
	si, err := tr.GetSiginfo(tid)
	if err != nil || si.Code()>>8 != unix.PTRACE_EVENT_STOP {
		t.Errorf("tid %d not back in an event stop: %v", tid, err)
	}
}

// procTrace is the part of /proc/PID that an infection could leave behind.
func procTrace(t *testing.T, pid int) string {
	t.Helper()
	maps, err := os.ReadFile(fmt.Sprintf("/proc/%d/maps", pid))
	if err != nil {
		t.Fatal(err)
	}
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, fd := range fds {
		names = append(names, fd.Name())
	}
	return string(maps) + "fds: " + strings.Join(names, " ")
}

func seize(t *testing.T, tr *ptrace.Tracer, tids ...int) {
	t.Helper()
	for _, tid := range tids {
		if err := tr.Seize(tid, ptrace.OptTraceSysGood); err != nil {
			t.Fatal(err)
		}
		if _, err := tr.InterruptWait(tid); err != nil {
			t.Fatal(err)
		}
	}
}

func detach(t *testing.T, tr *ptrace.Tracer, tids ...int) {
	t.Helper()
	for _, tid := range tids {
		if err := tr.Detach(tid, 0); err != nil {
			t.Fatal(err)
		}
	}
}

func sigbit(s unix.Signal) uint64 { return 1 << (s - 1) }

func TestParasiteDump(t *testing.T) {
	testutil.RequireRoot(t)
	v := startVictim(t, "full")
	pid, tid2 := v.pid, int(v.num(t, "tid", 10))
	tr := ptrace.NewTracer()
	defer tr.Close()
	seize(t, tr, pid, tid2)
	before := procTrace(t, pid)
	s1, s2 := snapshot(t, tr, pid), snapshot(t, tr, tid2)

	p, err := Infect(tr, pid)
	if err != nil {
		t.Fatal(err)
	}
	if during := procTrace(t, pid); !strings.Contains(during, "memfd:"+memfdName) || strings.Contains(during, "fds: 0 1 2 3") {
		t.Errorf("while infected: no parasite mapping, or an extra fd:\n%s", during)
	}

	sa, err := p.Sigactions()
	if err != nil {
		t.Fatal(err)
	}
	const saSiginfo, saOnstack, saRestart, saRestorer = 4, 0x08000000, 0x10000000, 0x04000000
	usr1 := sa[unix.SIGUSR1-1]
	if usr1.Handler != v.num(t, "usr1", 16) || usr1.Flags != saSiginfo|saOnstack|saRestart|saRestorer ||
		usr1.Mask != sigbit(unix.SIGUSR2)|sigbit(unix.SIGINT) || usr1.Restorer == 0 {
		t.Errorf("SIGUSR1 action %+v", usr1)
	}
	if h := sa[unix.SIGUSR2-1].Handler; h != 1 /* SIG_IGN */ {
		t.Errorf("SIGUSR2 handler %#x, want SIG_IGN", h)
	}
	if h := sa[unix.SIGTERM-1].Handler; h == 0 || h == 1 {
		t.Errorf("SIGTERM handler %#x, want a function", h)
	}
	// The victim leaves SIGHUP as it found it: ignored under nohup.
	wantHup := pie.Sigaction{}
	if signal.Ignored(unix.SIGHUP) {
		wantHup.Handler = 1
	}
	if a := sa[unix.SIGHUP-1]; a != wantHup {
		t.Errorf("SIGHUP action %+v, want %+v", a, wantHup)
	}

	it, err := p.Itimers()
	if err != nil {
		t.Fatal(err)
	}
	if it[0].IntervalSec != 500 || it[0].ValueSec < 900 || it[0].ValueSec > 1000 {
		t.Errorf("ITIMER_REAL %+v", it[0])
	}
	if it[1].IntervalSec != 0 || it[1].ValueSec < 1900 || it[1].ValueSec > 2000 {
		t.Errorf("ITIMER_VIRTUAL %+v", it[1])
	}
	if it[2] != (pie.Itimer{}) {
		t.Errorf("ITIMER_PROF %+v, want unset", it[2])
	}

	timerID := int32(v.num(t, "timer", 10))
	pts, err := p.PosixTimers([]int32{timerID, timerID + 100})
	if err != nil {
		t.Fatal(err)
	}
	if len(pts) != 2 || pts[0].Ret != 0 || pts[0].ID != timerID || pts[0].IntervalSec != 7 ||
		pts[0].ValueSec < 2900 || pts[0].ValueSec > 3000 {
		t.Errorf("posix timer %+v", pts[0])
	}
	if pts[1].Ret != -int32(unix.EINVAL) {
		t.Errorf("missing posix timer: %+v, want -EINVAL", pts[1])
	}

	m, err := p.Misc()
	if err != nil {
		t.Fatal(err)
	}
	want := pie.Misc{
		Pid: int32(pid), Pgid: int32(pid), Sid: int32(pid), Umask: 0o27,
		Personality: m.Personality | 0x0040000 /* ADDR_NO_RANDOMIZE */, Dumpable: 1, ChildSubreaper: 1,
		Brk: v.num(t, "brk", 16),
	}
	if m != want {
		t.Errorf("misc %+v, want %+v", m, want)
	}

	ts, err := p.Leader().State()
	if err != nil {
		t.Fatal(err)
	}
	if ts != (pie.Thread{Tid: int32(pid), PdeathSig: int32(unix.SIGHUP), SsSp: v.num(t, "alt", 16), SsSize: v.num(t, "altsize", 10),
		TidAddr: v.num(t, "tidaddr", 16)}) {
		t.Errorf("main thread state %+v", ts)
	}

	// CmdTask: the four at once. The itimers have moved on meanwhile.
	task, err := p.Task()
	if err != nil {
		t.Fatal(err)
	}
	if task.Sigactions != sa || task.Misc != m || task.Thread != ts {
		t.Errorf("task state %+v, want %+v, %+v, %+v", task, sa, m, ts)
	}
	if got := task.Itimers; got[0].IntervalSec != it[0].IntervalSec || got[1].ValueSec > it[1].ValueSec || got[2] != it[2] {
		t.Errorf("task itimers %+v, want about %+v", got, it)
	}

	th2, err := p.EnterThread(tid2)
	if err != nil {
		t.Fatal(err)
	}
	ts2, err := th2.State()
	if err != nil {
		t.Fatal(err)
	}
	// The thread alone set SECBIT_KEEP_CAPS (PR_SET_KEEPCAPS).
	if ts2 != (pie.Thread{Tid: int32(tid2), PdeathSig: int32(unix.SIGUSR2), SsSp: v.num(t, "talt", 16), SsSize: v.num(t, "taltsize", 10),
		TidAddr: v.num(t, "ttidaddr", 16), Secbits: 1 << 4}) {
		t.Errorf("second thread state %+v", ts2)
	}
	if _, err := p.EnterThread(tid2); !errors.Is(err, unix.EBUSY) {
		t.Errorf("entering a thread twice: %v", err)
	}
	// An unknown command is refused with ENOSYS, and the session goes on.
	if err := th2.call(99, nil); !errors.Is(err, unix.ENOSYS) {
		t.Errorf("unknown command: %v", err)
	}
	if err := th2.Leave(); err != nil {
		t.Fatal(err)
	}
	if _, err := th2.State(); !errors.Is(err, ErrCured) {
		t.Errorf("command after Leave: %v", err)
	}
	s2.same(t, tr, tid2)

	if err := p.Cure(); err != nil {
		t.Fatal(err)
	}
	if after := procTrace(t, pid); after != before {
		t.Errorf("the parasite left a trace:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	s1.same(t, tr, pid)
	if _, err := p.Misc(); !errors.Is(err, ErrCured) {
		t.Errorf("command after Cure: %v", err)
	}
	detach(t, tr, pid, tid2)
	// The main thread was in read(), the other in clock_nanosleep: both
	// must have restarted as if never stopped.
	v.check(t)
}

func TestRseqUnregister(t *testing.T) {
	testutil.RequireRoot(t)
	v := startVictim(t, "full")
	tid2 := int(v.num(t, "tid", 10))
	tr := ptrace.NewTracer()
	defer tr.Close()
	seize(t, tr, v.pid, tid2)
	rc, err := tr.GetRseqConfiguration(tid2)
	if err != nil || rc.Pointer == 0 {
		t.Fatalf("rseq of the victim thread: %+v, %v", rc, err)
	}
	p, err := Infect(tr, v.pid)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Cure()
	th, err := p.EnterThread(tid2)
	if err != nil {
		t.Fatal(err)
	}
	bad := rc
	bad.Signature++
	if err := th.RseqUnregister(bad); !errors.Is(err, unix.EPERM) {
		t.Errorf("unregister with a wrong signature: %v, want EPERM", err)
	}
	if err := th.RseqUnregister(rc); err != nil {
		t.Fatal(err)
	}
	if err := th.Leave(); err != nil {
		t.Fatal(err)
	}
	if rc, err := tr.GetRseqConfiguration(tid2); err != nil || rc.Pointer != 0 {
		t.Errorf("rseq after unregister: %+v, %v", rc, err)
	}
	if err := p.Cure(); err != nil {
		t.Fatal(err)
	}
	detach(t, tr, v.pid, tid2)
	v.check(t)
}

func TestInjectSyscall(t *testing.T) {
	testutil.RequireRoot(t)
	v := startVictim(t, "full")
	tr := ptrace.NewTracer()
	defer tr.Close()
	seize(t, tr, v.pid)
	s := snapshot(t, tr, v.pid)

	got, err := InjectSyscall(tr, v.pid, unix.SYS_GETPID)
	if err != nil || got != uint64(v.pid) {
		t.Errorf("getpid in victim: %d, %v", got, err)
	}
	got, err = InjectSyscall(tr, v.pid, unix.SYS_GETPPID)
	if err != nil || got != uint64(os.Getpid()) {
		t.Errorf("getppid in victim: %d, %v", got, err)
	}
	_, err = InjectSyscall(tr, v.pid, unix.SYS_CLOSE, 1000)
	var serr *SyscallError
	if !errors.Is(err, unix.EBADF) || !errors.As(err, &serr) {
		t.Errorf("close(1000) in victim: %v, want a SyscallError with EBADF", err)
	}
	if !errors.Is(err, ErrSyscall) || serr.Nr != unix.SYS_CLOSE || serr.Tid != v.pid {
		t.Errorf("close(1000) in victim: %v (%+v), want ErrSyscall, nr %d, tid %d", err, serr, unix.SYS_CLOSE, v.pid)
	}
	s.same(t, tr, v.pid)
	detach(t, tr, v.pid)
	v.check(t)
}

func TestInjectNeedsEventStop(t *testing.T) {
	testutil.RequireRoot(t)
	v := startVictim(t, "full")
	tr := ptrace.NewTracer()
	defer tr.Close()
	seize(t, tr, v.pid)
	// Step to the entry of restart_syscall: a syscall-stop, not an event stop.
	if err := tr.Syscall(v.pid, 0); err != nil {
		t.Fatal(err)
	}
	if st, err := tr.Wait(v.pid); err != nil || st.Kind != ptrace.SyscallStop {
		t.Fatalf("%v, %v", st, err)
	}
	if _, err := InjectSyscall(tr, v.pid, unix.SYS_GETPID); !errors.Is(err, ErrNotEventStop) {
		t.Fatalf("inject from a syscall-stop: %v, want ErrNotEventStop", err)
	}
	detach(t, tr, v.pid)
	v.check(t)
}

// TestSpinningThread infects a thread stopped in user code, not in a
// syscall: the injector borrows the vDSO's syscall instruction, or, with
// the vDSO unmapped, writes one at the thread's IP and restores it.
func TestSpinningThread(t *testing.T) {
	testutil.RequireRoot(t)
	for _, mode := range [][]string{{"spin"}, {"spin", "novdso"}} {
		t.Run(strings.Join(mode, "-"), func(t *testing.T) {
			v := startVictim(t, mode...)
			tr := ptrace.NewTracer()
			defer tr.Close()
			seize(t, tr, v.pid)
			s := snapshot(t, tr, v.pid)
			code := make([]byte, 16)
			if _, err := ptrace.ReadMem(v.pid, s.regs.Rip, code); err != nil {
				t.Fatal(err)
			}
			before := procTrace(t, v.pid)

			in, err := startInjector(tr, v.pid)
			if err != nil {
				t.Fatal(err)
			}
			if err := in.findSite(); err != nil {
				t.Fatal(err)
			}
			if novdso := len(mode) > 1; novdso != (in.patched != nil) {
				t.Errorf("vdso unmapped: %v, but code patched: %v", novdso, in.patched != nil)
			}
			if in.site == s.regs.Rip-2 {
				t.Errorf("a spinning thread stopped right after a syscall instruction")
			}
			if err := in.restore(); err != nil {
				t.Fatal(err)
			}

			p, err := Infect(tr, v.pid)
			if err != nil {
				t.Fatal(err)
			}
			m, err := p.Misc()
			if err != nil || m.Pid != int32(v.pid) {
				t.Errorf("misc %+v, %v", m, err)
			}
			if err := p.Cure(); err != nil {
				t.Fatal(err)
			}
			s.same(t, tr, v.pid)
			after := make([]byte, 16)
			if _, err := ptrace.ReadMem(v.pid, s.regs.Rip, after); err != nil || !bytes.Equal(after, code) {
				t.Errorf("code at rip changed: % x, was % x (%v)", after, code, err)
			}
			if got := procTrace(t, v.pid); got != before {
				t.Errorf("trace left:\n%s\n%s", before, got)
			}
			detach(t, tr, v.pid)
			v.check(t)
		})
	}
}

// TestParasiteCrash breaks the blob in place: the thread that runs it dies
// of SIGILL at once. The crash is reported, the thread is put back, and
// the task runs on.
func TestParasiteCrash(t *testing.T) {
	testutil.RequireRoot(t)
	v := startVictim(t, "full")
	tid2 := int(v.num(t, "tid", 10))
	tr := ptrace.NewTracer()
	defer tr.Close()
	seize(t, tr, v.pid, tid2)
	before := procTrace(t, v.pid)
	s2 := snapshot(t, tr, tid2)

	p, err := Infect(tr, v.pid)
	if err != nil {
		t.Fatal(err)
	}
	saved := slices.Clone(p.mem[:2])
	copy(p.mem, []byte{0x0f, 0x0b}) // ud2
	_, err = p.EnterThread(tid2)
	if !errors.Is(err, ErrParasite) || !strings.Contains(err.Error(), "SIGILL") && !strings.Contains(err.Error(), "illegal instruction") {
		t.Fatalf("entering with a broken blob: %v, want ErrParasite with SIGILL", err)
	}
	copy(p.mem, saved)
	if err := p.Cure(); err != nil {
		t.Fatal(err)
	}
	if after := procTrace(t, v.pid); after != before {
		t.Errorf("trace left:\n%s\n%s", before, after)
	}
	r, err := tr.GetRegs(tid2)
	if err != nil || *r != s2.regs {
		t.Errorf("crashed thread's registers not restored (%v)", err)
	}
	// Detaching discards the pending SIGILL stop.
	detach(t, tr, v.pid, tid2)
	v.check(t)
}

// TestGroupStopped infects a task stopped by SIGSTOP before it was seized:
// the seize trap reports a group stop, and the task stays stopped after the
// cure until SIGCONT.
func TestGroupStopped(t *testing.T) {
	testutil.RequireRoot(t)
	v := startVictim(t, "full")
	tid2 := int(v.num(t, "tid", 10))
	if err := unix.Kill(v.pid, unix.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	waitStopped(t, v.pid, tid2)
	tr := ptrace.NewTracer()
	defer tr.Close()
	for _, tid := range []int{v.pid, tid2} {
		if err := tr.Seize(tid, ptrace.OptTraceSysGood); err != nil {
			t.Fatal(err)
		}
		st, err := tr.InterruptWait(tid)
		if err != nil || st.Kind != ptrace.GroupStop || st.Signal != unix.SIGSTOP {
			t.Fatalf("seize of a stopped thread: %v, %v", st, err)
		}
	}
	s1 := snapshot(t, tr, v.pid)
	p, err := Infect(tr, v.pid)
	if err != nil {
		t.Fatal(err)
	}
	th, err := p.EnterThread(tid2)
	if err != nil {
		t.Fatal(err)
	}
	if ts, err := th.State(); err != nil || ts.Tid != int32(tid2) {
		t.Errorf("thread state %+v, %v", ts, err)
	}
	if err := p.Cure(); err != nil {
		t.Fatal(err)
	}
	s1.same(t, tr, v.pid)
	detach(t, tr, v.pid, tid2)
	waitStopped(t, v.pid, v.pid)
	waitStopped(t, v.pid, tid2)
	if err := unix.Kill(v.pid, unix.SIGCONT); err != nil {
		t.Fatal(err)
	}
	v.check(t)
}

// waitStopped waits until thread tid of pid is in a group stop (state T).
func waitStopped(t *testing.T, pid, tid int) {
	t.Helper()
	for i := 0; ; i++ {
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/stat", pid, tid))
		if err != nil {
			t.Fatal(err)
		}
		if _, rest, _ := strings.Cut(string(stat), ") "); strings.HasPrefix(rest, "T") {
			return
		}
		if i == 1000 {
			t.Fatalf("tid %d did not stop", tid)
		}
		unix.Nanosleep(&unix.Timespec{Nsec: 1e6}, nil)
	}
}

func TestSeccompNeedsSuspend(t *testing.T) {
	testutil.RequireRoot(t)
	v := startVictim(t, "full", "seccomp")
	tr := ptrace.NewTracer()
	defer tr.Close()
	seize(t, tr, v.pid)
	if _, err := InjectSyscall(tr, v.pid, unix.SYS_GETPID); !errors.Is(err, ErrSeccomp) {
		t.Fatalf("inject under seccomp without suspending it: %v, want ErrSeccomp", err)
	}
	if err := tr.SetOptions(v.pid, ptrace.OptTraceSysGood|ptrace.OptSuspendSeccomp); err != nil {
		t.Fatal(err)
	}
	if got, err := InjectSyscall(tr, v.pid, unix.SYS_GETPID); err != nil || got != uint64(v.pid) {
		t.Fatalf("getpid with seccomp suspended: %d, %v", got, err)
	}
	detach(t, tr, v.pid)
	v.check(t)
}
