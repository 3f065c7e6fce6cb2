package restore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"time"

	"github.com/criugo/criugo/pkg/x86"

	"golang.org/x/sys/unix"

	"github.com/criugo/criugo/images"
	"github.com/criugo/criugo/internal/fault"
	"github.com/criugo/criugo/pkg/image"
	"github.com/criugo/criugo/pkg/proc"
	"github.com/criugo/criugo/pkg/ptrace"
)

// restorer holds one restore under way.
type restorer struct {
	ctx   context.Context // ends the restore, before the tree runs
	opts  Options
	set   *imageSet
	pages pagesSource
	inv   *images.InventoryEntry
	tree  *tree
	plans map[int]*taskPlan // live tasks' images, by pid
	// mmPlans are the tasks' memory plans, by pid, made once.
	mmPlans map[int]*mmPlan

	tr     *ptrace.Tracer
	in     injector
	mnt    mntState // the tree's mount namespace (mntns_linux.go)
	files  *fileObjs
	layout *x86.Layout
	self   int // criu-restore's pid
	// procFd is criu-restore's fd of its own /proc, which every task has
	// at the same number (a copy of criu-restore's fd table, from the
	// root's fork) until its memory is restored: the task opens
	// criu-restore's files through it (fileObjs.taskPath), whatever
	// /proc its mount namespace has by then (a container's own).
	procFd int
	// scratch is where the root gets its scratch area (and so every
	// task, unless it has to move it).
	scratch uint64

	own *ownState // what every task inherits from criu-restore
	// userns holds the maps of the tree's user namespace, when it has one
	// of its own (userns_linux.go), once read.
	userns *images.UsernsEntry
	// rootIds are the root task's namespace ids (ns_linux.go rootIDs),
	// once read: every file owner's mapping asks for them.
	rootIds *images.TaskKobjIdsEntry
	// lastPidFromOutside: tasks are given their pids through ns_last_pid
	// (clone), not set_tid (a user namespace of the tree's own without
	// a pid namespace of its own).
	lastPidFromOutside bool
	// deferFill is set while a stream is read: shared memory is filled
	// when its pages come, after every task's.
	deferFill bool

	// net is the tree's network namespace (netns_linux.go).
	net netRestore

	// sysv are SysV segments attached until their pages come (ipc_linux.go).
	sysv map[uint64][]byte

	// checkOnly is set by Check: prepare reads and plans, and PIDs in
	// use are not refused.
	checkOnly bool

	created []*task // tasks created so far, to kill on failure
	timings []Timing
	last    time.Time
	stats   restoreStats
	cg      *cgRestore
}

// pagesSource opens pages files by id.
type pagesSource interface {
	open(id uint64) (io.ReadCloser, error)
}

// Restore brings back the process tree of an image set. On success the
// tree runs, detached from criu-restore; unless opts.Detach, Restore then
// waits for the root to exit. On failure every task it created is killed;
// so it is when ctx ends before the tree runs (criu-restore's SIGINT and
// SIGTERM).
func Restore(ctx context.Context, opts Options) (*Result, error) {
	if err := fault.Check(); err != nil {
		return nil, err
	}
	if opts.Sibling && !opts.Detach {
		// As CRIU: a root that is not criu-restore's child cannot be
		// waited for.
		return nil, errors.New("restore: a sibling root (--restore-sibling) needs a detached restore")
	}
	now := time.Now()
	r := &restorer{ctx: ctx, opts: opts, self: os.Getpid(), last: now, stats: restoreStats{start: now}}
	if opts.Dir == "" {
		if opts.Stdin == nil {
			return nil, errors.New("restore: no image directory and no stream")
		}
		return r.restoreStream(opts.Stdin)
	}
	set, err := openDirSet(opts.Dir)
	if err != nil {
		return nil, err
	}
	defer set.close()
	r.set, r.pages = set, dirPages{set}
	return r.run()
}

// dirPages opens the pages files of an image directory.
type dirPages struct{ set *imageSet }

func (d dirPages) open(id uint64) (io.ReadCloser, error) {
	return d.set.openFile(pagesName(id))
}

func (r *restorer) logf(format string, args ...any) {
	if r.opts.Log != nil {
		fmt.Fprintf(r.opts.Log, format+"\n", args...)
	}
}

// step records how long the step that just ended took.
func (r *restorer) step(name string) {
	now := time.Now()
	r.timings = append(r.timings, Timing{Step: name, Took: now.Sub(r.last)})
	r.logf("%s: %v (so far: %d system calls injected, %d of them in %d batches, %d ptrace stops, in %v)",
		name, now.Sub(r.last), r.in.calls, r.in.batched, r.in.batches, r.in.stops, r.in.spent)
	r.last = now
}

// logCalls logs the injected calls by name, most frequent first.
func (r *restorer) logCalls() {
	names := make([]string, 0, len(r.in.byName))
	for n := range r.in.byName {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool {
		a, b := r.in.byName[names[i]], r.in.byName[names[j]]
		return a > b || a == b && names[i] < names[j]
	})
	for _, n := range names {
		r.logf("injected %6d %s", r.in.byName[n], n)
	}
}

// run restores from r.set, all images being at hand.
func (r *restorer) run() (*Result, error) {
	if err := r.prepare(); err != nil {
		return nil, err
	}
	res, err := r.bringBack()
	if err != nil {
		return nil, err
	}
	r.writeStats()
	return r.finish(res)
}

// writeStats writes stats-restore into the image directory once the tree
// runs, as CRIU does after it lets the tasks go. The restore is done by
// then, so a failure is a warning, never an error (CRIU ignores it too,
// having logged it).
func (r *restorer) writeStats() {
	err := image.ReplaceFile(r.opts.Dir, statsName, r.stats.image())
	if err != nil && r.opts.Warn != nil {
		r.opts.Warn(fmt.Errorf("write %s: %w", statsName, err))
	}
}

// checkInventory refuses an image set of another version, and, as CRIU,
// one dumped with --tcp-close unless the restore is told so too (its
// connections have no state to restore but closed).
func (r *restorer) checkInventory(inv *images.InventoryEntry) error {
	if inv.GetImgVersion() != 2 {
		return fmt.Errorf("read inventory.img: image version %d: %w", inv.GetImgVersion(), ErrNotSupported)
	}
	if inv.GetTcpClose() && !r.opts.TCPClose {
		return fmt.Errorf("read inventory.img: dumped with --tcp-close, which the restore needs too: %w", ErrOptions)
	}
	return nil
}

// prepare reads and checks the images, and checks the PIDs are free,
// before anything is created.
func (r *restorer) prepare() error {
	inv, err := single[*images.InventoryEntry](r.set, "inventory.img")
	if err != nil {
		return err
	}
	if err := r.checkInventory(inv); err != nil {
		return err
	}
	r.inv = inv
	if err := r.checkCPUInfo(); err != nil {
		return err
	}
	if r.tree, err = buildTree(r.set); err != nil {
		return err
	}
	if err := r.planPidNS(); err != nil {
		return err
	}
	if err := r.checkNetNs(); err != nil {
		return err
	}
	if !r.checkOnly {
		if err := checkPidsFree(r.tree); err != nil {
			return err
		}
	}
	r.plans = map[int]*taskPlan{}
	for _, t := range r.tree.tasks {
		if t.zombie() {
			continue
		}
		p, err := r.planTask(t)
		if err != nil {
			return err
		}
		r.plans[t.pid] = p
	}
	if r.files, err = newFileObjs(r); err != nil {
		return err
	}
	if err := r.checkFiles(); err != nil {
		return err
	}
	if err := r.planMountNs(); err != nil {
		return err
	}
	if err := r.chooseScratch(); err != nil {
		return err
	}
	if r.own, err = readOwnState(); err != nil {
		return err
	}
	r.layout = x86.CPULayout()
	r.step("read images")
	return nil
}

// checkPidsFree fails when a PID or TID of the tree belongs to a live
// task. A tree in a pid namespace of its own takes its pids in a new one.
func checkPidsFree(tr *tree) error {
	if tr.newPidNS {
		return nil
	}
	max, err := pidMax()
	if err != nil {
		return err
	}
	for _, id := range tr.allIDs() {
		if id > max {
			return fmt.Errorf("pid %d (from pstree.img) is above pid_max %d: %w", id, max, ErrNotSupported)
		}
		if (proc.FS{}).HasPid(id) {
			return fmt.Errorf("pid %d (from pstree.img) is %w", id, ErrPidInUse)
		}
	}
	return nil
}

func pidMax() (int, error) {
	v, err := proc.FS{}.Sysctl("kernel/pid_max")
	if err != nil {
		return 0, fmt.Errorf("read pid_max: %w", err)
	}
	if len(v) != 1 {
		return 0, fmt.Errorf("read pid_max: %d values: %w", len(v), proc.ErrSyntax)
	}
	return int(v[0]), nil
}

// start creates the tracer and the root with its namespaces; the other
// tasks come as their parents' memory is in (createChild).
func (r *restorer) start() error {
	r.tr = ptrace.NewTracer()
	r.in = injector{tr: r.tr}
	fd, err := unix.Open("/proc", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open /proc: %w", err)
	}
	r.procFd = fd
	if !r.opts.Detach {
		if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
			return fmt.Errorf("become child subreaper: %w", err)
		}
	}
	if err := r.createTree(); err != nil {
		return err
	}
	r.step("create tasks")
	if err := r.hook("setup-namespaces", r.tree.root().real); err != nil {
		return err
	}
	return r.hook("post-setup-namespaces", 0)
}

// hook calls Options.Hook at action point action.
func (r *restorer) hook(action string, pid int) error {
	if r.opts.Hook == nil {
		return nil
	}
	if err := r.opts.Hook(action, pid); err != nil {
		return fmt.Errorf("restore: %s: %w", action, err)
	}
	return nil
}

// hookWarn calls Options.Hook at a point whose failure does not fail the
// restore.
func (r *restorer) hookWarn(action string) {
	if err := r.hook(action, 0); err != nil && r.opts.Warn != nil {
		r.opts.Warn(err)
	}
}

// cleanup ends a restore: on failure it kills every task created; in any
// case it drops criu-restore's copies of the files and the tracer.
func (r *restorer) cleanup(failed bool) {
	if r.tr == nil {
		return
	}
	if failed {
		r.killAll()
		r.undoCgroups()
	}
	r.closeCgroups()
	if r.files != nil {
		r.files.close()
	}
	r.closeNetNs()
	r.tr.Close()
	if r.procFd > 0 {
		unix.Close(r.procFd)
		r.procFd = 0
	}
}

// bringBack creates the tree and restores every task from an image
// directory, leaving them running; on failure it kills what it made.
func (r *restorer) bringBack() (res *Result, err error) {
	defer func() { r.cleanup(err != nil) }()
	if err := r.start(); err != nil {
		return nil, err
	}
	// Parents first: each task is forked once its parent's memory is in,
	// and its own memory restored before its children are forked.
	for _, t := range r.tree.tasks {
		if err := r.canceled(); err != nil {
			return nil, err
		}
		if err := r.createChild(t); err != nil {
			return nil, err
		}
		if t.zombie() {
			continue
		}
		if err := r.restoreMemory(t, r.plans[t.pid].mm, nil); err != nil {
			return nil, err
		}
		r.step(fmt.Sprintf("restore memory of pid %d", t.pid))
	}
	if err := r.allCreated(); err != nil {
		return nil, err
	}
	for _, t := range r.tree.tasks {
		if t.zombie() {
			continue
		}
		if err := r.canceled(); err != nil {
			return nil, err
		}
		if err := r.restoreTask(t); err != nil {
			return nil, err
		}
		r.step(fmt.Sprintf("restore pid %d", t.pid))
	}
	return r.resume()
}

// allCreated ends the creation of the tree once every task exists: group
// joins, then the zombies exit.
func (r *restorer) allCreated() error {
	if err := r.joinGroups(); err != nil {
		return err
	}
	if err := r.exitZombies(); err != nil {
		return err
	}
	return fault.At("restore:after-forks")
}

// resume finishes every task and lets the tree run.
func (r *restorer) resume() (*Result, error) {
	if err := r.files.finish(); err != nil {
		return nil, err
	}
	for _, t := range r.tree.tasks {
		if t.zombie() {
			continue
		}
		if err := r.finalize(t); err != nil {
			return nil, err
		}
	}
	if err := r.hook("post-restore", r.tree.root().real); err != nil {
		return nil, err
	}
	if r.net.locked {
		r.hookWarn("network-unlock")
	}
	// Every connection exists again and left repair mode.
	if err := r.unlockNetwork(); err != nil {
		return nil, err
	}
	res := &Result{Root: r.tree.root().real}
	for _, t := range r.tree.tasks {
		res.Pids = append(res.Pids, t.real)
	}
	if r.opts.PidFile != "" {
		if err := writePidFile(r.opts.PidFile, res.Root); err != nil {
			return nil, err
		}
	}
	if err := r.cgroupsDone(); err != nil {
		return nil, err
	}
	if err := r.shellJobForeground(); err != nil {
		return nil, err
	}
	if err := fault.At("restore:before-release"); err != nil {
		return nil, err
	}
	if err := r.canceled(); err != nil {
		return nil, err
	}
	if err := r.hook("pre-resume", 0); err != nil {
		return nil, err
	}
	if err := r.detachAll(); err != nil {
		return nil, err
	}
	r.stats.restore = time.Since(r.stats.start)
	r.step("resume tasks")
	r.logCalls()
	r.hookWarn("post-resume")
	return res, nil
}

// finish waits for the root unless the tree is to run detached.
func (r *restorer) finish(res *Result) (*Result, error) {
	res.Timings = r.timings
	if r.opts.Detach {
		return res, nil
	}
	// As a child subreaper criu-restore also adopts the orphans of the
	// tree: reap them as they come, until the root itself exits.
	var ws unix.WaitStatus
	for {
		pid, err := unix.Wait4(-1, &ws, 0, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return res, fmt.Errorf("wait for pid %d: %w", res.Root, err)
		}
		if pid == res.Root {
			break
		}
	}
	switch {
	case ws.Exited():
		res.ExitStatus = ws.ExitStatus()
	case ws.Signaled():
		res.ExitStatus = 128 + int(ws.Signal())
	}
	return res, nil
}

func writePidFile(path string, pid int) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(strconv.Itoa(pid)+"\n"), 0o644); err != nil {
		return fmt.Errorf("write pid file: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write pid file: %w", err)
	}
	return nil
}

// killAll kills every task created so far and collects what it can.
func (r *restorer) killAll() {
	// A child cloned but not yet known (the restore failed between its
	// clone and its record) is traced all the same: it is killed and
	// reaped first. An init of a nested pid namespace cannot finish
	// dying while a child of its namespace waits for its tracer.
	known := map[int]bool{}
	for _, t := range r.created {
		known[t.real] = true
	}
	for _, t := range r.created {
		for _, th := range t.threads {
			kids, _ := proc.FS{}.Children(t.real, th.tid)
			for _, k := range kids {
				if !known[k] {
					known[k] = true
					unix.Kill(k, unix.SIGKILL)
					r.reap(k)
				}
			}
		}
	}
	for i := len(r.created) - 1; i >= 0; i-- {
		unix.Kill(r.created[i].real, unix.SIGKILL)
	}
	for i := len(r.created) - 1; i >= 0; i-- {
		t := r.created[i]
		// Non-leader threads first: the leader's exit is reported only
		// after theirs.
		for j := len(t.threads) - 1; j >= 0; j-- {
			r.reap(t.threads[j].tid)
		}
	}
	// Killed tasks whose parents were killed too are reaped by whoever
	// adopts them (criu-restore itself when it is a subreaper): wait a
	// little for their PIDs to be free again.
	deadline := time.Now().Add(2 * time.Second)
	for _, t := range r.created {
		for time.Now().Before(deadline) {
			var ws unix.WaitStatus
			unix.Wait4(t.real, &ws, unix.WNOHANG|unix.WALL, nil)
			if !(proc.FS{}).HasPid(t.real) {
				break
			}
			time.Sleep(2 * time.Millisecond)
		}
	}
}

// reap waits until a killed thread is gone (as its tracer, and as its
// parent for the root).
func (r *restorer) reap(tid int) {
	for range 1000 {
		st, err := r.tr.Wait(tid)
		if err != nil || !st.Stopped() {
			break
		}
		// A stop that raced with the SIGKILL: let the kill proceed.
		r.tr.Cont(tid, 0)
	}
	var ws unix.WaitStatus
	unix.Wait4(tid, &ws, unix.WNOHANG|unix.WALL, nil)
}

// canceled is the end of r.ctx, if it came: the restore stops there, and
// what it made is killed.
func (r *restorer) canceled() error {
	if r.ctx == nil {
		return nil
	}
	if err := r.ctx.Err(); err != nil {
		return fmt.Errorf("restore stopped before the tree ran: %w", err)
	}
	return nil
}
