package restore

import (
	"fmt"
	"os"
	"sort"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/criugo/criugo/images"
)

// An nsfs fd (NS, ns_file_entry) is opened again from /proc/PID/ns of a
// task of the tree in that namespace, as CRIU opens it, or, when the
// namespace was criu-seize's own (the inventory's root_ids: the host's,
// which criu-restore is in), from criu-restore's own.
func init() {
	registerFileKind(images.FdTypes_NS, &fileKind{
		has: func(e *images.FileEntry) bool { return e.GetNsf() != nil },
		// Which task the namespace is opened from is known once every
		// task is planned (nsPath); here only its kind.
		check: func(f *fileObjs, e *images.FileEntry) error {
			ne := e.GetNsf()
			if ne == nil {
				return fmt.Errorf("file id %d: NS without ns entry: %w", e.GetId(), ErrBadImage)
			}
			if _, ok := nsFileKinds[ne.GetNsCflag()]; !ok {
				return fmt.Errorf("ns file %d: namespace clone flag %#x: %w", ne.GetId(), ne.GetNsCflag(), ErrBadImage)
			}
			return nil
		},
		open: func(f *fileObjs, e *images.FileEntry) (*os.File, error) {
			path, err := f.nsPath(e.GetNsf())
			if err != nil {
				return nil, err
			}
			flags := int(e.GetNsf().GetFlags()) &^ (unix.O_CREAT | unix.O_EXCL | unix.O_TRUNC | unix.O_NOCTTY)
			fd, err := unix.Open(path, flags|unix.O_CLOEXEC, 0)
			if err != nil {
				return nil, fmt.Errorf("open %s: %w", path, err)
			}
			return f.keep(os.NewFile(uintptr(fd), path)), nil
		},
	})
}

// nsFileKinds are the namespace kinds an NS file can name, by clone flag:
// their /proc/PID/ns name and their id in task_kobj_ids_entry.
var nsFileKinds = map[uint32]struct {
	name string
	id   func(*images.TaskKobjIdsEntry) uint32
}{
	unix.CLONE_NEWNET:    {"net", (*images.TaskKobjIdsEntry).GetNetNsId},
	unix.CLONE_NEWUTS:    {"uts", (*images.TaskKobjIdsEntry).GetUtsNsId},
	unix.CLONE_NEWIPC:    {"ipc", (*images.TaskKobjIdsEntry).GetIpcNsId},
	unix.CLONE_NEWPID:    {"pid", (*images.TaskKobjIdsEntry).GetPidNsId},
	unix.CLONE_NEWNS:     {"mnt", (*images.TaskKobjIdsEntry).GetMntNsId},
	unix.CLONE_NEWUSER:   {"user", (*images.TaskKobjIdsEntry).GetUserNsId},
	unix.CLONE_NEWCGROUP: {"cgroup", (*images.TaskKobjIdsEntry).GetCgroupNsId},
	unix.CLONE_NEWTIME:   {"time", (*images.TaskKobjIdsEntry).GetTimeNsId},
}

// nsPath is where the namespace of an NS file is opened from.
func (f *fileObjs) nsPath(ne *images.NsFileEntry) (string, error) {
	if ne == nil {
		return "", fmt.Errorf("NS without ns entry: %w", ErrBadImage)
	}
	k, ok := nsFileKinds[ne.GetNsCflag()]
	if !ok {
		return "", fmt.Errorf("ns file %d: namespace clone flag %#x: %w", ne.GetId(), ne.GetNsCflag(), ErrBadImage)
	}
	pids := make([]int, 0, len(f.r.plans))
	for pid := range f.r.plans {
		pids = append(pids, pid)
	}
	sort.Ints(pids)
	for _, pid := range pids {
		if ids := f.r.plans[pid].ids; ids != nil && k.id(ids) == ne.GetNsId() {
			return "/proc/" + strconv.Itoa(pid) + "/ns/" + k.name, nil
		}
	}
	if root := f.r.inv.GetRootIds(); root != nil && k.id(root) == ne.GetNsId() {
		return "/proc/self/ns/" + k.name, nil
	}
	return "", fmt.Errorf("ns file %d: %s namespace %d: no task of the tree is in it and it is not the host's: %w", ne.GetId(), k.name, ne.GetNsId(), ErrNotSupported)
}
