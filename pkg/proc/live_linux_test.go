package proc

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// These tests read the real /proc of the test process (and of a child it
// starts) and compare with what syscalls say.

var self = os.Getpid()

// TestMain lets the test binary serve as a child process: with
// PROC_TEST_ROLE=sleep it waits until its stdin closes.
func TestMain(m *testing.M) {
	if os.Getenv("PROC_TEST_ROLE") == "sleep" {
		io.Copy(io.Discard, os.Stdin)
		return
	}
	os.Exit(m.Run())
}

func TestLiveStatus(t *testing.T) {
	old := unix.Umask(027)
	st, err := FS{}.Status(self, 0)
	unix.Umask(old)
	if err != nil {
		t.Fatal(err)
	}
	if st.Pid != self || st.Tgid != self || st.PPid != os.Getppid() || st.TracerPid != 0 {
		t.Errorf("ids: %+v", st)
	}
	if st.Uid[0] != uint32(os.Getuid()) || st.Uid[1] != uint32(os.Geteuid()) || st.Gid[0] != uint32(os.Getgid()) {
		t.Errorf("creds: uid %v gid %v", st.Uid, st.Gid)
	}
	if !st.HasUmask || st.Umask != 027 {
		t.Errorf("umask %o (shown %v)", st.Umask, st.HasUmask)
	}
	// The status is the thread group leader's, which sleeps when this test
	// runs on another of the runtime's threads.
	if (st.State != 'R' && st.State != 'S') || st.Threads < 1 || st.SigQueueLimit == 0 || len(st.NSpid) == 0 || st.NSpid[0] != self {
		t.Errorf("status: %+v", st)
	}
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_SIGPENDING, &lim); err != nil || st.SigQueueLimit != lim.Cur {
		t.Errorf("SigQ limit %d, RLIMIT_SIGPENDING %d (%v)", st.SigQueueLimit, lim.Cur, err)
	}
	// The Go runtime catches SIGURG and others.
	if st.SigCgt&(1<<(unix.SIGURG-1)) == 0 {
		t.Errorf("SigCgt %#x lacks SIGURG", st.SigCgt)
	}
	groups, _ := os.Getgroups()
	if len(groups) != len(st.Groups) {
		t.Errorf("groups %v, getgroups %v", st.Groups, groups)
	}
}

func TestLiveThreadStatus(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	tid := unix.Gettid()
	tids, err := FS{}.Tasks(self)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, x := range tids {
		found = found || x == tid
	}
	if !found || tids[0] != self {
		t.Fatalf("tasks %v lack %d or do not start with %d", tids, tid, self)
	}
	st, err := FS{}.Status(self, tid)
	if err != nil {
		t.Fatal(err)
	}
	if st.Pid != tid || st.Tgid != self {
		t.Errorf("thread status: pid %d tgid %d", st.Pid, st.Tgid)
	}
	s, err := FS{}.Stat(self, tid)
	if err != nil || s.Pid != tid {
		t.Errorf("thread stat: %+v %v", s, err)
	}
}

func TestLiveStat(t *testing.T) {
	st, err := FS{}.Stat(self, 0)
	if err != nil {
		t.Fatal(err)
	}
	exe, _ := os.Executable()
	comm := filepath.Base(exe)
	if len(comm) > 15 {
		comm = comm[:15]
	}
	if st.Pid != self || st.PPid != os.Getppid() || st.Comm != comm || st.State != 'R' {
		t.Errorf("stat: %+v (comm want %q)", st, comm)
	}
	pgid, _ := unix.Getpgid(0)
	sid, _ := unix.Getsid(0)
	if st.Pgrp != pgid || st.Session != sid || st.NumThreads < 1 || st.ExitCode != 0 || st.ExitSignal != int(unix.SIGCHLD) {
		t.Errorf("stat: %+v (pgid %d sid %d)", st, pgid, sid)
	}
	if !(st.StartCode < st.EndCode && st.ArgStart < st.ArgEnd && st.ArgEnd <= st.EnvStart && st.EnvStart < st.EnvEnd && st.StartBrk > 0) {
		t.Errorf("mm fields: %+v", st)
	}
}

func TestLiveMaps(t *testing.T) {
	maps, err := FS{}.Maps(self)
	if err != nil {
		t.Fatal(err)
	}
	smaps, err := FS{}.Smaps(self)
	if err != nil {
		t.Fatal(err)
	}
	exe, _ := os.Executable()
	exe, _ = filepath.EvalSymlinks(exe)
	kinds := map[VMAKind]int{}
	exeMapped := false
	for _, v := range maps {
		kinds[v.Kind]++
		exeMapped = exeMapped || v.Path == exe
	}
	if kinds[VMAStack] != 1 || kinds[VMAVdso] != 1 || kinds[VMAVvar] != 1 || !exeMapped {
		t.Errorf("kinds %v, executable %q mapped: %v", kinds, exe, exeMapped)
	}
	// The Go runtime may map memory between the two reads: compare the
	// special mappings only.
	for _, v := range smaps {
		switch v.Kind {
		case VMAVdso:
			if v.VmFlags&(VmRead|VmExec) != VmRead|VmExec || v.Perm != PermRead|PermExec {
				t.Errorf("vdso: %+v", v)
			}
		case VMAStack:
			if v.VmFlags&VmGrowsDown == 0 || v.Rss == 0 {
				t.Errorf("stack: %+v", v)
			}
		}
		if len(v.UnknownVmFlags) != 0 {
			t.Errorf("%s: unknown VmFlags %v", v.Path, v.UnknownVmFlags)
		}
	}
}

func TestLiveFds(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	dir := t.TempDir()
	f, err := os.Create(filepath.Join(dir, "data"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.Write(make([]byte, 1000))
	f.Seek(777, io.SeekStart)
	app, err := os.OpenFile(filepath.Join(dir, "app"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0600)
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	os.Remove(filepath.Join(dir, "app"))

	fds, err := FS{}.Fds(self)
	if err != nil {
		t.Fatal(err)
	}
	byNum := map[int]Fd{}
	for _, fd := range fds {
		byNum[fd.Num] = fd
	}
	rl, wl := byNum[int(r.Fd())].Link, byNum[int(w.Fd())].Link
	if rl.Kind != LinkPipe || rl != wl || rl.Ino == 0 {
		t.Errorf("pipe links %+v %+v", rl, wl)
	}
	if l := byNum[int(f.Fd())].Link; l.Kind != LinkPath || l.Path != f.Name() || l.Deleted {
		t.Errorf("file link %+v", l)
	}
	if l, err := (FS{}).FdLink(self, int(app.Fd())); err != nil || !l.Deleted || l.Path != app.Name() {
		t.Errorf("deleted file link %+v %v", l, err)
	}

	fi, err := FS{}.FdInfo(self, int(r.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Ino != rl.Ino || fi.Flags&unix.O_ACCMODE != unix.O_RDONLY || fi.Flags&unix.O_CLOEXEC == 0 {
		t.Errorf("pipe fdinfo %+v", fi)
	}
	fi, err = FS{}.FdInfo(self, int(f.Fd()))
	var st unix.Stat_t
	unix.Fstat(int(f.Fd()), &st)
	if err != nil || fi.Pos != 777 || fi.Ino != st.Ino || fi.Flags&unix.O_ACCMODE != unix.O_RDWR {
		t.Errorf("file fdinfo %+v %v", fi, err)
	}
	fi, err = FS{}.FdInfo(self, int(app.Fd()))
	if err != nil || fi.Flags&unix.O_APPEND == 0 {
		t.Errorf("append fdinfo %+v %v", fi, err)
	}
	mounts, err := FS{}.Mountinfo(self)
	if err != nil {
		t.Fatal(err)
	}
	var mnt *Mount
	for i := range mounts {
		if mounts[i].ID == fi.MntID {
			mnt = &mounts[i]
		}
	}
	if mnt == nil || mnt.Major != unix.Major(st.Dev) || mnt.Minor != unix.Minor(st.Dev) {
		t.Errorf("mount %d of the file: %+v, file dev %#x", fi.MntID, mnt, st.Dev)
	}
}

func closeLater(t *testing.T, fd int, err error) int {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	return fd
}

func TestLiveFdKinds(t *testing.T) {
	p := FS{}
	efd, err := unix.Eventfd(7, unix.EFD_SEMAPHORE|unix.EFD_NONBLOCK)
	closeLater(t, efd, err)
	fi, err := p.FdInfo(self, efd)
	if err != nil || fi.Eventfd == nil || fi.Eventfd.Count != 7 || !fi.Eventfd.Semaphore || fi.Flags&unix.O_NONBLOCK == 0 {
		t.Errorf("eventfd %+v %v", fi, err)
	}
	if l, _ := p.FdLink(self, efd); l.Kind != LinkAnonInode || l.Type != "eventfd" {
		t.Errorf("eventfd link %+v", l)
	}

	ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	closeLater(t, ep, err)
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLET, Fd: 0x1234, Pad: 0x55}
	if err := unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, efd, &ev); err != nil {
		t.Fatal(err)
	}
	fi, err = p.FdInfo(self, ep)
	var est unix.Stat_t
	unix.Fstat(efd, &est)
	// The kernel always adds EPOLLERR and EPOLLHUP to the registered events.
	want := EpollTarget{Fd: efd, Events: unix.EPOLLIN | unix.EPOLLET | unix.EPOLLERR | unix.EPOLLHUP, Data: 0x55<<32 | 0x1234, Ino: est.Ino, Sdev: uint32(unix.Major(est.Dev)<<20 | unix.Minor(est.Dev))}
	if err != nil || len(fi.Epoll) != 1 || fi.Epoll[0] != want {
		t.Errorf("epoll %+v %v, want %+v", fi, err, want)
	}

	in, err := unix.InotifyInit1(unix.IN_NONBLOCK)
	closeLater(t, in, err)
	dir := t.TempDir()
	wd, err := unix.InotifyAddWatch(in, dir, unix.IN_CREATE|unix.IN_DELETE)
	if err != nil {
		t.Fatal(err)
	}
	var dst unix.Stat_t
	unix.Stat(dir, &dst)
	fi, err = p.FdInfo(self, in)
	if err != nil || len(fi.Inotify) != 1 {
		t.Fatalf("inotify %+v %v", fi, err)
	}
	w := fi.Inotify[0]
	if w.Wd != wd || w.Ino != dst.Ino || w.Mask != unix.IN_CREATE|unix.IN_DELETE || w.Sdev != uint32(unix.Major(dst.Dev)<<20|unix.Minor(dst.Dev)) {
		t.Errorf("inotify watch %+v, want wd %d ino %d", w, wd, dst.Ino)
	}

	var set unix.Sigset_t
	set.Val[0] = 1<<(unix.SIGUSR1-1) | 1<<(unix.SIGHUP-1)
	sfd, err := unix.Signalfd(-1, &set, unix.SFD_CLOEXEC)
	closeLater(t, sfd, err)
	fi, err = p.FdInfo(self, sfd)
	if err != nil || fi.Signalfd == nil || fi.Signalfd.Sigmask != set.Val[0] {
		t.Errorf("signalfd %+v %v", fi, err)
	}

	tfd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, 0)
	closeLater(t, tfd, err)
	its := unix.ItimerSpec{Interval: unix.Timespec{Sec: 5, Nsec: 500}, Value: unix.Timespec{Sec: 100}}
	if err := unix.TimerfdSettime(tfd, 0, &its, nil); err != nil {
		t.Fatal(err)
	}
	fi, err = p.FdInfo(self, tfd)
	if err != nil || fi.Timerfd == nil {
		t.Fatalf("timerfd %+v %v", fi, err)
	}
	tf := fi.Timerfd
	if tf.ClockID != unix.CLOCK_MONOTONIC || tf.Interval != (Timespec{5, 500}) || tf.Value.Sec < 90 || tf.Value.Sec > 100 || tf.Ticks != 0 || tf.SettimeFlags != 0 {
		t.Errorf("timerfd %+v", tf)
	}
}

func TestLiveProcessFiles(t *testing.T) {
	p := FS{}
	auxv, err := p.Auxv(self)
	if err != nil {
		t.Fatal(err)
	}
	at := map[uint64]uint64{}
	for _, e := range auxv {
		at[e.Type] = e.Value
	}
	maps, _ := p.Maps(self)
	var vdso uint64
	for _, v := range maps {
		if v.Kind == VMAVdso {
			vdso = v.Start
		}
	}
	const atPagesz, atUID, atSysinfoEhdr = 6, 11, 33
	if at[atPagesz] != uint64(os.Getpagesize()) || at[atSysinfoEhdr] != vdso || at[atUID] != uint64(os.Getuid()) {
		t.Errorf("auxv %v, vdso at %#x", at, vdso)
	}

	lim, err := p.Limits(self)
	if err != nil {
		t.Fatal(err)
	}
	for i := range NumRlimits {
		var rl unix.Rlimit
		if err := unix.Getrlimit(i, &rl); err != nil {
			t.Fatal(err)
		}
		if lim[i] != (Rlimit{rl.Cur, rl.Max}) {
			t.Errorf("limit %d: %v, getrlimit %v", i, lim[i], rl)
		}
	}

	pers, err := p.Personality(self)
	cur, _, errno := unix.Syscall(unix.SYS_PERSONALITY, 0xffffffff, 0, 0)
	if err != nil || errno != 0 || pers != uint32(cur) {
		t.Errorf("personality %#x (%v), syscall %#x (%v)", pers, err, cur, errno)
	}

	ns, err := p.Namespaces(self)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"net", "mnt", "pid", "user", "uts", "ipc", "cgroup"} {
		var st unix.Stat_t
		if err := unix.Stat("/proc/self/ns/"+name, &st); err != nil {
			t.Fatal(err)
		}
		if ns[name] != st.Ino {
			t.Errorf("ns %s: %d, stat %d", name, ns[name], st.Ino)
		}
	}

	cg, err := p.Cgroups(self)
	if err != nil || len(cg) == 0 || !strings.HasPrefix(cg[len(cg)-1].Path, "/") {
		t.Errorf("cgroups %+v %v", cg, err)
	}

	mounts, err := p.Mountinfo(self)
	if err != nil {
		t.Fatal(err)
	}
	ids := map[int]bool{}
	for _, m := range mounts {
		ids[m.ID] = true
	}
	haveProc := false
	for _, m := range mounts {
		haveProc = haveProc || (m.MountPoint == "/proc" && m.FsType == "proc")
	}
	if !haveProc {
		t.Errorf("no proc mount in %+v", mounts)
	}
}

func TestLiveChildren(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), "PROC_TEST_ROLE=sleep")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		stdin.Close()
		cmd.Wait()
	}()
	child := cmd.Process.Pid

	// Any thread of the Go runtime may have forked it.
	tids, err := FS{}.Tasks(self)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, tid := range tids {
		kids, err := FS{}.Children(self, tid)
		if errors.Is(err, fs.ErrNotExist) {
			continue // the thread exited meanwhile
		}
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range kids {
			found = found || k == child
		}
	}
	if !found {
		t.Errorf("child %d not among the children of %v", child, tids)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		st, err := FS{}.Status(child, 0)
		if err != nil {
			t.Fatal(err)
		}
		if st.PPid != self {
			t.Fatalf("child's PPid %d", st.PPid)
		}
		if st.State == 'S' || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestFSErrors(t *testing.T) {
	root := t.TempDir()
	p := FS{Root: root}
	if _, err := p.Status(42, 0); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing pid: %v", err)
	}
	os.MkdirAll(filepath.Join(root, "42", "task", "43"), 0755)
	os.WriteFile(filepath.Join(root, "42", "task", "43", "stat"), []byte("43 (x) S"), 0644)
	os.WriteFile(filepath.Join(root, "42", "maps"), []byte("1000-2000 rw-p 00000000 00:00 0\nzz\n"), 0644)
	os.Mkdir(filepath.Join(root, "42", "task", "main"), 0755)
	_, err := p.Stat(42, 43)
	if want := "parse " + root + "/42/task/43/stat: "; !errors.Is(err, ErrMissing) || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("stat error %q, want prefix %q", err, want)
	}
	_, err = p.Maps(42)
	if want := "parse " + root + "/42/maps line 2: "; !errors.Is(err, ErrSyntax) || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("maps error %q, want prefix %q", err, want)
	}
	if _, err := p.Tasks(42); !errors.Is(err, ErrSyntax) {
		t.Errorf("bad task entry: %v", err)
	}
	if _, err := (FS{}).Status(-5, 0); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("bad pid: %v", err)
	}
}

func TestLiveValues(t *testing.T) {
	var p FS
	if v, err := p.Sysctl("kernel/pid_max"); err != nil || len(v) != 1 || v[0] < 301 {
		t.Errorf("pid_max: %v, %v", v, err)
	}
	if v, err := p.Sysctl("kernel/sem"); err != nil || len(v) != 4 {
		t.Errorf("kernel/sem: %v, %v", v, err)
	}
	if id, err := p.BootID(); err != nil || len(id) != 36 {
		t.Errorf("boot_id: %q, %v", id, err)
	}
	if c, err := p.Comm(self, 0); err != nil || c == "" || strings.HasSuffix(c, "\n") {
		t.Errorf("comm: %q, %v", c, err)
	}
	if v, err := p.Int(self, "oom_score_adj"); err != nil || v < -1000 || v > 1000 {
		t.Errorf("oom_score_adj: %d, %v", v, err)
	}
	if _, err := p.Loginuid(self); err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("loginuid: %v", err)
	}
	if offs, err := p.TimensOffsets(self); err == nil {
		if len(offs) != 2 {
			t.Errorf("timens_offsets: %+v", offs)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("timens_offsets: %v", err)
	}
	fd, err := unix.PidfdOpen(self, 0)
	if err != nil {
		t.Skipf("pidfd_open: %v", err)
	}
	defer unix.Close(fd)
	if pid, err := p.PidfdPid(self, fd); err != nil || pid != self {
		t.Errorf("pid of our own pidfd: %d, %v; want %d", pid, err, self)
	}
	if !p.HasPid(self) || p.HasPid(1<<30) {
		t.Errorf("HasPid: self %v, 1<<30 %v", p.HasPid(self), p.HasPid(1<<30))
	}
}
