package seize

import (
	"crypto/rand"
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/criugo/criugo/images"
)

// Thread is one thread of a frozen task.
type Thread struct {
	Tid    int    // in criu-seize's pid namespace
	NsTid  int    // in the root's pid namespace (pstree.img)
	SigPnd uint64 // thread-private pending signals, as found
}

// Task is one process of the frozen tree, as criu-seize found it.
type Task struct {
	Pid   int // in criu-seize's pid namespace: the id to signal
	NsPid int // in the root's pid namespace: the id pstree.img gives
	// PPid is the parent's Pid (criu-seize's namespace); 0 for the root.
	PPid int
	// Pgid and Sid are in the root's pid namespace, as pstree.img holds
	// them; 0 when that namespace cannot see the group or session leader.
	Pgid, Sid   int
	State       images.CriugoTaskState
	StoppedByUs bool
	ShdPnd      uint64
	StartTime   uint64
	Threads     []Thread // leader first; empty for a zombie
	// Children are the Pids of the children, in the order CRIU lists them:
	// thread by thread as /proc/PID/task lists the threads, each thread's
	// children as its task/TID/children file lists them.
	Children []int
}

// Tree is a frozen process tree: the root and every task under it.
type Tree struct {
	Root  int
	Tasks map[int]*Task
}

// Order returns the tasks in CRIU's pstree order: depth first, a parent
// before its children, children in Task.Children order. Children missing
// from Tasks are skipped, and each task is listed once.
func (t *Tree) Order() []*Task {
	var out []*Task
	seen := make(map[int]bool, len(t.Tasks))
	var visit func(pid int)
	visit = func(pid int) {
		task := t.Tasks[pid]
		if task == nil || seen[pid] {
			return
		}
		seen[pid] = true
		out = append(out, task)
		for _, c := range task.Children {
			visit(c)
		}
	}
	visit(t.Root)
	return out
}

// PstreeEntries returns pstree.img's entries: one per task in Order, with
// pids in the root's pid namespace and the root's ppid 0. A zombie has one
// thread id, 0, as CRIU 4.2 writes it.
func (t *Tree) PstreeEntries() []*images.PstreeEntry {
	order := t.Order()
	nsOf := make(map[int]int, len(order))
	for _, task := range order {
		nsOf[task.Pid] = task.NsPid
	}
	out := make([]*images.PstreeEntry, 0, len(order))
	for _, task := range order {
		e := &images.PstreeEntry{
			Pid:  proto.Uint32(uint32(task.NsPid)),
			Ppid: proto.Uint32(uint32(nsOf[task.PPid])),
			Pgid: proto.Uint32(uint32(task.Pgid)),
			Sid:  proto.Uint32(uint32(task.Sid)),
		}
		if task.Pid == t.Root {
			e.Ppid = proto.Uint32(0)
		}
		if task.State == images.CriugoTaskState_CRIUGO_TASK_ZOMBIE {
			e.Threads = []uint32{0}
		} else {
			for _, th := range task.Threads {
				e.Threads = append(e.Threads, uint32(th.NsTid))
			}
		}
		out = append(out, e)
	}
	return out
}

// Record returns the freeze record for the tree, frozen by method. cgroup
// and wasFrozen are for the cgroup methods.
func (t *Tree) Record(method images.CriugoFreezeMethod, cgroup string, wasFrozen bool, runID string) *images.CriugoFreezeEntry {
	rec := &images.CriugoFreezeEntry{
		Method:  method.Enum(),
		RootPid: proto.Uint32(uint32(t.Root)),
		RunId:   proto.String(runID),
	}
	if method != images.CriugoFreezeMethod_CRIUGO_FREEZE_PTRACE_STOP {
		rec.Cgroup = proto.String(cgroup)
		rec.CgroupWasFrozen = proto.Bool(wasFrozen)
	}
	for _, task := range t.Order() {
		e := &images.CriugoFreezeTaskEntry{
			Pid:         proto.Uint32(uint32(task.Pid)),
			NsPid:       proto.Uint32(uint32(task.NsPid)),
			State:       task.State.Enum(),
			StoppedByUs: proto.Bool(task.StoppedByUs),
			Shdpnd:      proto.Uint64(task.ShdPnd),
			StartTime:   proto.Uint64(task.StartTime),
		}
		for _, th := range task.Threads {
			e.Threads = append(e.Threads, &images.CriugoFreezeThreadEntry{
				Tid:    proto.Uint32(uint32(th.Tid)),
				NsTid:  proto.Uint32(uint32(th.NsTid)),
				Sigpnd: proto.Uint64(th.SigPnd),
			})
		}
		rec.Tasks = append(rec.Tasks, e)
	}
	return rec
}

// Inventory returns the inventory.img entry CRIU 4.2 writes for a dump
// whose run id is runID.
//
// root_ids are the root task's object ids. CRIU numbers the objects of a
// kind in the order it meets them and meets the root first, so the root's
// vm, files, fs and sighand ids are 1, and its namespaces take the ids 1-8
// in the order CRIU walks the kinds: pid, net, ipc, uts, time, mnt, user,
// cgroup. The stage that writes ids-PID.img must number the same way.
// root_cg_set is 1 for the same reason.
func Inventory(runID string) *images.InventoryEntry {
	return &images.InventoryEntry{
		ImgVersion:  proto.Uint32(2),
		FdinfoPerId: proto.Bool(true),
		RootIds: &images.TaskKobjIdsEntry{
			VmId:       proto.Uint32(1),
			FilesId:    proto.Uint32(1),
			FsId:       proto.Uint32(1),
			SighandId:  proto.Uint32(1),
			PidNsId:    proto.Uint32(1),
			NetNsId:    proto.Uint32(2),
			IpcNsId:    proto.Uint32(3),
			UtsNsId:    proto.Uint32(4),
			TimeNsId:   proto.Uint32(5),
			MntNsId:    proto.Uint32(6),
			UserNsId:   proto.Uint32(7),
			CgroupNsId: proto.Uint32(8),
		},
		NsPerId:           proto.Bool(true),
		RootCgSet:         proto.Uint32(1),
		Lsmtype:           images.Lsmtype_NO_LSM.Enum(),
		NetworkLockMethod: proto.Uint32(0),
		PluginsEntry:      &images.PluginsEntry{},
		DumpCriuRunId:     proto.String(runID),
	}
}

// NewRunID returns a random (version 4) UUID in CRIU's text form, the run
// id of one dump.
func NewRunID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("make run id: %w", err)
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16]), nil
}
