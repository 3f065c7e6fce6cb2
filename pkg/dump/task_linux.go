package dump

import (
	"errors"
	"fmt"
	"sort"

	"golang.org/x/sys/unix"

	"github.com/criugo/criugo/images"
	"github.com/criugo/criugo/pkg/image"
	"github.com/criugo/criugo/pkg/proc"
	"github.com/criugo/criugo/pkg/ptrace"
)

// taskDump is a task while it is being dumped.
type taskDump struct {
	*task
	stat    *proc.Stat
	status  *proc.Status
	threads []*threadState
	maps    []mapping
	guards  []proc.Span // guard regions (MADV_GUARD_INSTALL), by address
	// cow: private pages present but not exclusive to the task (shared
	// copy-on-write with a parent or child), by address; read through
	// /proc/PID/mem, which does not unshare them (see taskMem).
	cow     []proc.Span
	plan    *pagePlan
	pagesID uint32
	para    parasiteState
	ids     *images.TaskKobjIdsEntry
	// filesShared: the fd table is the one of an earlier task, whose
	// fdinfo image holds it.
	filesShared bool
	fdinfo      []*images.FdinfoEntry
	posixTimers []*images.PosixTimerEntry
	pidfd       int
}

func (t *taskDump) close() {
	if t.pidfd >= 0 {
		unix.Close(t.pidfd)
		t.pidfd = -1
	}
}

// kcmp types (linux/kcmp.h).
const (
	kcmpFile    = 0
	kcmpVM      = 1
	kcmpFiles   = 2
	kcmpFS      = 3
	kcmpSighand = 4
)

func kcmpOf(typ int) kcmpFunc {
	return func(pid1, pid2, idx1, idx2 int) (int, bool, error) {
		r, _, errno := unix.Syscall6(unix.SYS_KCMP, uintptr(pid1), uintptr(pid2), uintptr(typ), uintptr(idx1), uintptr(idx2), 0)
		if errno != 0 {
			return 0, false, fmt.Errorf("kcmp(%d, %d, %d): %w", pid1, pid2, typ, errno)
		}
		// 0 equal, 1 less, 2 greater, 3 different but not ordered.
		switch r {
		case 0:
			return 0, false, nil
		case 1:
			return -1, false, nil
		case 2:
			return 1, false, nil
		}
		return 1, true, nil
	}
}

// nsNames are the namespaces of task_kobj_ids_entry, by /proc/PID/ns name.
var nsNames = []string{"pid", "net", "ipc", "uts", "mnt", "user", "cgroup", "time"}

// seedNamespaces gives criu-parasite's own namespaces (criu-seize's, which
// share them) the ids inventory.img's root_ids gave them.
func (d *dumper) seedNamespaces(ri *images.TaskKobjIdsEntry) error {
	ns, err := d.fs.OwnNamespaces()
	if err != nil {
		return fmt.Errorf("read own namespaces: %w", err)
	}
	if ri == nil {
		return nil
	}
	ids := map[string]uint32{
		"pid": ri.GetPidNsId(), "net": ri.GetNetNsId(), "ipc": ri.GetIpcNsId(), "uts": ri.GetUtsNsId(),
		"mnt": ri.GetMntNsId(), "user": ri.GetUserNsId(), "cgroup": ri.GetCgroupNsId(), "time": ri.GetTimeNsId(),
	}
	for _, name := range nsNames {
		if ino, ok := ns[name]; ok && ids[name] != 0 {
			d.ns.seed(name, ino, ids[name])
		}
	}
	return nil
}

// taskIDs computes ids-PID.img: shared kernel objects by kcmp, namespaces
// by inode.
func (d *dumper) taskIDs(t *taskDump) error {
	e := &images.TaskKobjIdsEntry{}
	var isNew bool
	var err error
	set := func(tree *kidTree, dst **uint32) {
		if err != nil {
			return
		}
		var id uint32
		id, isNew, err = tree.id(t.pid, 0, 0)
		*dst = ptr(id)
	}
	set(d.vmIDs, &e.VmId)
	set(d.filesTree, &e.FilesId)
	t.filesShared = err == nil && !isNew
	set(d.fsTree, &e.FsId)
	if err == nil && !isNew {
		// As CRIU ("Can't make FS id"): the restore gives each task an
		// fs of its own, which would part what CLONE_FS joined.
		return fmt.Errorf("pid %d shares its working directory, root and umask with another task (CLONE_FS): %w", t.pid, ErrNotSupported)
	}
	set(d.sighandIDs, &e.SighandId)
	if err != nil {
		return fmt.Errorf("compare objects of pid %d: %w", t.pid, err)
	}
	ns, err := d.fs.Namespaces(t.pid)
	if err != nil {
		return fmt.Errorf("read namespaces of pid %d: %w", t.pid, err)
	}
	dst := map[string]**uint32{
		"pid": &e.PidNsId, "net": &e.NetNsId, "ipc": &e.IpcNsId, "uts": &e.UtsNsId,
		"mnt": &e.MntNsId, "user": &e.UserNsId, "cgroup": &e.CgroupNsId, "time": &e.TimeNsId,
	}
	for _, name := range nsNames {
		if ino, ok := ns[name]; ok {
			*dst[name] = ptr(d.ns.id(name, ino))
		}
	}
	t.ids = e
	return nil
}

// readThread records what ptrace and /proc tell of one stopped thread.
func (d *dumper) readThread(t *taskDump, tid, nsTid int) (*threadState, error) {
	th := &threadState{tid: tid, nsTid: nsTid}
	regs, err := d.tr.GetRegs(tid)
	if err != nil {
		return nil, fmt.Errorf("read registers of tid %d: %w", tid, err)
	}
	th.regs = *regs
	if th.xsave, err = d.tr.GetFPRegs(tid); err != nil {
		return nil, fmt.Errorf("read FPU state of tid %d: %w", tid, err)
	}
	if th.blocked, err = d.tr.GetSigmask(tid); err != nil {
		return nil, fmt.Errorf("read signal mask of tid %d: %w", tid, err)
	}
	pending, err := d.tr.PeekSiginfo(tid, false)
	if err != nil {
		return nil, fmt.Errorf("read pending signals of tid %d: %w", tid, err)
	}
	th.pending = d.ourSignalsOut(pending, d.recSigpnd(t, tid))
	if th.rseq, err = d.tr.GetRseqConfiguration(tid); err != nil {
		return nil, fmt.Errorf("read rseq of tid %d: %w", tid, err)
	}
	if th.rseqCS, err = readRseqCS(t.pid, th.rseq); err != nil {
		return nil, fmt.Errorf("tid %d: %w", tid, err)
	}
	if th.status, err = d.fs.Status(t.pid, tid); err != nil {
		return nil, fmt.Errorf("read status of tid %d: %w", tid, err)
	}
	if th.comm, err = d.fs.Comm(t.pid, tid); err != nil {
		return nil, fmt.Errorf("read comm of tid %d: %w", tid, err)
	}
	if err := schedOf(th); err != nil {
		return nil, err
	}
	if th.futexRLA, th.futexRLALen, err = robustList(tid); err != nil {
		return nil, fmt.Errorf("read robust futex list of tid %d: %w", tid, err)
	}
	return th, nil
}

// recSigpnd is the thread's pending set when criu-seize froze it.
func (d *dumper) recSigpnd(t *taskDump, tid int) uint64 {
	for _, th := range t.fr.GetThreads() {
		if int(th.GetTid()) == tid {
			return th.GetSigpnd()
		}
	}
	return 0
}

// ourSignalsOut drops from a queue the SIGCONT and SIGCHLD our freeze and
// resume raised (a signal of those kinds not pending before the freeze).
// They are only left queued when every thread blocks them.
func (d *dumper) ourSignalsOut(q []ptrace.Siginfo, before uint64) []ptrace.Siginfo {
	out := q[:0]
	for _, si := range q {
		sig := int(si.Signo())
		if (sig == sigCont || sig == sigChld) && before&sigBit(sig) == 0 {
			continue
		}
		out = append(out, si)
	}
	return out
}

// schedOf reads the thread's scheduling policy, RT priority and nice.
func schedOf(th *threadState) error {
	pol, _, errno := unix.Syscall(unix.SYS_SCHED_GETSCHEDULER, uintptr(th.tid), 0, 0)
	if errno != 0 {
		return fmt.Errorf("read scheduler of tid %d: %w", th.tid, errno)
	}
	th.schedPolicy = uint32(pol)
	if p := th.schedPolicy &^ schedResetOnFork; p == schedFIFO || p == schedRR {
		prio, err := schedParam(th.tid)
		if err != nil {
			return err
		}
		th.schedPrio = prio
	}
	// The raw syscall returns 20 - nice.
	raw, err := unix.Getpriority(unix.PRIO_PROCESS, th.tid)
	if err != nil {
		return fmt.Errorf("read nice of tid %d: %w", th.tid, err)
	}
	th.nice = int32(20 - raw)
	return nil
}

// readThreads reads every thread of t, then what the thread itself must
// be asked, by the parasite: process-wide state, sigaltstack,
// parent-death signal, clear_child_tid, securebits.
func (d *dumper) readThreads(t *taskDump) error {
	for i, tid := range t.tids {
		th, err := d.readThread(t, tid, int(t.fr.GetThreads()[i].GetNsTid()))
		if err != nil {
			return err
		}
		t.threads = append(t.threads, th)
	}
	timers, err := d.fs.Timers(t.pid)
	if err != nil {
		return fmt.Errorf("read posix timers of pid %d: %w", t.pid, err)
	}
	// Recent kernels list the newest timer first. CRIU writes them by id:
	// without PR_TIMER_CREATE_RESTORE_IDS its restore can only recreate
	// the ids in rising order, creating and deleting the ones between.
	sort.Slice(timers, func(i, j int) bool { return timers[i].ID < timers[j].ID })
	ids := make([]int32, len(timers))
	for i, tm := range timers {
		ids[i] = int32(tm.ID)
	}
	if t.para, err = runParasite(d.tr, t.pid, t.threads, ids); err != nil {
		return err
	}
	for _, th := range t.threads {
		if err := fixRseq(d.tr, th); err != nil {
			return err
		}
	}
	t.posixTimers = nil
	for i, tm := range timers {
		pt := t.para.timers[i]
		if pt.Ret != 0 {
			return fmt.Errorf("read posix timer %d of pid %d: %w", tm.ID, t.pid, unix.Errno(-pt.Ret))
		}
		e := &images.PosixTimerEntry{
			ItId:          ptr(uint32(tm.ID)),
			ClockId:       ptr(uint32(tm.ClockID)),
			SiSigno:       ptr(uint32(tm.Signal)),
			ItSigevNotify: ptr(uint32(tm.Notify)),
			SivalPtr:      ptr(tm.Sigval),
			Overrun:       ptr(uint32(pt.Overrun)),
			Isec:          ptr(uint64(pt.IntervalSec)),
			Insec:         ptr(uint64(pt.IntervalNsec)),
			Vsec:          ptr(uint64(pt.ValueSec)),
			Vnsec:         ptr(uint64(pt.ValueNsec)),
		}
		if tm.Notify&proc.SigevThreadID != 0 {
			e.NotifyThreadId = ptr(int32(tm.NotifyPid))
		}
		t.posixTimers = append(t.posixTimers, e)
	}
	return nil
}

// rlimits reads the task's resource limits: prlimit64 from here, or
// /proc/PID/limits when the kernel refuses (another uid, and no
// CAP_SYS_RESOURCE).
func (d *dumper) rlimits(pid int) ([]*images.RlimitEntry, error) {
	const nlimits = 16
	out := make([]*images.RlimitEntry, 0, nlimits)
	for r := range nlimits {
		var lim unix.Rlimit
		if err := unix.Prlimit(pid, r, nil, &lim); err != nil {
			if !errors.Is(err, unix.EPERM) {
				return nil, fmt.Errorf("read rlimit %d of pid %d: %w", r, pid, err)
			}
			return d.rlimitsProc(pid)
		}
		out = append(out, &images.RlimitEntry{Cur: ptr(lim.Cur), Max: ptr(lim.Max)})
	}
	return out, nil
}

func (d *dumper) rlimitsProc(pid int) ([]*images.RlimitEntry, error) {
	ls, err := d.fs.Limits(pid)
	if err != nil {
		return nil, fmt.Errorf("read limits of pid %d: %w", pid, err)
	}
	out := make([]*images.RlimitEntry, 0, len(ls))
	for _, l := range ls {
		out = append(out, &images.RlimitEntry{Cur: ptr(l.Cur), Max: ptr(l.Max)})
	}
	return out, nil
}

// taskCore gathers the leader-only part of the core image.
func (d *dumper) taskCore(t *taskDump) (*taskCore, error) {
	tc := &taskCore{
		state:       images.TaskAlive,
		personality: t.para.misc.Personality,
		flags:       t.stat.Flags,
		comm:        t.stat.Comm,
		itimers:     t.para.itimers,
		posixTimers: t.posixTimers,
		sigactions:  t.para.sigactions,
		subreaper:   t.para.misc.ChildSubreaper != 0,
	}
	if t.stopped {
		tc.state = images.TaskStopped
		tc.stopSigno = uint32(t.stopSig)
	}
	var err error
	if tc.rlimits, err = d.rlimits(t.pid); err != nil {
		return nil, err
	}
	shared, err := d.tr.PeekSiginfo(t.pid, true)
	if err != nil {
		return nil, fmt.Errorf("read shared pending signals of pid %d: %w", t.pid, err)
	}
	tc.shared = d.ourSignalsOut(shared, t.fr.GetShdpnd())
	if v, err := d.fs.Int(t.pid, "loginuid"); err == nil {
		tc.loginuid, tc.hasLoginuid = uint32(v), true
	}
	if v, err := d.fs.Int(t.pid, "oom_score_adj"); err == nil {
		tc.oomScoreAdj, tc.hasOom = int32(v), true
	}
	return tc, nil
}

// cores builds the core image of every thread of t.
func (d *dumper) cores(t *taskDump) error {
	tc, err := d.taskCore(t)
	if err != nil {
		return err
	}
	cgSet, err := d.taskCgSet(t)
	if err != nil {
		return err
	}
	tc.cgSet = cgSet
	for i, th := range t.threads {
		var core *images.CoreEntry
		if i == 0 {
			core, err = leaderCore(tc, th)
		} else {
			core, err = threadOnlyCore(th, cgSet)
		}
		if err == nil {
			err = d.userns.insideCore(th.tid, core)
		}
		if err != nil {
			return fmt.Errorf("core of tid %d: %w", th.tid, err)
		}
		img, err := encodeImage(image.Core, image.Entry{Msg: core})
		if err != nil {
			return err
		}
		d.out[image.Core.FileName(th.nsTid)] = img
	}
	return nil
}

// zombie records a dead, unreaped task: its core only.
func (d *dumper) zombie(t *task) error {
	st, err := d.fs.Stat(t.pid, 0)
	if err != nil {
		return fmt.Errorf("read stat of zombie %d: %w", t.pid, err)
	}
	img, err := encodeImage(image.Core, image.Entry{Msg: zombieCore(st.Comm, st.ExitCode)})
	if err != nil {
		return err
	}
	d.out[image.Core.FileName(t.nsPid)] = img
	return nil
}
