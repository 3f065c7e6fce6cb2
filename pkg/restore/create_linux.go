package restore

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/criugo/criugo/pkg/proc"
	"github.com/criugo/criugo/pkg/ptrace"
)

// traceOpts are the options every task of the tree is traced with: its
// forks and clones are traced from their first instruction, syscall stops
// are told apart from SIGTRAP, and the tracees die if criu-restore does.
const traceOpts = ptrace.OptTraceSysGood | ptrace.OptTraceClone | ptrace.Options(unix.PTRACE_O_TRACEFORK) | ptrace.OptExitKill

// pidRaceWait bounds the wait for an id that a task of the host took
// (see clone).
const pidRaceWait = 10 * time.Second

// nsLastPid is the last pid handed out in criu-restore's pid namespace.
const nsLastPid = "/proc/sys/kernel/ns_last_pid"

// specialReserve is the room kept after the scratch area to park the
// kernel's special mappings ([vvar], [vvar_vclock], [vdso]) while they move.
const specialReserve = 256 * pageSize

// scratchRegion is the address range a task keeps free for the restore:
// the scratch area, a guard page, and the parking room.
const scratchRegion = scratchSize + pageSize + specialReserve

// parking is where a task parks its special mappings while they move.
func (t *task) parking() uint64 { return t.scratch + scratchSize + pageSize }

// chooseScratch picks the address of the scratch area: free in every task's
// image known so far and in criu-restore itself, whose copy the root starts
// as. A task whose image turns out to use it moves its own (moveScratch).
func (r *restorer) chooseScratch() error {
	var used []span
	for _, p := range r.plans {
		for _, v := range p.mm.vmas {
			used = append(used, span{v.start(), v.end()})
		}
	}
	own, err := proc.FS{}.Maps(os.Getpid())
	if err != nil {
		return fmt.Errorf("read own maps: %w", err)
	}
	for _, v := range own {
		used = append(used, span{v.Start, v.End})
	}
	addr, ok := findFree(used, 1<<32, scratchRegion)
	if !ok {
		return fmt.Errorf("find room for the scratch area: %w", unix.ENOMEM)
	}
	r.scratch = addr
	return nil
}

// createTree creates the root with its PID, as a copy of criu-restore,
// with its namespaces. The other tasks come later, each by a clone3
// injected into its parent once the parent's memory is in (createChild),
// so that the private pages they shared since a fork are shared again
// (cow_linux.go). Each task sets its session and group before it forks;
// group joins follow once all exist (joinGroups).
func (r *restorer) createTree() error {
	root := r.tree.root()
	if err := r.prepareCgroups(); err != nil {
		return err
	}
	start := time.Now()
	if err := r.createRoot(root); err != nil {
		return err
	}
	if err := r.placeCgroup(root); err != nil {
		return err
	}
	r.stats.forking += time.Since(start)
	if err := r.restoreNamespaces(root); err != nil {
		return err
	}
	if err := r.restoreMountNs(root); err != nil {
		return err
	}
	return nil
}

// createChild forks task t from its parent, which exists and has its
// memory in, unless t exists already: t starts as a copy of the parent's
// restored memory, and keeps of it what its own image shares
// (inheritedVMAs).
func (r *restorer) createChild(t *task) error {
	if t.real != 0 {
		return nil
	}
	p := t.parent
	if p == nil || p.real == 0 || !p.memoryIn {
		return fmt.Errorf("create pid %d: its parent is not restored yet", t.pid)
	}
	start := time.Now()
	if err := r.forkChild(p, t); err != nil {
		return err
	}
	t.forkedFrom = r.mmPlans[p.pid]
	r.stats.forking += time.Since(start)
	return nil
}

// canCreate says whether createChild can fork t now.
func (t *task) canCreate() bool {
	return t.real == 0 && t.parent != nil && t.parent.real != 0 && t.parent.memoryIn
}

// joinGroups moves the tasks that join another's process group into it,
// once every task exists.
func (r *restorer) joinGroups() error {
	start := time.Now()
	for _, t := range r.tree.tasks {
		if t.joinPgid == 0 {
			continue
		}
		pgid, err := r.pgidSeenBy(t)
		if err != nil {
			return err
		}
		if _, err := r.call(t, t.threads[0], "setpgid", unix.SYS_SETPGID, 0, uint64(pgid)); err != nil {
			return fmt.Errorf("restore group of pid %d: %w", t.pid, err)
		}
	}
	r.stats.forking += time.Since(start)
	return nil
}

// pgidSeenBy returns the id of the group t joins in t's own pid
// namespace: setpgid takes it there.
func (r *restorer) pgidSeenBy(t *task) (int, error) {
	l, d := r.tree.ids(t.joinPgid), r.tree.depth(t.pid)
	if d >= len(l) {
		return 0, fmt.Errorf("restore group of pid %d: its leader %d is outside its pid namespace: %w", t.pid, t.joinPgid, ErrNotSupported)
	}
	return l[d], nil
}

// exitZombies makes the zombies exit, once their cores are known.
func (r *restorer) exitZombies() error {
	for _, t := range r.tree.tasks {
		if t.zombie() {
			if err := r.exitZombie(t); err != nil {
				return err
			}
		}
	}
	return nil
}

// call injects a system call into thread th of task t.
func (r *restorer) call(t *task, th *thread, name string, nr uintptr, args ...uint64) (uint64, error) {
	return r.in.call(th, t.scratch, name, nr, args...)
}

// createRoot forks the root from criu-restore, seizes it and gives it its
// scratch area.
func (r *restorer) createRoot(t *task) error {
	own, err := r.ownNamespaces()
	if err != nil {
		return err
	}
	newUser := own&unix.CLONE_NEWUSER != 0
	if newUser {
		// Read before the fork: the stub waits unmapped meanwhile.
		if _, err := r.readUserNs(); err != nil {
			return err
		}
	}
	r.lastPidFromOutside = newUser && own&unix.CLONE_NEWPID == 0
	if r.lastPidFromOutside && r.tree.nested() {
		// ns_last_pid gives one id, in one namespace: a task nested
		// below needs one in each.
		return fmt.Errorf("restore pid %d: a tree in a user namespace of its own but criu-restore's pid namespace, with pid namespaces nested below: %w", t.pid, ErrNotSupported)
	}
	if r.lastPidFromOutside {
		spareThreads()
	}
	pid, err := forkStub(t.pid, own&(unix.CLONE_NEWPID|unix.CLONE_NEWUSER), r.opts.Sibling)
	if err != nil {
		if errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("pid %d (from pstree.img) is %w", t.pid, ErrPidInUse)
		}
		return fmt.Errorf("create pid %d: %w", t.pid, err)
	}
	t.real = pid
	r.created = append(r.created, t)
	th := &thread{tid: pid, vtid: t.pid}
	t.threads = []*thread{th}
	if err := r.tr.Seize(pid, traceOpts); err != nil {
		return fmt.Errorf("create pid %d: %w", t.pid, err)
	}
	if newUser {
		if err := r.writeIDMaps(pid); err != nil {
			return err
		}
	}
	// Stop it inside one of its system calls (pause or prctl), so that the
	// instruction before its ip is a `syscall` to run the first injected
	// call from.
	var ip uint64
	for i := 0; ; i++ {
		if _, err := r.tr.InterruptWait(pid); err != nil {
			return fmt.Errorf("create pid %d: %w", t.pid, err)
		}
		regs, err := r.tr.GetRegs(pid)
		if err != nil {
			return fmt.Errorf("create pid %d: %w", t.pid, err)
		}
		th.base = *regs
		code := make([]byte, 2)
		if _, err := ptrace.ReadMem(pid, regs.Rip-2, code); err == nil && bytes.Equal(code, syscallInsn) {
			ip = regs.Rip - 2
			break
		}
		if i > 100 {
			return fmt.Errorf("create pid %d: it does not stop in a system call (ip %#x)", t.pid, regs.Rip)
		}
		if err := r.tr.Cont(pid, 0); err != nil {
			return fmt.Errorf("create pid %d: %w", t.pid, err)
		}
		time.Sleep(time.Millisecond)
	}
	addr, err := r.in.call(th, ip, "mmap scratch", unix.SYS_MMAP, r.scratch, scratchSize,
		protRead|protWrite|protExec, mapPrivate|mapAnonymous|mapFixedNoRep, ^uint64(0), 0)
	if err != nil {
		return fmt.Errorf("create pid %d: %w", t.pid, err)
	}
	if addr != r.scratch {
		return fmt.Errorf("create pid %d: scratch area mapped at %#x, not %#x", t.pid, addr, r.scratch)
	}
	t.scratch = r.scratch
	if err := writeMem(pid, r.scratch, scratchCode()); err != nil {
		return fmt.Errorf("create pid %d: %w", t.pid, err)
	}
	if newUser {
		if err := r.becomeNsRoot(t); err != nil {
			return err
		}
	}
	// The parent-death signal guarded the stub until it was seized. It
	// fires when the OS thread that forked the stub exits, which a Go
	// thread may do at any time (a goroutine that ends while locked to its
	// thread), so it goes now: PTRACE_O_EXITKILL guards the tree from here.
	if _, err := r.call(t, th, "prctl PR_SET_PDEATHSIG", unix.SYS_PRCTL, unix.PR_SET_PDEATHSIG, 0); err != nil {
		return fmt.Errorf("create pid %d: %w", t.pid, err)
	}
	// A registration of restartable sequences copied from criu-restore
	// (a cgo build registers one per thread) points into memory that is
	// about to go: drop it before any child inherits it.
	rs, err := r.tr.GetRseqConfiguration(pid)
	if err != nil {
		return fmt.Errorf("create pid %d: %w", t.pid, err)
	}
	if rs.Pointer != 0 {
		if _, err := r.call(t, th, "rseq unregister", unix.SYS_RSEQ, rs.Pointer, uint64(rs.Size), 1, uint64(rs.Signature)); err != nil {
			return fmt.Errorf("create pid %d: %w", t.pid, err)
		}
	}
	if err := r.dropInherited(t); err != nil {
		return fmt.Errorf("create pid %d: %w", t.pid, err)
	}
	return r.setSession(t)
}

// dropInherited unmaps from the root, before any child is forked from
// it, all of criu-restore's memory it inherited but the scratch area and
// the kernel's special mappings: the stub never runs its own code again,
// and its memory goes anyway when the root's is restored. Each fork of
// the tree then copies next to nothing, and each child has next to
// nothing to unmap (a copy of a Go program's address space took a
// millisecond to fork and as long to unmap, per task).
func (r *restorer) dropInherited(t *task) error {
	cur, err := readMaps(t.real)
	if err != nil {
		return err
	}
	keep := []span{{t.scratch, t.scratch + scratchSize}}
	for _, v := range cur {
		switch v.Kind {
		case proc.VMAVdso, proc.VMAVvar, proc.VMAVvarVclock:
			keep = append(keep, span{v.Start, v.End})
		}
	}
	bt := r.batch(t, t.threads[0])
	for _, g := range gaps(keep, 0, taskSize) {
		bt.add("munmap inherited", unix.SYS_MUNMAP, g.start, g.end-g.start)
	}
	return bt.run()
}

// forkChild clones task c from its parent p with c's PID.
func (r *restorer) forkChild(p, c *task) error {
	flags := uint64(unix.CLONE_CLEAR_SIGHAND)
	if r.sharesParentFiles(c) {
		flags |= unix.CLONE_FILES
	}
	if r.tree.newPidNsInit(c) {
		// The init of a pid namespace nested in its parent's.
		flags |= unix.CLONE_NEWPID
	}
	pid, err := r.clone(p, p.threads[0], flags, uint64(unix.SIGCHLD), c.pid)
	if err != nil {
		if isErrno(err, unix.EEXIST) {
			return fmt.Errorf("pid %d (from pstree.img) is %w", c.pid, ErrPidInUse)
		}
		return fmt.Errorf("create pid %d: %w", c.pid, err)
	}
	real, err := r.realChild(p, c.pid, pid)
	if err != nil {
		return fmt.Errorf("create pid %d: %w", c.pid, err)
	}
	c.real = real
	r.created = append(r.created, c)
	th, err := r.newThread(real, c.pid)
	if err != nil {
		return fmt.Errorf("create pid %d: %w", c.pid, err)
	}
	c.threads = []*thread{th}
	c.scratch = p.scratch
	if c.core != nil && !c.zombie() {
		if err := r.placeCgroup(c); err != nil {
			return err
		}
	}
	return r.setSession(c)
}

// clone injects clone3 into th of t asking for the given tid and returns
// the id the kernel gave. A tree in a user namespace of its own but in
// criu-restore's pid namespace cannot ask with set_tid (that needs
// CAP_SYS_ADMIN over the pid namespace, which the tree's user namespace
// does not own): criu-restore sets ns_last_pid to the id before it
// instead, while the clone is in its entry stop, and the kernel hands
// out the next. When a task of the host
// forked in between and took the id, the task or thread made with another
// id is discarded and the clone tried again, once that task is gone
// (within pidRaceWait). CRIU sets ns_last_pid the same way, with the
// same race, on kernels without set_tid.
func (r *restorer) clone(t *task, th *thread, flags, exitSignal uint64, tid int) (int, error) {
	if !r.lastPidFromOutside {
		return r.clone3(t, th, flags, exitSignal, tid, true)
	}
	const tries = 50
	for i := range tries {
		// A task of the host that took the id when a try lost the race
		// may be gone soon (a compiler, a shell command), and a task of
		// a tree just killed soon reaped: wait a while.
		for deadline := time.Now().Add(pidRaceWait); (proc.FS{}).HasPid(tid); time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) && i == 0 {
				return 0, fmt.Errorf("ask for id %d: %w", tid, unix.EEXIST)
			}
			if time.Now().After(deadline) {
				who := "a task of the host"
				if _, err := os.Stat(fmt.Sprintf("/proc/self/task/%d", tid)); err == nil {
					who = "a thread of criu-restore"
				}
				return 0, fmt.Errorf("ask for id %d: %s took it between %s and the clone, and keeps it: %w", tid, who, nsLastPid, unix.EEXIST)
			}
		}
		got, err := r.clone3(t, th, flags, exitSignal, tid, false)
		if err == nil {
			// Hand out the next ids past the tree's: the host's next
			// forks (criu-restore's own new threads among them) would
			// take the ids of the tasks and threads still to come.
			err = r.pastTreePids()
		}
		if err != nil || got == tid {
			return got, err
		}
		if err := r.discardClone(t, th, got, flags&unix.CLONE_THREAD != 0); err != nil {
			return 0, fmt.Errorf("discard clone %d made for %d: %w", got, tid, err)
		}
	}
	return 0, fmt.Errorf("clone3 never gave id %d in %d tries: other tasks of the host took it after %s said %d", tid, tries, nsLastPid, tid-1)
}

// spareThreads has the Go runtime make OS threads it keeps idle, before
// the tree's ids are handed out through ns_last_pid: a thread it would
// start later, while a clone waits for the id after ns_last_pid, would
// take that id for good.
func spareThreads() {
	const n = 16
	var locked, done sync.WaitGroup
	locked.Add(n)
	done.Add(n)
	release := make(chan struct{})
	for range n {
		go func() {
			defer done.Done()
			runtime.LockOSThread()
			locked.Done()
			<-release
			runtime.UnlockOSThread()
		}()
	}
	locked.Wait()
	close(release)
	done.Wait()
}

// pastTreePids sets ns_last_pid to the highest id of the tree when it is
// below that: the ids after it are none of the tree's.
func (r *restorer) pastTreePids() error {
	top := 0
	for _, t := range r.tree.tasks {
		top = max(top, t.pid)
		for _, id := range t.tids {
			top = max(top, id)
		}
	}
	b, err := os.ReadFile(nsLastPid)
	if err != nil {
		return fmt.Errorf("read %s: %w", nsLastPid, err)
	}
	if cur, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && cur >= top {
		return nil
	}
	if err := os.WriteFile(nsLastPid, []byte(strconv.Itoa(top)), 0); err != nil {
		return fmt.Errorf("write %s: %w", nsLastPid, err)
	}
	return nil
}

// clone3 injects one clone3 into th of t, with set_tid tid when setTid:
// tid's id in every pid namespace from its own up to the tree's (tid is
// pstree.img's id; one, unless it lives in a namespace nested below).
func (r *restorer) clone3(t *task, th *thread, flags, exitSignal uint64, tid int, setTid bool) (int, error) {
	b := newScratchBuf(t.scratch)
	args := cloneArgs{Flags: flags, ExitSignal: exitSignal}
	ids := r.tree.ids(tid)
	// What clone3 returns: the id in the caller's namespace, which is
	// the new task's but for the init of a new one (its parent's).
	want := ids[len(ids)-1]
	if flags&unix.CLONE_NEWPID != 0 {
		if len(ids) < 2 {
			return 0, fmt.Errorf("clone id %d into a new pid namespace: it has no id there", tid)
		}
		want = ids[len(ids)-2]
	}
	if setTid {
		set := make([]byte, 0, 4*len(ids))
		for i := len(ids) - 1; i >= 0; i-- {
			set = binary.LittleEndian.AppendUint32(set, uint32(ids[i]))
		}
		args.SetTid, args.SetTidSize = b.put(set), uint64(len(ids))
	}
	argp := b.put(cloneArgsBytes(&args))
	if err := b.flush(t.real); err != nil {
		return 0, err
	}
	var atEntry func() error
	if !setTid {
		// As close to the clone as can be: the race with the host's
		// forks is this window.
		last := []byte(strconv.Itoa(tid - 1))
		atEntry = func() error {
			if err := os.WriteFile(nsLastPid, last, 0); err != nil {
				return fmt.Errorf("ask for id %d: %w", tid, err)
			}
			return nil
		}
	}
	ret, err := r.in.callAt(th, t.scratch, atEntry, "clone3", unix.SYS_CLONE3, argp, cloneArgsSize)
	if err != nil {
		return 0, err
	}
	if setTid && int(ret) != want {
		return int(ret), fmt.Errorf("clone3 gave id %d, not %d", ret, want)
	}
	return int(ret), nil
}

// discardClone ends task or thread id, just cloned from th of t (in
// criu-restore's pid namespace) with an id other than the one asked for:
// it runs exit from the scratch area, and a task is then reaped by t.
func (r *restorer) discardClone(t *task, th *thread, id int, thread bool) error {
	nt, err := r.newThread(id, id)
	if err != nil {
		return err
	}
	regs := nt.base
	regs.Rip, regs.Rax, regs.OrigRax, regs.Rdi = t.scratch, unix.SYS_EXIT, ^uint64(0), 0
	if err := r.tr.SetRegs(id, &regs); err != nil {
		return err
	}
	for range 16 {
		if err := r.tr.Syscall(id, 0); err != nil {
			return err
		}
		st, err := r.tr.Wait(id)
		if err != nil {
			return err
		}
		if st.Kind == ptrace.Exited || st.Kind == ptrace.Killed {
			if thread {
				return nil
			}
			_, err := r.call(t, th, "wait4", unix.SYS_WAIT4, uint64(id), 0, unix.WALL, 0)
			return err
		}
	}
	return fmt.Errorf("it does not exit")
}

// realChild returns the pid criu-restore sees child vpid (pstree.img's
// pid) of p by, got being the pid clone3 gave p: the same, unless the
// tree is in a pid namespace of its own or has some nested below, where
// it is the child of p whose last ids (the tail of NSpid) are vpid's.
func (r *restorer) realChild(p *task, vpid, got int) (int, error) {
	if !r.tree.newPidNS && !r.tree.nested() {
		return got, nil
	}
	kids, err := proc.FS{}.Children(p.real, p.threads[0].tid)
	if err != nil {
		return 0, fmt.Errorf("find child %d of pid %d: %w", vpid, p.pid, err)
	}
	return withIDs(kids, r.tree.ids(vpid), func(id int) (*proc.Status, error) { return proc.FS{}.Status(id, 0) })
}

// realThread is realChild for a thread vtid just cloned in task t.
func (r *restorer) realThread(t *task, vtid int) (int, error) {
	if !r.tree.newPidNS && r.tree.depth(vtid) == 0 {
		return vtid, nil
	}
	tids, err := proc.FS{}.Tasks(t.real)
	if err != nil {
		return 0, fmt.Errorf("find thread %d of pid %d: %w", vtid, t.pid, err)
	}
	return withIDs(tids, r.tree.ids(vtid), func(id int) (*proc.Status, error) { return proc.FS{}.Status(t.real, id) })
}

// withIDs returns the one of ids whose last ids in the pid namespaces it
// lives in (the tail of NSpid) are want, from the tree's namespace down.
func withIDs(ids []int, want []int, status func(int) (*proc.Status, error)) (int, error) {
	for _, id := range ids {
		st, err := status(id)
		if err != nil {
			return 0, err
		}
		if n := len(st.NSpid); n >= len(want) && slices.Equal(st.NSpid[n-len(want):], want) {
			return id, nil
		}
	}
	return 0, fmt.Errorf("no task has ids %v in its pid namespaces: %w", want, unix.ESRCH)
}

// newThread waits for the first stop of a thread the tracer picked up
// from a fork or clone, and records its registers. tid is the id the
// tracer knows it by, vtid its id in the tree's pid namespace.
func (r *restorer) newThread(tid, vtid int) (*thread, error) {
	st, err := r.tr.Wait(tid)
	if err != nil {
		return nil, err
	}
	switch st.Kind {
	case ptrace.InterruptStop, ptrace.GroupStop:
	case ptrace.SignalStop:
		if st.Signal != unix.SIGSTOP {
			return nil, fmt.Errorf("first stop of tid %d: %v: %w", tid, st, ptrace.ErrUnexpectedStop)
		}
	default:
		return nil, fmt.Errorf("first stop of tid %d: %v: %w", tid, st, ptrace.ErrUnexpectedStop)
	}
	regs, err := r.tr.GetRegs(tid)
	if err != nil {
		return nil, err
	}
	return &thread{tid: tid, vtid: vtid, base: *regs}, nil
}

// setSession makes a task the leader of its session or group, as planned.
func (r *restorer) setSession(t *task) error {
	th := t.threads[0]
	if t.doSetsid {
		if _, err := r.call(t, th, "setsid", unix.SYS_SETSID); err != nil {
			return fmt.Errorf("restore session of pid %d: %w", t.pid, err)
		}
	}
	if t.doSetpgid {
		if _, err := r.call(t, th, "setpgid", unix.SYS_SETPGID, 0, 0); err != nil {
			return fmt.Errorf("restore group of pid %d: %w", t.pid, err)
		}
	}
	return nil
}

// exitZombie makes a created task exit the way the zombie it stands for
// did, and leaves it unreaped for its parent.
func (r *restorer) exitZombie(t *task) error {
	th := t.threads[0]
	comm := t.core.GetTc().GetComm()
	if len(comm) > 15 {
		comm = comm[:15]
	}
	b := newScratchBuf(t.scratch)
	commp := b.cstring(comm)
	if err := b.flush(t.real); err != nil {
		return fmt.Errorf("exit zombie %d: %w", t.pid, err)
	}
	if _, err := r.call(t, th, "prctl PR_SET_NAME", unix.SYS_PRCTL, unix.PR_SET_NAME, commp); err != nil {
		return fmt.Errorf("exit zombie %d: %w", t.pid, err)
	}
	status := t.core.GetTc().GetExitCode()
	sig := status & 0x7f
	if sig == 0 {
		regs := th.base
		regs.Rip, regs.Rax, regs.OrigRax, regs.Rdi = t.scratch, unix.SYS_EXIT_GROUP, ^uint64(0), uint64(status>>8&0xff)
		if err := r.tr.SetRegs(th.tid, &regs); err != nil {
			return fmt.Errorf("exit zombie %d: %w", t.pid, err)
		}
	} else {
		// Die by the signal: default action, unblocked, sent to itself.
		b := newScratchBuf(t.scratch)
		act := b.u64s(0, 0, 0, 0)
		mask := b.u64s(1 << (sig - 1))
		if err := b.flush(t.real); err != nil {
			return fmt.Errorf("exit zombie %d: %w", t.pid, err)
		}
		// SIGKILL (and SIGSTOP) have no action to set and cannot be
		// blocked: the kernel refuses both calls for them.
		if s := unix.Signal(sig); s != unix.SIGKILL && s != unix.SIGSTOP {
			if _, err := r.call(t, th, "rt_sigaction", unix.SYS_RT_SIGACTION, uint64(sig), act, 0, 8); err != nil {
				return fmt.Errorf("exit zombie %d: %w", t.pid, err)
			}
			if _, err := r.call(t, th, "rt_sigprocmask", unix.SYS_RT_SIGPROCMASK, unix.SIG_UNBLOCK, mask, 0, 8); err != nil {
				return fmt.Errorf("exit zombie %d: %w", t.pid, err)
			}
		}
		regs := th.base
		regs.Rip, regs.Rax, regs.OrigRax = t.scratch, unix.SYS_TGKILL, ^uint64(0)
		own := uint64(r.tree.own(t.pid))
		regs.Rdi, regs.Rsi, regs.Rdx = own, own, uint64(sig)
		if err := r.tr.SetRegs(th.tid, &regs); err != nil {
			return fmt.Errorf("exit zombie %d: %w", t.pid, err)
		}
	}
	// Run to the end: through the call's syscall stops, into the signal
	// (delivered as it comes), to the exit the tracer collects, which
	// leaves the task a zombie of its parent.
	for range 16 {
		if err := r.tr.Syscall(th.tid, 0); err != nil {
			return fmt.Errorf("exit zombie %d: %w", t.pid, err)
		}
		st, err := r.tr.Wait(th.tid)
		if err != nil {
			return fmt.Errorf("exit zombie %d: %w", t.pid, err)
		}
		switch st.Kind {
		case ptrace.Exited, ptrace.Killed:
			return nil
		case ptrace.SignalStop:
			if err := r.tr.Cont(th.tid, st.Signal); err != nil {
				return fmt.Errorf("exit zombie %d: %w", t.pid, err)
			}
			st, err = r.tr.Wait(th.tid)
			if err != nil {
				return fmt.Errorf("exit zombie %d: %w", t.pid, err)
			}
			if !st.Stopped() {
				return nil
			}
		}
	}
	return fmt.Errorf("exit zombie %d: it does not exit", t.pid)
}

// moveScratch moves the scratch area of t when its image has memory where
// the area is (a stream gives a task's memory map only after the tree is
// created). The new area is mapped from the old one, which is then
// unmapped from the new one.
func (r *restorer) moveScratch(t *task, p *mmPlan) error {
	var used []span
	clash := false
	for _, v := range p.vmas {
		used = append(used, span{v.start(), v.end()})
		if v.start() < t.scratch+scratchRegion && t.scratch < v.end() {
			clash = true
		}
	}
	if !clash {
		return nil
	}
	cur, err := readMaps(t.real)
	if err != nil {
		return err
	}
	for _, v := range cur {
		used = append(used, span{v.Start, v.End})
	}
	addr, ok := findFree(used, 1<<32, scratchRegion)
	if !ok {
		return fmt.Errorf("move the scratch area of pid %d: %w", t.pid, unix.ENOMEM)
	}
	th := t.threads[0]
	got, err := r.call(t, th, "mmap scratch", unix.SYS_MMAP, addr, scratchSize,
		protRead|protWrite|protExec, mapPrivate|mapAnonymous|mapFixedNoRep, ^uint64(0), 0)
	if err != nil {
		return fmt.Errorf("move the scratch area of pid %d: %w", t.pid, err)
	}
	if got != addr {
		return fmt.Errorf("move the scratch area of pid %d: mapped at %#x, not %#x", t.pid, got, addr)
	}
	if err := writeMem(t.real, addr, scratchCode()); err != nil {
		return fmt.Errorf("move the scratch area of pid %d: %w", t.pid, err)
	}
	old := t.scratch
	t.scratch = addr
	if _, err := r.call(t, th, "munmap scratch", unix.SYS_MUNMAP, old, scratchSize); err != nil {
		return fmt.Errorf("move the scratch area of pid %d: %w", t.pid, err)
	}
	return nil
}
