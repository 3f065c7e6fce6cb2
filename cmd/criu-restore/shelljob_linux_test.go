package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/criugo/criugo/internal/testutil"
	"github.com/criugo/criugo/pkg/dump"
	"github.com/criugo/criugo/pkg/proc"
	"github.com/criugo/criugo/pkg/restore"
	"github.com/criugo/criugo/pkg/seize"
)

// The test binary plays two more parts, picked by this variable:
// "restore" is criu-restore itself (main), "shell" is a shell that runs
// its arguments as a foreground job on its terminal (stdin).
const roleEnv = "CRIUGO_TEST_ROLE"

func TestMain(m *testing.M) {
	switch os.Getenv(roleEnv) {
	case "restore":
		main()
		os.Exit(0)
	case "shell":
		os.Exit(shell(os.Args[1:]))
	}
	os.Exit(m.Run())
}

// shell runs args as a job of its own process group, made the
// foreground group of its terminal, and waits for it.
func shell(args []string) int {
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Foreground: true, Ctty: 0}
	if err := cmd.Run(); err != nil {
		fmt.Fprintf(os.Stderr, "shell: %v\n", err)
		return 1
	}
	return 0
}

// openPty opens a pty pair; the slave is no one's controlling terminal.
func openPty(t *testing.T) (master, slave *os.File, index int) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no /dev/ptmx: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	if index, err = unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN); err != nil {
		t.Fatal(err)
	}
	s, err := os.OpenFile("/dev/pts/"+strconv.Itoa(index), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return m, s, index
}

// readUntil reads the master until a line holds want; it returns that line.
func readUntil(t *testing.T, lines *bufio.Reader, want string) string {
	t.Helper()
	got := make(chan string, 1)
	go func() {
		var seen []string
		for {
			l, err := lines.ReadString('\n')
			seen = append(seen, l)
			if strings.Contains(l, want) {
				got <- l
				return
			}
			if err != nil {
				got <- fmt.Sprintf("(none: %v after %q)", err, seen)
				return
			}
		}
	}()
	select {
	case l := <-got:
		if !strings.Contains(l, want) {
			t.Fatalf("terminal: no %q: %s", want, l)
		}
		return l
	case <-time.After(10 * time.Second):
		t.Fatalf("terminal: no %q after 10s", want)
	}
	return ""
}

// TestShellJob checkpoints a job of a shell (a process of the shell's
// session, in a group of its own that is the foreground group of the
// shell's terminal, reading that terminal) with --shell-job, and restores
// it with criu-restore --shell-job from a session of its own on another
// terminal: the job must come back in criu-restore's session, in its own
// group, made the foreground group of criu-restore's terminal, and read a
// line written into that terminal and answer on it. Without --shell-job
// the restore must fail saying to pass it, and with it but no terminal on
// standard input it must fail saying so.
func TestShellJob(t *testing.T) {
	testutil.RequireRoot(t)
	m1, s1, index1 := openPty(t)
	sh := exec.Command(os.Args[0], "/bin/sh", "-c", `echo "ready $$"; read line; echo "got:$line"`)
	sh.Env = append(os.Environ(), roleEnv+"=shell")
	sh.Stdin, sh.Stdout, sh.Stderr = s1, s1, s1
	sh.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := sh.Start(); err != nil {
		t.Fatal(err)
	}
	shellDone := make(chan error, 1)
	go func() { shellDone <- sh.Wait() }()
	defer func() {
		sh.Process.Kill()
		<-shellDone
	}()
	ready := readUntil(t, bufio.NewReader(m1), "ready ")
	job, err := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(ready), "ready ")))
	if err != nil {
		t.Fatalf("job's pid: %q", ready)
	}
	defer unix.Kill(job, unix.SIGKILL)
	st, err := proc.FS{}.Stat(job, 0)
	if err != nil {
		t.Fatal(err)
	}
	if st.Session != sh.Process.Pid || st.Pgrp != job || st.TPgid != job {
		t.Fatalf("job %d: session %d group %d foreground %d, want the shell's %d, its own, its own", job, st.Session, st.Pgrp, st.TPgid, sh.Process.Pid)
	}

	dir := t.TempDir()
	if err := seize.Run(context.Background(), seize.Options{Pid: job, Dir: dir}); err != nil {
		t.Fatal(err)
	}
	if _, err := dump.Dump(context.Background(), dump.Options{Dir: dir, ShellJob: true}); err != nil {
		t.Fatal(err)
	}
	shellDone <- <-shellDone // the job was killed, and its shell is done
	testutil.WaitGone(t, []int{job})

	_, err = run([]string{"criu-restore", "-D", dir}, nil, nil)
	if !errors.Is(err, restore.ErrNotSupported) || !strings.Contains(err.Error(), "pass --shell-job") {
		t.Errorf("restore without --shell-job: %v, want ErrNotSupported saying to pass --shell-job", err)
	}
	null, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer null.Close()
	_, err = run([]string{"criu-restore", "-D", dir, "-j"}, null, nil)
	if !errors.Is(err, restore.ErrNoTerminal) || !errors.Is(err, unix.ENOTTY) {
		t.Errorf("restore --shell-job with /dev/null as standard input: %v, want ErrNoTerminal and ENOTTY", err)
	}
	if _, err := os.Stat("/proc/" + strconv.Itoa(job)); err == nil {
		t.Fatalf("a failed restore left pid %d", job)
	}

	m2, s2, index2 := openPty(t)
	if index2 == index1 {
		t.Fatal("the second pty has the first one's index")
	}
	var log bytes.Buffer
	pidfile := t.TempDir() + "/pid"
	rs := exec.Command(os.Args[0], "-D", dir, "--shell-job", "--pidfile", pidfile)
	rs.Env = append(os.Environ(), roleEnv+"=restore")
	rs.Stdin, rs.Stdout, rs.Stderr = s2, &log, &log
	rs.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := rs.Start(); err != nil {
		t.Fatal(err)
	}
	restoreDone := make(chan error, 1)
	go func() { restoreDone <- rs.Wait() }()
	defer func() {
		unix.Kill(job, unix.SIGKILL)
		rs.Process.Kill()
		<-restoreDone
	}()
	// The job's PID exists from the moment criu-restore forks it, in
	// criu-restore's group and not yet traced: "TracerPid: 0" alone can be
	// that first instant. The pid file comes once every task is restored,
	// while criu-restore still traces them; it lets them go after it made
	// the job's group the foreground one.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		p, perr := os.ReadFile(pidfile)
		b, err := os.ReadFile("/proc/" + strconv.Itoa(job) + "/status")
		if perr == nil && string(p) == strconv.Itoa(job)+"\n" && err == nil && bytes.Contains(b, []byte("TracerPid:\t0\n")) {
			break
		}
		select {
		case err := <-restoreDone:
			restoreDone <- err
			t.Fatalf("criu-restore ended before the job ran: %v: %s", err, log.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("the job did not come back: %s", log.String())
		}
	}
	var s2st unix.Stat_t
	if err := unix.Fstat(int(s2.Fd()), &s2st); err != nil {
		t.Fatal(err)
	}
	st, err = proc.FS{}.Stat(job, 0)
	if err != nil {
		t.Fatal(err)
	}
	if st.Session != rs.Process.Pid || st.Pgrp != job || uint64(st.TtyNr) != s2st.Rdev || st.TPgid != job {
		t.Errorf("restored job: session %d group %d terminal %#x foreground %d, want criu-restore's %d, its own, pts %d (%#x), its own",
			st.Session, st.Pgrp, st.TtyNr, st.TPgid, rs.Process.Pid, index2, s2st.Rdev)
	}
	if fg, err := unix.IoctlGetInt(int(m2.Fd()), unix.TIOCGPGRP); err != nil || fg != job {
		t.Errorf("foreground group of pts %d: %d (%v), want the job's %d", index2, fg, err, job)
	}
	if _, err := m2.WriteString("hello\n"); err != nil {
		t.Fatal(err)
	}
	readUntil(t, bufio.NewReader(m2), "got:hello")
	select {
	case err := <-restoreDone:
		restoreDone <- err
		if err != nil {
			t.Errorf("criu-restore: %v: %s", err, log.String())
		}
	case <-time.After(10 * time.Second):
		t.Errorf("criu-restore did not end with the job: %s", log.String())
	}
}
