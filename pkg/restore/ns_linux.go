package restore

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"github.com/criugo/criugo/images"
	"github.com/criugo/criugo/pkg/image"
	"github.com/criugo/criugo/pkg/nsenter"
	"github.com/criugo/criugo/pkg/proc"
)

// Namespaces. A tree whose root had a namespace of its own (its id in
// ids-PID.img differs from inventory.img's root_ids, which are the
// dumping tool's) gets a new one of the kind, made by the root before any
// other task exists, so that every task forked from it shares it:
//
//   - user: the root is forked into a new user namespace, first of all,
//     its maps written from outside (userns_linux.go); every namespace
//     below is then made by the root inside it, and owned by it.
//   - pid: the root is forked into a new pid namespace (clone3 with
//     CLONE_NEWPID, set_tid 1): it is the namespace's init, and every
//     other task is cloned inside with its pid there. criu-restore knows
//     the tasks by their pids outside (task.real, thread.tid).
//   - ipc, uts, time: the root unshares them at once; criu-restore, from
//     an OS thread of its own that joins the new namespace, sets the host
//     and domain names and recreates the IPC objects (ipc_linux.go); a
//     time namespace gets its clock offsets before the root enters it
//     (timens_linux.go).
//   - joined (net, uts, ipc): a namespace the caller gives, by
//     Options.JoinNs or, for a network namespace the images hold as
//     external, by the inherited fd of its key (netns_linux.go), is
//     entered by the root with an injected setns(2) instead of being
//     unshared. The root is a copy of criu-restore, fd table included,
//     so the fd criu-restore holds the namespace by is the root's too
//     (until the root's inherited fds are closed, much later). What the
//     images hold of a namespace of the tree's own goes into the joined
//     one, as CRIU fills it.
//
// nsKinds, in the order the root makes them, is the one place that says
// which kinds a root can have of its own. Every task must share the
// root's namespaces; other kinds are refused (checkNamespaces).

// nsKind is a namespace kind criu-restore can recreate.
type nsKind struct {
	name string // the /proc/PID/ns name
	flag uint64 // its clone flag
	id   func(*images.TaskKobjIdsEntry) uint32
	// atFork: the root is forked into a new namespace of the kind (it is
	// its first task) rather than unsharing one once it exists.
	atFork bool
	// fill makes the new namespace, the root's, what its image says; it
	// runs once the root has unshared, before any other task exists.
	fill func(r *restorer, root *task, id uint32) error
}

// nsKinds are the kinds a root can have of its own, in CRIU's order of
// making them.
var nsKinds = []nsKind{
	{name: "user", flag: unix.CLONE_NEWUSER, id: (*images.TaskKobjIdsEntry).GetUserNsId, atFork: true},
	{name: "pid", flag: unix.CLONE_NEWPID, id: (*images.TaskKobjIdsEntry).GetPidNsId, atFork: true},
	{name: "uts", flag: unix.CLONE_NEWUTS, id: (*images.TaskKobjIdsEntry).GetUtsNsId, fill: (*restorer).restoreUTS},
	{name: "ipc", flag: unix.CLONE_NEWIPC, id: (*images.TaskKobjIdsEntry).GetIpcNsId, fill: (*restorer).restoreIPC},
	{name: "net", flag: unix.CLONE_NEWNET, id: (*images.TaskKobjIdsEntry).GetNetNsId, fill: func(r *restorer, t *task, id uint32) error { return r.restoreNetNs(t.real, id) }},
	{name: "time", flag: unix.CLONE_NEWTIME, id: (*images.TaskKobjIdsEntry).GetTimeNsId, fill: (*restorer).restoreTimeNS},
}

func utsnsName(id uint32) string { return image.UTSNS.FileName(id) }

// rootIDs returns the ids of the root task.
func (r *restorer) rootIDs() (*images.TaskKobjIdsEntry, error) {
	if r.rootIds != nil {
		return r.rootIds, nil
	}
	root := r.tree.root()
	ids, err := entries[*images.TaskKobjIdsEntry](r.set, idsName(uint32(root.pid)), true)
	if err != nil {
		return nil, err
	}
	switch {
	case len(ids) == 1:
		r.rootIds = ids[0]
		return r.rootIds, nil
	case len(ids) == 0 && root.core.GetIds() != nil:
		r.rootIds = root.core.GetIds()
		return r.rootIds, nil
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
	if name == "mount" {
		return r.mountNsRestorable(id)
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

// planPidNS marks a tree that had a pid namespace of its own, once its
// root's ids are in, and checks that its root was the namespace's init.
func (r *restorer) planPidNS() error {
	own, err := r.newPidNS()
	if err != nil || !own {
		return err
	}
	if root := r.tree.root(); root.pid != 1 {
		return fmt.Errorf("restore pid %d: the root of a tree in a pid namespace of its own is not its init (pid 1): %w", root.pid, ErrNotSupported)
	}
	r.tree.newPidNS = true
	return nil
}

// newPidNS says whether the tree had a pid namespace of its own, whose
// init the root was.
func (r *restorer) newPidNS() (bool, error) {
	flags, err := r.ownNamespaces()
	return flags&unix.CLONE_NEWPID != 0, err
}

// restoreNamespaces gives the root t, just created (in its new pid
// namespace, if it had one), the other namespaces it had of its own, and
// fills them.
func (r *restorer) restoreNamespaces(t *task) error {
	flags, err := r.ownNamespaces()
	if err != nil {
		return err
	}
	joins, err := r.joinedNs()
	if err != nil {
		return err
	}
	var unshare, joined uint64
	for _, k := range nsKinds {
		if _, ok := joins[k.flag]; ok {
			joined |= k.flag
		} else if flags&k.flag != 0 && !k.atFork {
			unshare |= k.flag
		}
	}
	if unshare|joined == 0 {
		return nil
	}
	if unshare != 0 {
		if _, err := r.call(t, t.threads[0], "unshare", unix.SYS_UNSHARE, unshare); err != nil {
			return fmt.Errorf("restore namespaces of pid %d: %w", t.pid, err)
		}
	}
	for _, k := range nsKinds {
		j, ok := joins[k.flag]
		if !ok {
			continue
		}
		if _, err := r.call(t, t.threads[0], "setns", unix.SYS_SETNS, uint64(j.file.Fd()), k.flag); err != nil {
			return fmt.Errorf("restore pid %d into the %s namespace %s: %w", t.pid, k.name, j.what, err)
		}
		r.logf("pid %d joined the %s namespace %s", t.pid, k.name, j.what)
	}
	root, err := r.rootIDs()
	if err != nil {
		return err
	}
	for _, k := range nsKinds {
		if flags&k.flag == 0 || k.atFork || k.fill == nil {
			continue
		}
		if err := k.fill(r, t, k.id(root)); err != nil {
			return err
		}
	}
	if joined&unix.CLONE_NEWNET != 0 && flags&unix.CLONE_NEWNET == 0 {
		// The tree had criu-restore's network namespace and is put into
		// another: its sockets are made there.
		if err := r.openNetNs(t.real); err != nil {
			return err
		}
	}
	r.step("restore namespaces")
	return nil
}

// joinNs is a namespace the root enters instead of a new one: file is
// criu-restore's, what names it in messages.
type joinNs struct {
	file *os.File
	what string
}

// joinableNs are the kinds Options.JoinNs takes, with their clone flags.
// A mount or user namespace cannot be entered by a thread of a
// multithreaded process, nor a pid namespace by a task that exists; CRIU
// takes time and mnt too, which criugo refuses.
var joinableNs = map[string]uint64{
	"net": unix.CLONE_NEWNET,
	"uts": unix.CLONE_NEWUTS,
	"ipc": unix.CLONE_NEWIPC,
}

// joinedNs returns the namespaces the root enters, by clone flag: those
// of Options.JoinNs, and the network namespace the images hold as
// external, from the inherited fd of its key (a --join-ns net wins, and
// needs no inherited fd).
func (r *restorer) joinedNs() (map[uint64]joinNs, error) {
	joins := map[uint64]joinNs{}
	for _, j := range r.opts.JoinNs {
		flag, ok := joinableNs[j.Kind]
		if !ok {
			return nil, fmt.Errorf("join %s namespace: only net, uts and ipc namespaces are joined: %w", j.Kind, ErrNotSupported)
		}
		if j.File == nil {
			return nil, fmt.Errorf("join %s namespace: no file: %w", j.Kind, ErrOptions)
		}
		if _, dup := joins[flag]; dup {
			return nil, fmt.Errorf("join %s namespace: given twice: %w", j.Kind, ErrOptions)
		}
		joins[flag] = joinNs{file: j.File, what: j.File.Name() + " (--join-ns)"}
	}
	if _, ok := joins[unix.CLONE_NEWNET]; ok && r.opts.EmptyNetNs {
		return nil, fmt.Errorf("join net namespace: not with --empty-ns net: %w", ErrOptions)
	}
	key, err := r.extNetKey()
	if err != nil || key == "" {
		return joins, err
	}
	r.net.extKey = key
	if _, ok := joins[unix.CLONE_NEWNET]; ok {
		return joins, nil
	}
	f := r.inheritedKey(key)
	if f == nil {
		return nil, fmt.Errorf("restore: the network namespace is external (key %s): give it with --inherit-fd fd[N]:%s (RPC inherit_fd) or --join-ns net:PATH: %w", key, key, ErrOptions)
	}
	joins[unix.CLONE_NEWNET] = joinNs{file: f, what: fmt.Sprintf("%s (external %s, inherited)", f.Name(), key)}
	return joins, nil
}

// restoreUTS sets the names of the UTS namespace of t from utsns-<id>.img.
func (r *restorer) restoreUTS(t *task, id uint32) error {
	name := utsnsName(id)
	u, err := single[*images.UtsnsEntry](r.set, name)
	if err != nil {
		return err
	}
	const maxLen = 64 // __NEW_UTS_LEN
	if len(u.GetNodename()) > maxLen || len(u.GetDomainname()) > maxLen {
		return fmt.Errorf("read %s: name over %d bytes: %w", name, maxLen, ErrBadImage)
	}
	err = nsenter.Run(nsPath(t.real, "uts"), unix.CLONE_NEWUTS, func() error {
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
