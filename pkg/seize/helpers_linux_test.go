package seize

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// roleEnv makes the test binary, re-executed, play a part in a test tree
// instead of running tests.
const roleEnv = "CRIUGO_SEIZE_TEST_ROLE"

func TestMain(m *testing.M) {
	if role := os.Getenv(roleEnv); role != "" {
		os.Exit(playRole(role, os.Args[1:]))
	}
	os.Exit(m.Run())
}

// playRole runs one part of a test tree. Every part counts into a file so
// a test can tell whether it runs, and keeps a few extra threads.
//
//	counter FILE       count into FILE
//	tree DIR           session leader: child a (counter), child b in its own
//	                   process group with child c (counter), a zombie child;
//	                   counts into DIR/root
//	group DIR          start c, count into DIR/b
//	forker FILE        fork shells that fork sleeps, and make and end
//	                   threads, without pause; count into FILE
//	rawforker FILE     one thread, named rawforker, forks children that exit
//	                   at once and reaps them, with fork(2) itself (Go's own
//	                   fork is a vfork); count into FILE
func playRole(role string, args []string) int {
	if len(args) < 1 {
		return 2
	}
	switch role {
	case "counter":
	case "tree":
		dir := args[0]
		spawn("counter", filepath.Join(dir, "a"), nil)
		spawn("group", dir, &syscall.SysProcAttr{Setpgid: true})
		z := exec.Command("/bin/true")
		if z.Start() != nil { // never waited for: a zombie
			return 1
		}
		args = []string{filepath.Join(dir, "root")}
	case "group":
		dir := args[0]
		spawn("counter", filepath.Join(dir, "c"), nil)
		args = []string{filepath.Join(dir, "b")}
	case "forker":
		go func() {
			for {
				c := exec.Command("/bin/sh", "-c", "sleep 0.05; true")
				if c.Start() == nil {
					go c.Wait()
				}
				go func() {
					runtime.LockOSThread() // the thread ends with the goroutine
					time.Sleep(time.Millisecond)
				}()
				time.Sleep(200 * time.Microsecond)
			}
		}()
	case "rawforker":
		go rawFork()
	default:
		return 2
	}
	for i := 0; i < 3; i++ {
		go func() {
			runtime.LockOSThread()
			for {
				time.Sleep(time.Millisecond)
			}
		}()
	}
	count(args[0])
	return 0
}

// rawFork forks and reaps children without pause from a thread of its own.
// A child only calls exit_group, so no Go code runs in it. The loop makes
// raw system calls only: a test that lets this thread alone run while the
// others are stopped must not find it waiting for the Go scheduler (a P
// held by a stopped thread), as syscall.Wait4 made it now and then.
func rawFork() {
	runtime.LockOSThread()
	os.WriteFile(fmt.Sprintf("/proc/self/task/%d/comm", unix.Gettid()), []byte("rawforker"), 0)
	for {
		pid, _, errno := syscall.RawSyscall(syscall.SYS_FORK, 0, 0, 0)
		if errno != 0 {
			continue
		}
		if pid == 0 {
			syscall.RawSyscall(syscall.SYS_EXIT_GROUP, 0, 0, 0)
		}
		syscall.RawSyscall6(syscall.SYS_WAIT4, pid, 0, 0, 0, 0, 0)
	}
}

func spawn(role, arg string, attr *syscall.SysProcAttr) {
	c := exec.Command(os.Args[0], arg)
	c.Env = append(os.Environ(), roleEnv+"="+role)
	c.SysProcAttr = attr
	if err := c.Start(); err != nil {
		os.Exit(1)
	}
}

// count writes 1, 2, 3, ... into file, one number every 2 ms.
func count(file string) {
	f, err := os.Create(file)
	if err != nil {
		os.Exit(1)
	}
	for i := 1; ; i++ {
		f.WriteAt([]byte(fmt.Sprintf("%020d", i)), 0)
		time.Sleep(2 * time.Millisecond)
	}
}

// startRole starts the test binary in role, as a session leader, and kills
// its whole tree when the test ends.
func startRole(t *testing.T, role, arg string) *exec.Cmd {
	t.Helper()
	c := exec.Command(os.Args[0], arg)
	c.Env = append(os.Environ(), roleEnv+"="+role)
	c.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, pid := range descendants(c.Process.Pid) {
			syscall.Kill(pid, syscall.SIGKILL)
		}
		c.Process.Kill()
		c.Wait()
	})
	return c
}

// counter reads a count file; 0 when it does not exist yet.
func counter(t *testing.T, file string) int {
	t.Helper()
	b, err := os.ReadFile(file)
	if errors.Is(err, os.ErrNotExist) || len(b) == 0 {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(strings.TrimLeft(string(b), "0"))
	if err != nil {
		return 0
	}
	return n
}

// waitFor polls cond until it holds or d passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// waitCounting waits until file's count moves.
func waitCounting(t *testing.T, file string) {
	t.Helper()
	first := counter(t, file)
	waitFor(t, 5*time.Second, file+" to count", func() bool { return counter(t, file) > first })
}

// assertStill checks that file's count does not move for a while.
func assertStill(t *testing.T, file string) {
	t.Helper()
	a := counter(t, file)
	time.Sleep(60 * time.Millisecond)
	if b := counter(t, file); a != b {
		t.Errorf("%s counts on while frozen: %d -> %d", file, a, b)
	}
}

// descendants lists pid and every task under it, parent before children.
func descendants(pid int) []int {
	out := []int{}
	queue := []int{pid}
	seen := map[int]bool{}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		if seen[p] {
			continue
		}
		seen[p] = true
		out = append(out, p)
		tids, err := listThreads(p)
		if err != nil {
			continue
		}
		kids, _ := readChildren(p, tids)
		queue = append(queue, kids...)
	}
	return out
}

// threadStates returns the state letter of every thread of pid.
func threadStates(pid int) map[int]byte {
	out := map[int]byte{}
	tids, _ := listThreads(pid)
	for _, tid := range tids {
		if st, err := readStat(pid, tid); err == nil {
			out[tid] = st.State
		}
	}
	return out
}

// assertFrozen checks that every thread of every task under root is in a
// stop ('T' or 't'), or that the task is a zombie.
func assertFrozen(t *testing.T, root int) {
	t.Helper()
	for _, pid := range descendants(root) {
		for tid, s := range threadStates(pid) {
			if s != 'T' && s != 't' && s != 'Z' {
				t.Errorf("%s runs (state %c)", taskName(pid, tid), s)
			}
		}
	}
}

// assertNotStopped checks that no thread under root is stopped.
func assertNotStopped(t *testing.T, root int) {
	t.Helper()
	for _, pid := range descendants(root) {
		for tid, s := range threadStates(pid) {
			if s == 'T' || s == 't' {
				t.Errorf("%s is still stopped", taskName(pid, tid))
			}
		}
	}
}

// freePid returns a pid no task has: that of a child that has been reaped.
func freePid(t *testing.T) int {
	t.Helper()
	c := exec.Command("/bin/true")
	if err := c.Run(); err != nil {
		t.Fatal(err)
	}
	return c.Process.Pid
}

// otherThread returns a tid of the test process that is not its pid.
func otherThread(t *testing.T) int {
	t.Helper()
	tids, err := listThreads(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(tids, func(tid int) bool { return tid != os.Getpid() })
	if i < 0 {
		t.Skip("test process has one thread")
	}
	return tids[i]
}
