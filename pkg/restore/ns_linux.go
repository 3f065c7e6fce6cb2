package restore

import (
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/criugo/criugo/images"
	"github.com/criugo/criugo/pkg/image"
	"github.com/criugo/criugo/pkg/nsenter"
	"github.com/criugo/criugo/pkg/proc"
)

// Namespaces. A tree whose root had a UTS or IPC namespace of its own
// (its id in ids-PID.img differs from inventory.img's root_ids, which are
// the dumping tool's) gets new ones: right after the root is created, it
// is made to unshare(CLONE_NEWUTS|CLONE_NEWIPC) before any child is
// forked, and criu-restore, from an OS thread of its own that joins the
// new namespaces, sets the host and domain names and recreates the IPC
// objects (ipc_linux.go). Every task must share the root's namespaces;
// other kinds of namespace are refused (checkNamespaces).

// nsKind is a namespace kind criu-restore can recreate.
type nsKind struct {
	name string // the /proc/PID/ns name
	flag uint64 // its clone flag
	id   func(*images.TaskKobjIdsEntry) uint32
}

var nsKinds = []nsKind{
	{"ipc", unix.CLONE_NEWIPC, (*images.TaskKobjIdsEntry).GetIpcNsId},
	{"uts", unix.CLONE_NEWUTS, (*images.TaskKobjIdsEntry).GetUtsNsId},
	{"net", unix.CLONE_NEWNET, (*images.TaskKobjIdsEntry).GetNetNsId},
}

func utsnsName(id uint32) string { return image.UTSNS.FileName(id) }

// rootIDs returns the ids of the root task.
func (r *restorer) rootIDs() (*images.TaskKobjIdsEntry, error) {
	root := r.tree.root()
	ids, err := entries[*images.TaskKobjIdsEntry](r.set, idsName(uint32(root.pid)), true)
	if err != nil {
		return nil, err
	}
	switch {
	case len(ids) == 1:
		return ids[0], nil
	case len(ids) == 0 && root.core.GetIds() != nil:
		return root.core.GetIds(), nil
	}
	return nil, fmt.Errorf("read %s: want one entry: %w", idsName(uint32(root.pid)), ErrBadImage)
}

// nsRestorable says whether namespace id of kind name, which task pid
// lived in and which is not criu-restore's, can be recreated: a UTS or
// IPC namespace that the root lived in too.
func (r *restorer) nsRestorable(name string, id uint32) bool {
	if name == "cgroup" {
		return r.cgnsRestorable(id)
	}
	for _, k := range nsKinds {
		if k.name != name {
			continue
		}
		root, err := r.rootIDs()
		return err == nil && k.id(root) == id
	}
	return false
}

// ownNamespaces returns the clone flags of the namespaces the root had of
// its own, to be created anew.
func (r *restorer) ownNamespaces() (uint64, error) {
	inv := r.inv.GetRootIds()
	if inv == nil {
		return 0, nil
	}
	root, err := r.rootIDs()
	if err != nil {
		return 0, err
	}
	var flags uint64
	for _, k := range nsKinds {
		if id := k.id(root); id != 0 && id != k.id(inv) {
			flags |= k.flag
		}
	}
	return flags, nil
}

// restoreNamespaces gives the root t, just created, new UTS and IPC
// namespaces as its images say, and fills them.
func (r *restorer) restoreNamespaces(t *task) error {
	flags, err := r.ownNamespaces()
	if err != nil || flags == 0 {
		return err
	}
	if _, err := r.call(t, t.threads[0], "unshare", unix.SYS_UNSHARE, flags); err != nil {
		return fmt.Errorf("restore namespaces of pid %d: %w", t.pid, err)
	}
	root, err := r.rootIDs()
	if err != nil {
		return err
	}
	if flags&unix.CLONE_NEWUTS != 0 {
		if err := r.restoreUTS(t.pid, root.GetUtsNsId()); err != nil {
			return err
		}
	}
	if flags&unix.CLONE_NEWIPC != 0 {
		if err := r.restoreIPC(t.pid, root.GetIpcNsId()); err != nil {
			return err
		}
	}
	if flags&unix.CLONE_NEWNET != 0 {
		if err := r.restoreNetNs(t.pid, root.GetNetNsId()); err != nil {
			return err
		}
	}
	r.step("restore namespaces")
	return nil
}

// restoreUTS sets the names of the UTS namespace of pid from utsns-<id>.img.
func (r *restorer) restoreUTS(pid int, id uint32) error {
	name := utsnsName(id)
	u, err := single[*images.UtsnsEntry](r.set, name)
	if err != nil {
		return err
	}
	const maxLen = 64 // __NEW_UTS_LEN
	if len(u.GetNodename()) > maxLen || len(u.GetDomainname()) > maxLen {
		return fmt.Errorf("read %s: name over %d bytes: %w", name, maxLen, ErrBadImage)
	}
	err = nsenter.Run(nsPath(pid, "uts"), unix.CLONE_NEWUTS, func() error {
		if err := unix.Sethostname([]byte(u.GetNodename())); err != nil {
			return fmt.Errorf("sethostname: %w", err)
		}
		if err := unix.Setdomainname([]byte(u.GetDomainname())); err != nil {
			return fmt.Errorf("setdomainname: %w", err)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("restore uts namespace (%s): %w", name, err)
	}
	return nil
}

func nsPath(pid int, name string) string {
	return proc.FS{}.Path(pid, 0, "ns", name)
}
