package restore

import (
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/criugo/criugo/images"
	"github.com/criugo/criugo/internal/fault"
	"github.com/criugo/criugo/pkg/proc"
)

// restoreMemory gives a created task the memory of its image, reading its
// pages from src, or from its pages file when src is nil. The fds the
// task inherited (criu-restore's, for the root) are closed first, by
// restoreMM's first batch, unless the task shares its parent's fd table;
// the copy of criu-restore's /proc fd a task holds (taskPath) stays for
// its children, forked from it after this (createChild), and goes when
// restoreTask begins.
func (r *restorer) restoreMemory(t *task, p *mmPlan, src io.Reader) (err error) {
	defer func() {
		if err == nil {
			t.memoryIn = true
		}
	}()
	if err := r.moveScratch(t, p); err != nil {
		return err
	}
	if src == nil {
		f, err := r.pages.open(p.pagesID)
		if err != nil {
			return fmt.Errorf("restore pages of pid %d (%s): %w", t.pid, pagemapName(uint32(t.pid)), err)
		}
		defer f.Close()
		src = f
	}
	t.memoryDone = true
	if err := r.restoreMM(t, p, src); err != nil {
		return err
	}
	return fault.At("restore:after-memory")
}

// restoreTask turns a task with its memory restored into the one of its
// images, up to (not including) its final registers and signal mask,
// which finalize sets.
// Process-wide state comes first, from the leader; then the threads are
// created and each gets its own state; credentials come last, since they
// may take away the rights the steps before need.
func (r *restorer) restoreTask(t *task) error {
	p := r.plans[t.pid]
	th := t.threads[0]
	// Every child is forked by now: the copy of criu-restore's /proc fd
	// goes (restoreMemory).
	if keep := uint64(r.procFd); keep > 0 && !r.sharesParentFiles(t) {
		if _, err := r.call(t, th, "close", unix.SYS_CLOSE, keep); err != nil {
			return fmt.Errorf("restore pid %d: %w", t.pid, err)
		}
	}
	if err := r.leaveVdso(t, p); err != nil {
		return err
	}
	// The fds of a table shared with the parent are the parent's, which
	// restored them already (tasks go parents first).
	if !p.filesShared {
		if err := r.restoreFds(t, p); err != nil {
			return err
		}
		if err := fault.At("restore:after-files"); err != nil {
			return err
		}
		if err := r.fillFiles(t, p); err != nil {
			return err
		}
	}
	if err := r.restoreFileLocks(t); err != nil {
		return err
	}
	// umask, cwd and root, sigactions, itimers and the smaller
	// settings: one batch.
	bt := r.batch(t, th)
	if mp := r.mmPlans[t.pid]; mp != nil {
		sealVMAs(t, mp, bt)
	}
	if err := r.restoreFS(t, p, bt); err != nil {
		return err
	}
	if err := r.restoreSigactions(t, bt); err != nil {
		return err
	}
	if err := r.restoreItimers(t, bt); err != nil {
		return err
	}
	if err := r.restoreRlimits(t); err != nil {
		return err
	}
	if err := r.restoreProcessMisc(t, p, bt); err != nil {
		return err
	}
	// Threads are cloned from the leader once it is named: the batch goes
	// first then. A task of one thread has its leader's own calls in it.
	if len(t.tids) > 1 {
		if err := bt.run(); err != nil {
			return err
		}
		if err := r.createThreads(t); err != nil {
			return err
		}
		bt = nil
	}
	for _, th := range t.threads {
		if err := r.restoreThread(t, th, p.core(th.vtid), bt); err != nil {
			return err
		}
	}
	if bt != nil {
		if err := bt.run(); err != nil {
			return err
		}
	}
	// No batch may run from here on (callBatch: a SIGCONT queued now
	// would be lost, and a POSIX timer may send one).
	if err := r.restorePosixTimers(t); err != nil {
		return err
	}
	for _, th := range t.threads {
		if err := r.restoreThreadSignals(t, th, p.core(th.vtid)); err != nil {
			return err
		}
	}
	if err := r.queueSignals(t, th, t.core.GetTc().GetSignalsS(), false); err != nil {
		return err
	}
	if err := r.restoreSeccomp(t); err != nil {
		return err
	}
	for _, th := range t.threads {
		if err := r.restoreCreds(t, th, p.core(th.vtid).GetThreadCore().GetCreds()); err != nil {
			return err
		}
	}
	// Changing credentials resets the dumpable flag.
	if d := p.mm.mm.GetDumpable(); p.mm.mm.Dumpable != nil && (d == 0 || d == 1) {
		if _, err := r.call(t, th, "prctl PR_SET_DUMPABLE", unix.SYS_PRCTL, unix.PR_SET_DUMPABLE, uint64(d)); err != nil {
			return fmt.Errorf("restore dumpable flag of pid %d: %w", t.pid, err)
		}
	}
	return nil
}

// restoreFS sets the umask and the working directory, with calls added
// to bt.
func (r *restorer) restoreFS(t *task, p *taskPlan, bt *callBatch) error {
	name := fsName(uint32(t.pid))
	if p.fs.Umask != nil && !(r.own.st.HasUmask && r.own.st.Umask == p.fs.GetUmask()) {
		bt.onError(bt.add("umask", unix.SYS_UMASK, uint64(p.fs.GetUmask())), func(err error) error {
			return fmt.Errorf("restore umask of pid %d (%s): %w", t.pid, name, err)
		})
	}
	cwd, err := r.files.entry(p.fs.GetCwdId())
	if err != nil {
		return fmt.Errorf("restore cwd of pid %d (%s): %w", t.pid, name, err)
	}
	// A directory deleted while it was the cwd comes back as a ghost.
	dir, err := r.files.regPath(cwd.GetReg())
	if err != nil {
		return fmt.Errorf("restore cwd of pid %d (%s): %w", t.pid, name, err)
	}
	bt.onError(bt.add("chdir", unix.SYS_CHDIR, bt.cstring(r.taskView(dir))), func(err error) error {
		return fmt.Errorf("restore cwd %s of pid %d (%s): %w", cwd.GetReg().GetName(), t.pid, name, err)
	})
	return r.restoreRoot(t, p, bt)
}

// restoreRoot chroots a task whose root was not criu-restore's, as CRIU
// does, once its cwd is set (both paths are as criu-restore sees them)
// and every step that has the task open a path by name is done.
func (r *restorer) restoreRoot(t *task, p *taskPlan, bt *callBatch) error {
	name := fsName(uint32(t.pid))
	root, err := r.files.entry(p.fs.GetRootId())
	if err != nil || root.GetReg() == nil {
		return fmt.Errorf("restore root of pid %d (%s): %w", t.pid, name, ErrBadImage)
	}
	dir, err := r.files.regPath(root.GetReg())
	if err != nil {
		return fmt.Errorf("restore root of pid %d (%s): %w", t.pid, name, err)
	}
	if dir = r.taskView(dir); dir == "/" {
		return nil
	}
	bt.onError(bt.add("chroot", unix.SYS_CHROOT, bt.cstring(dir)), func(err error) error {
		return fmt.Errorf("restore root %s of pid %d (%s): %w", root.GetReg().GetName(), t.pid, name, err)
	})
	return nil
}

// restoreItimers arms the interval timers that were armed.
func (r *restorer) restoreItimers(t *task, bt *callBatch) error {
	tm := t.core.GetTc().GetTimers()
	if tm == nil {
		return nil
	}
	for which, it := range []*images.ItimerEntry{tm.GetReal(), tm.GetVirt(), tm.GetProf()} {
		if it == nil || it.GetIsec()|it.GetIusec()|it.GetVsec()|it.GetVusec() == 0 {
			continue
		}
		val := bt.u64s(it.GetIsec(), it.GetIusec(), it.GetVsec(), it.GetVusec())
		bt.onError(bt.add("setitimer", unix.SYS_SETITIMER, uint64(which), val, 0), func(err error) error {
			return fmt.Errorf("restore itimer %d of pid %d: %w", which, t.pid, err)
		})
	}
	return nil
}

// restorePosixTimers recreates POSIX timers with their ids
// (PR_TIMER_CREATE_RESTORE_IDS), then arms them.
func (r *restorer) restorePosixTimers(t *task) error {
	timers := t.core.GetTc().GetTimers().GetPosix()
	if len(timers) == 0 {
		return nil
	}
	th := t.threads[0]
	if _, err := r.call(t, th, "prctl PR_TIMER_CREATE_RESTORE_IDS", unix.SYS_PRCTL, unix.PR_TIMER_CREATE_RESTORE_IDS, unix.PR_TIMER_CREATE_RESTORE_IDS_ON); err != nil {
		return fmt.Errorf("restore posix timers of pid %d: %w", t.pid, err)
	}
	for _, pt := range timers {
		b := newScratchBuf(t.scratch)
		// struct sigevent: value, signo, notify, tid (for SIGEV_THREAD_ID), padding to 64 bytes.
		ev := make([]byte, 64)
		binary.LittleEndian.PutUint64(ev[0:], pt.GetSivalPtr())
		binary.LittleEndian.PutUint32(ev[8:], pt.GetSiSigno())
		binary.LittleEndian.PutUint32(ev[12:], pt.GetItSigevNotify())
		binary.LittleEndian.PutUint32(ev[16:], uint32(pt.GetNotifyThreadId()))
		evp := b.put(ev)
		idp := b.u64s(uint64(pt.GetItId()))
		spec := b.u64s(pt.GetIsec(), pt.GetInsec(), pt.GetVsec(), pt.GetVnsec())
		if err := b.flush(t.real); err != nil {
			return err
		}
		if _, err := r.call(t, th, "timer_create", unix.SYS_TIMER_CREATE, uint64(pt.GetClockId()), evp, idp); err != nil {
			return fmt.Errorf("restore posix timer %d of pid %d: %w", pt.GetItId(), t.pid, err)
		}
		got := make([]byte, 4)
		if err := readMemFull(t.real, idp, got); err != nil {
			return err
		}
		if id := binary.LittleEndian.Uint32(got); id != pt.GetItId() {
			return fmt.Errorf("restore posix timer %d of pid %d: created as %d", pt.GetItId(), t.pid, id)
		}
		if _, err := r.call(t, th, "timer_settime", unix.SYS_TIMER_SETTIME, uint64(pt.GetItId()), 0, spec, 0); err != nil {
			return fmt.Errorf("restore posix timer %d of pid %d: %w", pt.GetItId(), t.pid, err)
		}
	}
	if _, err := r.call(t, th, "prctl PR_TIMER_CREATE_RESTORE_IDS", unix.SYS_PRCTL, unix.PR_TIMER_CREATE_RESTORE_IDS, unix.PR_TIMER_CREATE_RESTORE_IDS_OFF); err != nil {
		return fmt.Errorf("restore posix timers of pid %d: %w", t.pid, err)
	}
	return nil
}

// rlimitNames name the resources in errors.
var rlimitNames = []string{"CPU", "FSIZE", "DATA", "STACK", "CORE", "RSS", "NPROC", "NOFILE",
	"MEMLOCK", "AS", "LOCKS", "SIGPENDING", "MSGQUEUE", "NICE", "RTPRIO", "RTTIME"}

// restoreRlimits sets the resource limits from criu-restore with
// prlimit(): the task still has criu-restore's credentials. Raising a hard
// limit needs CAP_SYS_RESOURCE, and fails without it.
func (r *restorer) restoreRlimits(t *task) error {
	for i, rl := range t.core.GetTc().GetRlimits().GetRlimits() {
		if i >= len(rlimitNames) {
			break
		}
		var old unix.Rlimit
		if err := unix.Prlimit(t.real, i, nil, &old); err != nil {
			return fmt.Errorf("read RLIMIT_%s of pid %d: %w", rlimitNames[i], t.pid, err)
		}
		want := unix.Rlimit{Cur: rl.GetCur(), Max: rl.GetMax()}
		if want == old {
			continue
		}
		if err := unix.Prlimit(t.real, i, &want, nil); err != nil {
			return fmt.Errorf("restore RLIMIT_%s of pid %d to %d/%d (now %d/%d): %w", rlimitNames[i], t.pid, want.Cur, want.Max, old.Cur, old.Max, err)
		}
	}
	return nil
}

// restoreProcessMisc restores the smaller process-wide settings.
// Its calls go into bt.
func (r *restorer) restoreProcessMisc(t *task, p *taskPlan, bt *callBatch) error {
	tc := t.core.GetTc()
	add := func(what, name string, nr uintptr, args ...uint64) {
		bt.onError(bt.add(name, nr, args...), func(err error) error {
			return fmt.Errorf("restore %s of pid %d: %w", what, t.pid, err)
		})
	}
	add("name", "prctl PR_SET_NAME", unix.SYS_PRCTL, unix.PR_SET_NAME, bt.cstring(threadComm(t.core, t.core)))
	pers, criuSpelling, err := imagePersonality(tc.GetPersonality())
	if err != nil {
		return fmt.Errorf("read %s: %w", coreName(uint32(t.pid)), err)
	}
	if criuSpelling {
		r.logf("pid %d: personality %d in the image is CRIU's decimal spelling of %#x", t.pid, tc.GetPersonality(), pers)
	}
	if pers != r.own.personality {
		add("personality", "personality", unix.SYS_PERSONALITY, pers)
	}
	if tc.GetChildSubreaper() {
		add("child subreaper", "prctl PR_SET_CHILD_SUBREAPER", unix.SYS_PRCTL, unix.PR_SET_CHILD_SUBREAPER, 1)
	}
	if p.mm.mm.GetThpDisabled() {
		add("THP setting", "prctl PR_SET_THP_DISABLE", unix.SYS_PRCTL, unix.PR_SET_THP_DISABLE, 1, 0, 0, 0)
	}
	for bit := 0; bit < 32; bit++ {
		if tc.GetMembarrierRegistrationMask()&(1<<bit) == 0 {
			continue
		}
		add(fmt.Sprintf("membarrier registration %#x", 1<<bit), "membarrier", unix.SYS_MEMBARRIER, 1<<bit, 0, 0)
	}
	if tc.OomScoreAdj != nil {
		if err := writeProc(t.real, "oom_score_adj", strconv.Itoa(int(tc.GetOomScoreAdj()))); err != nil {
			return err
		}
	}
	if tc.Loginuid != nil {
		cur, err := proc.FS{}.Loginuid(t.real)
		if err != nil {
			return fmt.Errorf("read loginuid of pid %d: %w", t.pid, err)
		}
		// The core keeps it as the tree's user namespace sees it; /proc
		// shows and takes it as criu-restore's does.
		if host := r.hostLoginuid(tc.GetLoginuid()); cur != host && r.userns != nil {
			want := strconv.FormatUint(uint64(host), 10)
			if err := writeProc(t.real, "loginuid", want); err != nil {
				return err
			}
		} else if cur != host {
			// Only the task itself may write its loginuid (the
			// kernel's proc_loginuid_write): it opens and writes
			// /proc/self/loginuid.
			want := strconv.FormatUint(uint64(host), 10)
			wrap := func(err error) error { return fmt.Errorf("restore loginuid %s of pid %d: %w", want, t.pid, err) }
			o := bt.add("openat /proc/self/loginuid", unix.SYS_OPENAT, atFDCWD, bt.cstring("/proc/self/loginuid"), unix.O_WRONLY|unix.O_CLOEXEC)
			bt.onError(o, wrap)
			w := bt.add("write loginuid", unix.SYS_WRITE, 0, bt.put([]byte(want)), uint64(len(want)))
			bt.ref(w, 0, o)
			bt.onError(w, wrap)
			c := bt.add("close", unix.SYS_CLOSE, 0)
			bt.ref(c, 0, o)
		}
	}
	return nil
}

func writeProc(pid int, file, val string) error {
	p := proc.FS{}.Path(pid, 0, file)
	if err := os.WriteFile(p, []byte(val), 0); err != nil {
		return fmt.Errorf("restore %s of pid %d: %w", file, pid, err)
	}
	return nil
}
