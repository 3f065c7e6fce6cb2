package dump

import (
	"fmt"

	"github.com/criugo/criugo/images"
	"github.com/criugo/criugo/pkg/image"
)

// PID namespaces nested below the root's. A task of the tree may be the
// init (pid 1) of a PID namespace of its own, a child of its parent's,
// with tasks of its own below it, and so on down. pstree.img holds each
// task's ids in the root's namespace only (CRIU's format has no place for
// the others, and CRIU refuses such a tree); the ids of every task and
// thread below the root's namespace, one per level, go into nspid.img
// (image.NsPid, images/criugo.proto):
//
//	root's namespace   nspid.img entry           /proc/PID/status (dumper's view)
//	pid 3 (init of B)  {id 3, ns_ids [1]}        NSpid: 4711 3 1
//	pid 5 (in B)       {id 5, ns_ids [2]}        NSpid: 4713 5 2
//
// The shape the restore can make again is the shape fork and clone make:
// a task is in its parent's PID namespace, or is the init of a new one
// whose parent is the parent's; and its namespace for children is its
// own. Anything else (a task that joined a namespace with setns, one that
// unshared and has not forked yet) is refused while the tree is frozen
// (checkPidNs), and the tree runs on.

// pidLevels holds, by pid in the dumper's namespace, the ids of each task
// and thread from the root's namespace down to its own (NSpid past the
// root's level); filled by checkPidNs.
type pidLevels map[int][]int

// checkPidNs checks the PID namespaces of every task of the tree against
// the shape above, and records each task's and thread's ids per level.
// rootLevel is the index of the root's namespace in NSpid.
func (d *dumper) checkPidNs(rootLevel int) error {
	d.pidLevels = pidLevels{}
	byNs := map[int]*task{}
	for _, t := range d.att.tasks {
		byNs[t.nsPid] = t
	}
	pidNs := map[int]uint64{} // by dumper's pid, live tasks only
	for i, t := range d.att.tasks {
		st, err := d.fs.Status(t.pid, 0)
		if err != nil {
			return fmt.Errorf("read status of pid %d: %w", t.pid, err)
		}
		if len(st.NSpid) <= rootLevel {
			return fmt.Errorf("pid %d has no id in the root's pid namespace: %w", t.pid, ErrNotSupported)
		}
		ids := st.NSpid[rootLevel:]
		d.pidLevels[t.pid] = ids
		if !t.zombie {
			ns, err := d.fs.Namespaces(t.pid)
			if err != nil {
				return fmt.Errorf("read namespaces of pid %d: %w", t.pid, err)
			}
			pidNs[t.pid] = ns["pid"]
			if kids, ok := ns["pid_for_children"]; ok && kids != ns["pid"] {
				return fmt.Errorf("pid %d has a PID namespace for its children other than its own (pid_for_children:[%d], its own is [%d]: it unshared or joined one with setns, children it forks would be in that one): %w",
					t.pid, kids, ns["pid"], ErrNotSupported)
			}
			for _, th := range t.fr.GetThreads() {
				if int(th.GetTid()) == t.pid {
					continue
				}
				tst, err := d.fs.Status(t.pid, int(th.GetTid()))
				if err != nil {
					return fmt.Errorf("read status of tid %d: %w", th.GetTid(), err)
				}
				if len(tst.NSpid) != len(st.NSpid) {
					return fmt.Errorf("tid %d of pid %d has ids in %d pid namespaces, its process in %d: %w", th.GetTid(), t.pid, len(tst.NSpid), len(st.NSpid), ErrBadInput)
				}
				d.pidLevels[int(th.GetTid())] = tst.NSpid[rootLevel:]
			}
		}
		if i == 0 {
			if len(ids) != 1 {
				return fmt.Errorf("pid %d: the root is %d pid namespaces below its own: %w", t.pid, len(ids)-1, ErrBadInput)
			}
			continue
		}
		p := byNs[int(t.ps.GetPpid())]
		if p == nil {
			return fmt.Errorf("pid %d: parent %d is not in the tree: %w", t.pid, t.ps.GetPpid(), ErrBadInput)
		}
		pids := d.pidLevels[p.pid]
		switch {
		case len(ids) == len(pids):
			if t.zombie || pidNs[t.pid] == pidNs[p.pid] {
				continue
			}
			return fmt.Errorf("pid %d is in a PID namespace (pid:[%d]) other than its parent's (pid %d, pid:[%d]) at the same depth (it was put there with setns): %w",
				t.pid, pidNs[t.pid], p.pid, pidNs[p.pid], ErrNotSupported)
		case len(ids) == len(pids)+1 && ids[len(ids)-1] == 1:
			// The init of a namespace nested in its parent's.
		case len(ids) == len(pids)+1:
			return fmt.Errorf("pid %d is pid %d of a PID namespace nested below its parent's (pid %d), not its init (it was put there with setns): a nested PID namespace is dumped with its init: %w",
				t.pid, ids[len(ids)-1], p.pid, ErrNotSupported)
		default:
			return fmt.Errorf("pid %d is %d PID namespaces below its parent's (pid %d): %w", t.pid, len(ids)-len(pids), p.pid, ErrNotSupported)
		}
	}
	return d.checkNestedGroups(rootLevel)
}

// checkNestedGroups refuses a task below the root's PID namespace in a
// process group it must join on restore (neither its own nor its
// parent's) whose leader its namespace cannot name: setpgid takes the
// group's id in the caller's namespace.
func (d *dumper) checkNestedGroups(rootLevel int) error {
	byNs := map[int]*task{}
	for _, t := range d.att.tasks {
		byNs[t.nsPid] = t
	}
	for _, t := range d.att.tasks[1:] {
		if t.zombie || len(d.pidLevels[t.pid]) == 1 {
			continue
		}
		pgid := int(t.ps.GetPgid())
		p := byNs[int(t.ps.GetPpid())]
		if pgid == t.nsPid || p == nil || pgid == int(p.ps.GetPgid()) {
			continue
		}
		st, err := d.fs.Status(t.pid, 0)
		if err != nil {
			return fmt.Errorf("read status of pid %d: %w", t.pid, err)
		}
		if n := len(st.NSpgid); n > rootLevel && st.NSpgid[n-1] == 0 {
			return fmt.Errorf("pid %d is in process group %d, whose leader is outside its nested PID namespace, and not its parent's group: %w",
				t.pid, pgid, ErrNotSupported)
		}
	}
	return nil
}

// nested reports whether any task lives below the root's PID namespace.
func (l pidLevels) nested() bool {
	for _, ids := range l {
		if len(ids) > 1 {
			return true
		}
	}
	return false
}

// dumpNsPids writes nspid.img when a task lives below the root's PID
// namespace: an entry for each such task and thread, in pstree order.
func (d *dumper) dumpNsPids() error {
	if !d.pidLevels.nested() {
		return nil
	}
	var ents []image.Entry
	add := func(hostID int) {
		ids := d.pidLevels[hostID]
		if len(ids) < 2 {
			return
		}
		e := &images.CriugoNspidEntry{Id: ptr(uint32(ids[0]))}
		for _, id := range ids[1:] {
			e.NsIds = append(e.NsIds, uint32(id))
		}
		ents = append(ents, image.Entry{Msg: e})
	}
	for _, t := range d.att.tasks {
		add(t.pid)
		if t.zombie {
			continue
		}
		for _, th := range t.fr.GetThreads() {
			if int(th.GetTid()) != t.pid {
				add(int(th.GetTid()))
			}
		}
	}
	img, err := encodeImage(image.NsPid, ents...)
	if err != nil {
		return err
	}
	d.out[image.NsPid.FileName(nil)] = img
	return nil
}
