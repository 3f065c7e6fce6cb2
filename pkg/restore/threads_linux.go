package restore

import (
	"fmt"
	"time"

	"golang.org/x/sys/unix"

	"github.com/criugo/criugo/images"
)

// threadFlags are the clone flags of a thread as pthread_create makes it.
// CLONE_SETTLS and the tid addresses are not needed: fs_base comes back
// with the registers and set_tid_address is injected.
const threadFlags = unix.CLONE_VM | unix.CLONE_FS | unix.CLONE_FILES | unix.CLONE_SIGHAND |
	unix.CLONE_THREAD | unix.CLONE_SYSVSEM

// createThreads clones the task's other threads from its leader, each with
// its TID. They start stopped, picked up by the tracer, and share the
// restored memory, files and signal actions.
func (r *restorer) createThreads(t *task) error {
	start := time.Now()
	defer func() { r.stats.forking += time.Since(start) }()
	leader := t.threads[0]
	for _, tid := range t.tids[1:] {
		if _, err := r.clone(t, leader, threadFlags, 0, tid); err != nil {
			if isErrno(err, unix.EEXIST) {
				return fmt.Errorf("tid %d (from pstree.img) is %w", tid, ErrPidInUse)
			}
			return fmt.Errorf("create thread %d of pid %d: %w", tid, t.pid, err)
		}
		real, err := r.realThread(t, tid)
		if err != nil {
			return fmt.Errorf("create thread %d of pid %d: %w", tid, t.pid, err)
		}
		th, err := r.newThread(real, tid)
		if err != nil {
			return fmt.Errorf("create thread %d of pid %d: %w", tid, t.pid, err)
		}
		t.threads = append(t.threads, th)
	}
	return nil
}

// threadComm is a thread's name as its core says, cut to what the kernel
// keeps (15 bytes).
func threadComm(core *images.CoreEntry, leader *images.CoreEntry) string {
	comm := leader.GetTc().GetComm()
	if tc := core.GetThreadCore(); tc != nil && tc.Comm != nil {
		comm = tc.GetComm()
	}
	if len(comm) > 15 {
		comm = comm[:15]
	}
	return comm
}

// restoreThread restores what belongs to one thread, except credentials,
// signal mask and registers. A call is skipped where the thread already has
// what the image says: threads start as clones of their leader, leaders as
// forks of criu-restore.
func (r *restorer) restoreThread(t *task, th *thread, core *images.CoreEntry, bt *callBatch) error {
	ti := core.GetThreadInfo()
	tc := core.GetThreadCore()
	leader := th == t.threads[0]
	fail := func(what string, err error) error {
		return fmt.Errorf("restore %s of tid %d (%s): %w", what, th.tid, coreName(uint32(th.vtid)), err)
	}
	// One batch makes every call: bt when given, which the caller runs.
	run := bt == nil
	if run {
		bt = r.batch(t, th)
	}
	add := func(what, name string, nr uintptr, args ...uint64) {
		bt.onError(bt.add(name, nr, args...), func(err error) error { return fail(what, err) })
	}
	// A fork or a clone without CLONE_CHILD_CLEARTID starts with none.
	if ti.GetClearTidAddr() != 0 {
		add("clear_child_tid", "set_tid_address", unix.SYS_SET_TID_ADDRESS, ti.GetClearTidAddr())
	}
	if tc == nil {
		return r.runIf(run, bt)
	}
	if tc.GetFutexRla() != 0 {
		add("robust futex list", "set_robust_list", unix.SYS_SET_ROBUST_LIST, tc.GetFutexRla(), uint64(tc.GetFutexRlaLen()))
	}
	if rs := tc.GetRseqEntry(); rs.GetRseqAbiPointer() != 0 {
		add("rseq registration", "rseq", unix.SYS_RSEQ, rs.GetRseqAbiPointer(), uint64(rs.GetRseqAbiSize()), 0, uint64(rs.GetSignature()))
	}
	// The alternate signal stack: a fork keeps the one of the thread that
	// forked (Go's signal stack, for the leaders), a thread starts with
	// none.
	sas := tc.GetSas()
	flags := uint64(ssDisable)
	if sas != nil {
		flags = uint64(sas.GetSsFlags())
	}
	if leader || flags != ssDisable {
		ss := bt.u64s(sas.GetSsSp(), flags, sas.GetSsSize())
		add("alternate signal stack", "sigaltstack", unix.SYS_SIGALTSTACK, ss, 0)
	}
	// The leader was named before its threads were cloned from it.
	if comm := threadComm(core, t.core); !leader && comm != threadComm(t.core, t.core) {
		add("name", "prctl PR_SET_NAME", unix.SYS_PRCTL, unix.PR_SET_NAME, bt.cstring(comm))
	}
	// The root was created with PR_SET_PDEATHSIG; nobody else inherits it.
	if tc.GetPdeathSig() != 0 || leader && t.parent == nil {
		add("parent death signal", "prctl PR_SET_PDEATHSIG", unix.SYS_PRCTL, unix.PR_SET_PDEATHSIG, uint64(tc.GetPdeathSig()))
	}
	if tc.GetSchedPolicy() != 0 {
		param := bt.u64s(uint64(tc.GetSchedPrio()))
		add("scheduling policy", "sched_setscheduler", unix.SYS_SCHED_SETSCHEDULER, uint64(r.tree.own(th.vtid)), uint64(tc.GetSchedPolicy()), param)
	}
	if tc.SchedNice != nil && int(tc.GetSchedNice()) != r.own.nice {
		add("nice value", "setpriority", unix.SYS_SETPRIORITY, unix.PRIO_PROCESS, uint64(r.tree.own(th.vtid)), uint64(int64(tc.GetSchedNice())))
	}
	return r.runIf(run, bt)
}

// runIf runs bt when run is set.
func (r *restorer) runIf(run bool, bt *callBatch) error {
	if !run {
		return nil
	}
	return bt.run()
}

// restoreThreadSignals queues the signals pending for thread th alone.
// It follows every thread's restoreThread: those end in batches, and a
// batch drops a pending SIGCONT (callBatch).
func (r *restorer) restoreThreadSignals(t *task, th *thread, core *images.CoreEntry) error {
	return r.queueSignals(t, th, core.GetThreadCore().GetSignalsP(), true)
}

// ssDisable is SS_DISABLE of sigaltstack().
const ssDisable = 2
