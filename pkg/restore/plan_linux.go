package restore

import (
	"fmt"

	"github.com/criugo/criugo/images"
	"github.com/criugo/criugo/pkg/x86"
)

// taskPlan holds the images of one live task, read and checked before
// anything is created.
type taskPlan struct {
	ids    *images.TaskKobjIdsEntry
	cores  map[int]*images.CoreEntry // by tid, the leader's included
	mm     *mmPlan
	fdinfo string // the fdinfo image's name
	fds    []*images.FdinfoEntry
	fs     *images.FsEntry
	// seccomp holds the threads in a seccomp mode, by tid (seccomp_linux.go).
	seccomp map[int]*seccompThread
	// filesShared: the task shares its parent's fd table (CLONE_FILES):
	// it is created with CLONE_FILES, and the parent restores the fds.
	filesShared bool
}

// core returns the core of thread tid.
func (p *taskPlan) core(tid int) *images.CoreEntry { return p.cores[tid] }

// filesID is the id of t's fd table (ids-P.img, or its core in older
// images), and whether the images tell it.
func (r *restorer) filesID(t *task) (uint32, bool) {
	if ids, err := entries[*images.TaskKobjIdsEntry](r.set, idsName(uint32(t.pid)), true); err == nil && len(ids) == 1 && ids[0].FilesId != nil {
		return ids[0].GetFilesId(), true
	}
	if ids := t.core.GetIds(); ids != nil && ids.FilesId != nil {
		return ids.GetFilesId(), true
	}
	return 0, false
}

// sharesParentFiles reports whether t shares its parent's fd table
// (CLONE_FILES). It reads the images only, so that it holds before the
// task's plan is made (a stream creates the tree first).
func (r *restorer) sharesParentFiles(t *task) bool {
	if t.parent == nil || t.zombie() || t.parent.zombie() {
		return false
	}
	a, ok := r.filesID(t)
	b, okp := r.filesID(t.parent)
	return ok && okp && a == b
}

func (r *restorer) planTask(t *task) (*taskPlan, error) {
	p := &taskPlan{cores: map[int]*images.CoreEntry{t.pid: t.core}}
	ids, err := entries[*images.TaskKobjIdsEntry](r.set, idsName(uint32(t.pid)), true)
	if err != nil {
		return nil, err
	}
	switch {
	case len(ids) == 1:
		p.ids = ids[0]
	case len(ids) == 0 && t.core.GetIds() != nil:
		p.ids = t.core.GetIds()
	default:
		return nil, fmt.Errorf("read %s: want one entry: %w", idsName(uint32(t.pid)), ErrBadImage)
	}
	if err := r.checkNamespaces(t.pid, p.ids); err != nil {
		return nil, err
	}
	if err := r.checkNestedPidNs(t, p.ids); err != nil {
		return nil, err
	}
	for _, tid := range t.tids {
		c := t.core
		if tid != t.pid {
			if c, err = single[*images.CoreEntry](r.set, coreName(uint32(tid))); err != nil {
				return nil, err
			}
			p.cores[tid] = c
		}
		if c.GetThreadInfo() == nil || c.GetThreadInfo().GetGpregs() == nil {
			return nil, fmt.Errorf("read %s: no x86 registers: %w", coreName(uint32(tid)), ErrBadImage)
		}
		if err := checkFPU(tid, c); err != nil {
			return nil, err
		}
		if err := r.planSeccomp(p, tid, c); err != nil {
			return nil, err
		}
		if g := c.GetThreadInfo().GetGpregs(); g.GetMode() != images.UserX86RegsMode_NATIVE {
			return nil, fmt.Errorf("restore tid %d: 32-bit (compat) task: %w", tid, ErrNotSupported)
		}
	}
	if p.mm, err = r.planMM(t.pid); err != nil {
		return nil, err
	}
	if r.inv.GetFdinfoPerId() {
		p.fdinfo = fdinfoName(p.ids.GetFilesId())
	} else {
		p.fdinfo = fdinfoName(uint32(t.pid))
	}
	if p.fds, err = entries[*images.FdinfoEntry](r.set, p.fdinfo, false); err != nil {
		return nil, err
	}
	seen := map[uint32]bool{}
	for _, fd := range p.fds {
		if seen[fd.GetFd()] {
			return nil, fmt.Errorf("read %s: fd %d twice: %w", p.fdinfo, fd.GetFd(), ErrBadImage)
		}
		if fd.GetFd() > maxFd {
			return nil, fmt.Errorf("read %s: fd %d: %w", p.fdinfo, fd.GetFd(), ErrBadImage)
		}
		seen[fd.GetFd()] = true
	}
	if p.fs, err = single[*images.FsEntry](r.set, fsName(uint32(t.pid))); err != nil {
		return nil, err
	}
	for _, pp := range r.plans {
		if pp.ids.GetVmId() == p.ids.GetVmId() {
			return nil, fmt.Errorf("restore pid %d: shares its memory with another process (vfork or CLONE_VM): %w", t.pid, ErrNotSupported)
		}
		if pp.ids.GetFilesId() != p.ids.GetFilesId() {
			continue
		}
		// As CRIU: only a child of a task with the same table, which
		// then clones it with CLONE_FILES (a table shared with a
		// sibling or farther has no task to clone it from).
		if t.parent == nil || r.plans[t.parent.pid] == nil || r.plans[t.parent.pid].ids.GetFilesId() != p.ids.GetFilesId() {
			return nil, fmt.Errorf("restore pid %d: shares its fd table (CLONE_FILES) with a process other than its parent: %w", t.pid, ErrNotSupported)
		}
		p.filesShared = true
	}
	return p, nil
}

// checkNestedPidNs checks that t's pid namespace id agrees with
// nspid.img: its parent's, unless t is the init of one nested in it.
func (r *restorer) checkNestedPidNs(t *task, ids *images.TaskKobjIdsEntry) error {
	if t.parent == nil || ids.PidNsId == nil {
		return nil
	}
	pp := r.plans[t.parent.pid]
	if pp == nil || pp.ids.PidNsId == nil {
		return nil
	}
	same := ids.GetPidNsId() == pp.ids.GetPidNsId()
	if init := r.tree.newPidNsInit(t); same == init {
		return fmt.Errorf("restore pid %d: pid namespace %d, its parent's %d, but nspid.img says it is %s: %w",
			t.pid, ids.GetPidNsId(), pp.ids.GetPidNsId(), map[bool]string{true: "the init of a new one", false: "in its parent's"}[init], ErrBadImage)
	}
	return nil
}

// maxFd bounds fd numbers read from images (the kernel's NR_OPEN).
const maxFd = 1 << 20

// checkNamespaces refuses a task that lived in namespaces of its own:
// criu-restore puts every task in its own namespaces.
func (r *restorer) checkNamespaces(pid int, ids *images.TaskKobjIdsEntry) error {
	root := r.inv.GetRootIds()
	if root == nil {
		return nil
	}
	check := []struct {
		name      string
		has       bool
		got, want uint32
	}{
		{"pid", ids.PidNsId != nil, ids.GetPidNsId(), root.GetPidNsId()},
		{"net", ids.NetNsId != nil, ids.GetNetNsId(), root.GetNetNsId()},
		{"ipc", ids.IpcNsId != nil, ids.GetIpcNsId(), root.GetIpcNsId()},
		{"uts", ids.UtsNsId != nil, ids.GetUtsNsId(), root.GetUtsNsId()},
		{"mount", ids.MntNsId != nil, ids.GetMntNsId(), root.GetMntNsId()},
		{"user", ids.UserNsId != nil, ids.GetUserNsId(), root.GetUserNsId()},
		{"cgroup", ids.CgroupNsId != nil, ids.GetCgroupNsId(), root.GetCgroupNsId()},
		{"time", ids.TimeNsId != nil, ids.GetTimeNsId(), root.GetTimeNsId()},
	}
	for _, c := range check {
		if c.name == "pid" && r.tree.depth(pid) > 0 {
			continue // nested below the root's: checkNestedPidNs
		}
		if c.has && c.got != c.want && !r.nsRestorable(c.name, c.got) {
			return fmt.Errorf("restore pid %d: it lived in a %s namespace of its own: %w", pid, c.name, ErrNotSupported)
		}
	}
	return nil
}

// checkFiles fails early on an fd of a kind criu-restore cannot open, and
// on file locks it cannot take back (filelocks_linux.go).
func (r *restorer) checkFiles() error {
	if _, err := r.planFileLocks(); err != nil {
		return err
	}
	for _, t := range r.tree.tasks {
		p := r.plans[t.pid]
		if p == nil {
			continue
		}
		for _, fd := range p.fds {
			e, err := r.files.entry(fd.GetId())
			if err != nil {
				return fmt.Errorf("restore fd %d of pid %d (%s): %w", fd.GetFd(), t.pid, p.fdinfo, err)
			}
			if err := r.files.checkEntry(e); err != nil {
				return fmt.Errorf("restore fd %d of pid %d (%s): %w", fd.GetFd(), t.pid, p.fdinfo, err)
			}
			if e.GetType() != fd.GetType() {
				return fmt.Errorf("restore fd %d of pid %d (%s): fdinfo says %v, files.img says %v: %w", fd.GetFd(), t.pid, p.fdinfo, fd.GetType(), e.GetType(), ErrBadImage)
			}
		}
		// A root other than / is a chroot, made again by restoreFS.
		if root, err := r.files.entry(p.fs.GetRootId()); err != nil || root.GetReg() == nil {
			return fmt.Errorf("restore root of pid %d (%s): %w", t.pid, fsName(uint32(t.pid)), ErrBadImage)
		}
		if cwd, err := r.files.entry(p.fs.GetCwdId()); err != nil || cwd.GetReg() == nil {
			return fmt.Errorf("restore cwd of pid %d (%s): %w", t.pid, fsName(uint32(t.pid)), ErrBadImage)
		}
	}
	return nil
}

// planMM returns the memory plan of task pid, read once.
func (r *restorer) planMM(pid int) (*mmPlan, error) {
	if p, ok := r.mmPlans[pid]; ok {
		return p, nil
	}
	p, err := planMM(r.set, pid)
	if err != nil {
		return nil, err
	}
	if r.mmPlans == nil {
		r.mmPlans = map[int]*mmPlan{}
	}
	r.mmPlans[pid] = p
	return p, nil
}

// checkFPU refuses a thread whose FPU state holds an xsave feature this
// CPU does not enable: it would fault at its first instruction using it.
func checkFPU(tid int, c *images.CoreEntry) error {
	if err := x86.CheckFeatures(x86.FpregsFeatures(c.GetThreadInfo().GetFpregs()), x86.HostFeatures()); err != nil {
		return fmt.Errorf("check the FPU state of %s: thread %d %w", coreName(uint32(tid)), tid, err)
	}
	return nil
}
