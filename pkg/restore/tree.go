package restore

import (
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/criugo/criugo/images"
	"github.com/criugo/criugo/pkg/ptrace"
)

// task is one process of the tree: what pstree.img and its core say it is,
// and, once created, the threads criu-restore traces.
type task struct {
	pid, ppid, pgid, sid int
	tids                 []int // threads, the leader first; empty for a zombie
	parent               *task
	children             []*task
	core                 *images.CoreEntry // the leader's core
	state                uint32            // images.TaskAlive, images.TaskDead, images.TaskStopped
	pstreeThreads        []uint32          // what pstree.img lists for a task taken for a zombie

	// Session and group actions taken right after the task is created,
	// in its own context (see planSessions).
	doSetsid   bool
	doSetpgid  bool // setpgid(0, 0): lead a group of its own
	session    int  // sid right after creation; 0 means "criu-restore's"
	createPgid int  // pgid right after creation; 0 means "criu-restore's"
	joinPgid   int  // setpgid(0, joinPgid) once every task exists; 0 if none

	// Live state while restoring.
	// real is the pid criu-restore knows the task by once it exists: its
	// pid, unless the tree has a pid namespace of its own, where pid is
	// the task's pid in that namespace (what the images say).
	real       int
	threads    []*thread // threads[0] is the leader once created
	scratch    uint64    // address of the scratch area
	memoryDone bool      // restoreMemory ran
	memoryIn   bool      // restoreMemory succeeded: children may be forked
	// forkedFrom is the memory plan of the parent the task was forked
	// from once that parent's memory was in (createChild); nil for the
	// root.
	forkedFrom *mmPlan
	// proxy is the task's proxied vDSO (vdso_linux.go); nil when its
	// vDSO is in place.
	proxy *vdsoProxy
}

func (t *task) zombie() bool { return t.state == images.TaskDead }

// thread is one traced thread of a task under restore.
type thread struct {
	// tid is the thread's id as criu-restore (its tracer) sees it; vtid
	// is its id in the tree's pid namespace, as the images give it (the
	// same, unless the tree has a pid namespace of its own).
	tid, vtid int
	// base holds the registers the thread had when first stopped; injected
	// calls start from them (segment selectors, flags).
	base ptrace.Regs
	// detachSig is a signal to deliver when the thread is let go.
	detachSig unix.Signal
}

// tree is the whole process tree of the image set, in pstree order:
// every task comes after its parent.
type tree struct {
	tasks []*task
	byPid map[int]*task
	// newPidNS is set when the tree had a pid namespace of its own: its
	// pids are those it has there, and they are taken in a new one.
	newPidNS bool
	// levels holds, for each task and thread below the root's pid
	// namespace (nspid.img), its ids from the root's namespace down to
	// its own; the others have one id, pstree.img's (see ids).
	levels map[int][]int
}

// ids returns the ids of task or thread id (pstree.img's) in every pid
// namespace from the root's down to its own.
func (tr *tree) ids(id int) []int {
	if l, ok := tr.levels[id]; ok {
		return l
	}
	return []int{id}
}

// own returns the id of task or thread id (pstree.img's) in its own pid
// namespace: the one its own system calls take.
func (tr *tree) own(id int) int {
	l := tr.ids(id)
	return l[len(l)-1]
}

// depth returns how many pid namespaces task or thread id lives below
// the root's.
func (tr *tree) depth(id int) int { return len(tr.ids(id)) - 1 }

// nested reports whether a task lives below the root's pid namespace.
func (tr *tree) nested() bool { return len(tr.levels) > 0 }

// newPidNsInit reports whether t is the init of a pid namespace nested
// below its parent's: created with CLONE_NEWPID.
func (tr *tree) newPidNsInit(t *task) bool {
	return t.parent != nil && tr.depth(t.pid) == tr.depth(t.parent.pid)+1
}

func (tr *tree) root() *task { return tr.tasks[0] }

// buildTree reads pstree.img and the leaders' cores and checks that the
// tree can be recreated.
func buildTree(set *imageSet) (*tree, error) {
	tr, err := treeFromPstree(set)
	if err != nil {
		return nil, err
	}
	for _, t := range tr.tasks {
		if err := tr.attachCore(set, t); err != nil {
			return nil, err
		}
	}
	return tr, nil
}

// treeFromPstree builds the tree from pstree.img alone: enough to create
// every task with its PID, session and group. A task listed without
// threads, or with one thread that is not itself, is taken for a zombie
// until its core says otherwise: CRIU lists a zombie with one tid it
// never sets (0 when the memory happened to be clear, any value else).
func treeFromPstree(set *imageSet) (*tree, error) {
	ents, err := entries[*images.PstreeEntry](set, "pstree.img", false)
	if err != nil {
		return nil, err
	}
	if len(ents) == 0 {
		return nil, fmt.Errorf("read pstree.img: no tasks: %w", ErrBadImage)
	}
	tr := &tree{byPid: map[int]*task{}}
	seen := map[int]string{}
	claim := func(id int, what string) error {
		if id <= 0 || id > maxPid {
			return fmt.Errorf("read pstree.img: %s %d out of range: %w", what, id, ErrBadImage)
		}
		if prev, dup := seen[id]; dup {
			return fmt.Errorf("read pstree.img: %s %d is also %s: %w", what, id, prev, ErrBadImage)
		}
		seen[id] = what
		return nil
	}
	for i, e := range ents {
		t := &task{pid: int(e.GetPid()), ppid: int(e.GetPpid()), pgid: int(e.GetPgid()), sid: int(e.GetSid())}
		if err := claim(t.pid, "pid"); err != nil {
			return nil, err
		}
		if t.pgid <= 0 || t.sid <= 0 {
			return nil, fmt.Errorf("read pstree.img: pid %d has pgid %d, sid %d: %w", t.pid, t.pgid, t.sid, ErrBadImage)
		}
		th := e.GetThreads()
		if len(th) == 0 || len(th) == 1 && int(th[0]) != t.pid {
			t.state = images.TaskDead
			t.pstreeThreads = th
		} else {
			t.state = images.TaskAlive
			t.tids = append(t.tids, t.pid)
			leader := false
			for _, tid := range th {
				if int(tid) == t.pid {
					leader = true
					continue
				}
				if err := claim(int(tid), fmt.Sprintf("thread of %d", t.pid)); err != nil {
					return nil, err
				}
				t.tids = append(t.tids, int(tid))
			}
			if !leader {
				return nil, fmt.Errorf("read pstree.img: pid %d is not among its threads %v: %w", t.pid, th, ErrBadImage)
			}
		}
		if i > 0 {
			p, ok := tr.byPid[t.ppid]
			if !ok {
				return nil, fmt.Errorf("read pstree.img: parent %d of pid %d is not listed before it: %w", t.ppid, t.pid, ErrBadImage)
			}
			if p.zombie() {
				return nil, fmt.Errorf("read pstree.img: parent %d of pid %d is a zombie: %w", t.ppid, t.pid, ErrBadImage)
			}
			t.parent = p
			p.children = append(p.children, t)
		} else if t.zombie() {
			return nil, fmt.Errorf("read pstree.img: the root %d has no threads: %w", t.pid, ErrBadImage)
		}
		tr.tasks = append(tr.tasks, t)
		tr.byPid[t.pid] = t
	}
	if err := tr.readNsPids(set); err != nil {
		return nil, err
	}
	if err := tr.planSessions(); err != nil {
		return nil, err
	}
	return tr, nil
}

// readNsPids reads nspid.img, when the set has one, and checks that the
// pid namespaces it describes are ones clone can make again: every task
// in its parent's namespace or the init (pid 1) of one nested in it, its
// threads in its own.
func (tr *tree) readNsPids(set *imageSet) error {
	const name = "nspid.img"
	ents, err := entries[*images.CriugoNspidEntry](set, name, true)
	if err != nil || len(ents) == 0 {
		return err
	}
	const maxDepth = 32 // MAX_PID_NS_LEVEL
	tr.levels = map[int][]int{}
	owner := map[int]*task{}
	for _, t := range tr.tasks {
		owner[t.pid] = t
		for _, tid := range t.tids {
			owner[tid] = t
		}
	}
	for _, e := range ents {
		id := int(e.GetId())
		if owner[id] == nil {
			return fmt.Errorf("read %s: id %d is no task or thread of pstree.img: %w", name, id, ErrBadImage)
		}
		if _, dup := tr.levels[id]; dup {
			return fmt.Errorf("read %s: id %d twice: %w", name, id, ErrBadImage)
		}
		if len(e.GetNsIds()) == 0 || len(e.GetNsIds()) >= maxDepth {
			return fmt.Errorf("read %s: id %d in %d nested pid namespaces: %w", name, id, len(e.GetNsIds()), ErrBadImage)
		}
		l := []int{id}
		for _, v := range e.GetNsIds() {
			if v == 0 || v > maxPid {
				return fmt.Errorf("read %s: id %d has id %d in a nested pid namespace: %w", name, id, v, ErrBadImage)
			}
			l = append(l, int(v))
		}
		tr.levels[id] = l
	}
	for _, t := range tr.tasks {
		for _, tid := range t.tids {
			if tr.depth(tid) != tr.depth(t.pid) {
				return fmt.Errorf("read %s: thread %d of pid %d is in another pid namespace: %w", name, tid, t.pid, ErrBadImage)
			}
		}
		if t.parent == nil {
			if tr.depth(t.pid) != 0 {
				return fmt.Errorf("read %s: the root %d is below its own pid namespace: %w", name, t.pid, ErrBadImage)
			}
			continue
		}
		d, pd := tr.depth(t.pid), tr.depth(t.parent.pid)
		switch {
		case d == pd:
		case d == pd+1 && tr.own(t.pid) == 1:
		default:
			return fmt.Errorf("read %s: pid %d is %d pid namespaces below its parent %d, as pid %d: %w", name, t.pid, d-pd, t.parent.pid, tr.own(t.pid), ErrBadImage)
		}
	}
	return nil
}

// attachCore reads the core of a task's leader and checks it agrees with
// pstree.img.
func (tr *tree) attachCore(set *imageSet, t *task) error {
	name := coreName(uint32(t.pid))
	core, err := single[*images.CoreEntry](set, name)
	if err != nil {
		return err
	}
	if core.GetMtype() != images.CoreEntry_X86_64 {
		return fmt.Errorf("read %s: machine %v: %w", name, core.GetMtype(), ErrNotSupported)
	}
	if core.GetTc() == nil {
		return fmt.Errorf("read %s: no task core: %w", name, ErrBadImage)
	}
	t.core = core
	state := core.GetTc().GetTaskState()
	switch state {
	case images.TaskAlive, images.TaskStopped:
		if t.zombie() {
			return fmt.Errorf("read %s: live task %d has no threads in pstree.img (it lists %v): %w", name, t.pid, t.pstreeThreads, ErrBadImage)
		}
		t.state = state
	case images.TaskDead:
		if !t.zombie() {
			return fmt.Errorf("read %s: zombie %d has threads in pstree.img: %w", name, t.pid, ErrBadImage)
		}
	case images.TaskHelper:
		return fmt.Errorf("read %s: pid %d is a helper task: %w", name, t.pid, ErrNotSupported)
	default:
		return fmt.Errorf("read %s: task state %d: %w", name, state, ErrBadImage)
	}
	return nil
}

// maxPid bounds PIDs read from images (PID_MAX_LIMIT).
const maxPid = 1 << 22

// allIDs lists every PID and TID the tree will take.
func (tr *tree) allIDs() []int {
	var ids []int
	for _, t := range tr.tasks {
		if t.zombie() {
			ids = append(ids, t.pid)
			continue
		}
		ids = append(ids, t.tids...)
	}
	return ids
}

// planSessions decides how every task gets its session and process group.
//
// A task created by fork starts in its parent's session and group. Right
// after creation a task whose sid is its own pid calls setsid(), and one
// whose pgid is its own pid calls setpgid(0, 0); both happen before it
// forks its children, who then inherit the new session or group, as in the
// original history. A task in another task's group joins it with
// setpgid(0, pgid) once every task exists, when the group surely does.
//
// The root's session and group, when they are not its own, were outside
// the dumped tree: the root stays in criu-restore's (as CRIU's
// --shell-job does), and so do the tasks that shared them. Below, 0 stands
// for "criu-restore's".
func (tr *tree) planSessions() error {
	root := tr.root()
	outside := func(id, rootID int) int {
		if id == rootID && rootID != root.pid {
			return 0
		}
		return id
	}
	for _, t := range tr.tasks {
		sid, pgid := outside(t.sid, root.sid), outside(t.pgid, root.pgid)
		if t.sid == t.pid {
			t.doSetsid = true
			t.session, t.createPgid = t.pid, t.pid
			if t.pgid != t.pid {
				return fmt.Errorf("restore pid %d: session leader in group %d: %w", t.pid, t.pgid, ErrBadImage)
			}
			continue
		}
		inheritSid, inheritPgid := 0, 0
		if t.parent != nil {
			inheritSid, inheritPgid = t.parent.session, t.parent.createPgid
		}
		if sid != inheritSid {
			return fmt.Errorf("restore pid %d: session %d is neither its parent's nor its own: %w", t.pid, t.sid, ErrNotSupported)
		}
		t.session = inheritSid
		switch {
		case t.pgid == t.pid:
			t.doSetpgid = true
			t.createPgid = t.pid
		case pgid == inheritPgid:
			t.createPgid = inheritPgid
		default:
			t.createPgid = inheritPgid
			if pgid == 0 {
				return fmt.Errorf("restore pid %d: process group %d is outside the tree: %w", t.pid, t.pgid, ErrNotSupported)
			}
			t.joinPgid = pgid
		}
	}
	for _, t := range tr.tasks {
		if t.joinPgid == 0 {
			continue
		}
		leader, ok := tr.byPid[t.joinPgid]
		if !ok || leader.sid != t.sid || leader.createPgid != t.joinPgid {
			return fmt.Errorf("restore pid %d: process group %d has no leader in its session: %w", t.pid, t.pgid, ErrNotSupported)
		}
	}
	return nil
}
