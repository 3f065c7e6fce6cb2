package dump

import (
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/criugo/criugo/images"
	"github.com/criugo/criugo/pkg/image"
	"github.com/criugo/criugo/pkg/nsenter"
)

// Namespaces of the tree. A tree whose root has a UTS or IPC namespace
// other than criu-parasite's gets that namespace's contents dumped, as
// CRIU 4.2 does, into images named after the namespace's id (the id
// ids-PID.img gives it):
//
//	utsns-<id>.img        utsns_entry: nodename, domainname
//	ipcns-var-<id>.img    ipc_var_entry: the namespace's sysctls
//	ipcns-shm-<id>.img    ipc_shm_entry per segment; contents in
//	                      pagemap-shmem-<shmid>.img + pages-N.img
//	ipcns-sem-<id>.img    ipc_sem_entry per set, values after each entry
//	ipcns-msg-<id>.img    ipc_msg_entry per queue, messages after each entry
//
// A root that is the init (pid 1) of a PID namespace of its own is
// dumped with every pid as that namespace gives it (criu-seize's pstree
// and the image names), PID namespaces nested below it with their ids in
// nspid.img (pidns_linux.go); a root with a time namespace of its own gets its
// clocks dumped into timens-<id>.img (globalImages) instead of
// timens-0.img. Every task of the tree must share the root's UTS, IPC
// and time namespaces. A mount namespace of the tree's own is dumped
// by mntns_linux.go, a network namespace of the root's own by
// netns_linux.go, a cgroup namespace kept in cgroup.img
// (cgroup_linux.go). Namespaces of the other kinds only get ids, and must
// be criu-parasite's own: criu-restore puts every task into its own
// namespaces of those kinds. A user namespace of the tree's own, one
// level below criu-parasite's, is dumped by userns_linux.go; any other
// shape (nested user namespaces, tasks in different ones) is refused
// while the tree is frozen, and it runs on (checkNamespaces).

// nsKinds are the namespace kinds whose contents are dumped, by
// /proc/PID/ns name, with their clone flag.
var nsKinds = []struct {
	name string
	flag int
}{
	{"ipc", unix.CLONE_NEWIPC},
	{"uts", unix.CLONE_NEWUTS},
}

// unrestoredNs are the namespace kinds criu-restore does not recreate, by
// /proc/PID/ns name, with what a user would call them.
var unrestoredNs = []struct{ name, what string }{
	{"mnt", "mount"},
}

// rootKinds are the kinds criu-restore recreates for the root, which every
// task must then share: by /proc/PID/ns name, with what a user would call
// them and the name of the one a task's children are to be born in. A
// task whose children are to have another (it unshared one since) is
// refused: the restore could not place them.
// PID namespaces may nest below the root's: checkPidNs (pidns_linux.go).
var rootKinds = []struct{ name, what, forChildren string }{
	{"time", "time", "time_for_children"},
}

// testOwnNamespaces lets the package's tests dump a tree in namespaces of
// its own that the restore would refuse, where a test needs one for
// isolation (TestDumpTCPKill counts the resets of its own network
// namespace). Nothing else sets it.
var testOwnNamespaces bool

// checkNamespaces refuses a tree with a task in a namespace of a kind
// criu-restore does not recreate, other than criu-parasite's: the restore
// would refuse it, so the dump must not kill it.
func (d *dumper) checkNamespaces() error {
	if testOwnNamespaces {
		return nil
	}
	self, err := d.fs.OwnNamespaces()
	if err != nil {
		return fmt.Errorf("read own namespaces: %w", err)
	}
	ownMnt, err := d.checkMountNs(self["mnt"])
	if err != nil {
		return err
	}
	root := d.att.tasks[0]
	rootNs, err := d.fs.Namespaces(root.pid)
	if err != nil {
		return fmt.Errorf("read namespaces of pid %d: %w", root.pid, err)
	}
	if err := d.checkUserNs(root.pid, self, rootNs); err != nil {
		return err
	}
	if ino, ok := rootNs["pid"]; ok && ino != self["pid"] && root.nsPid != 1 {
		return fmt.Errorf("pid %d is in a PID namespace of its own (pid:[%d]) as pid %d, not as its init: a PID namespace is dumped from its init: %w",
			root.pid, ino, root.nsPid, ErrNotSupported)
	}
	rst, err := d.fs.Status(root.pid, 0)
	if err != nil {
		return fmt.Errorf("read status of pid %d: %w", root.pid, err)
	}
	rootLevel := max(len(rst.NSpid)-1, 0)
	if ino, ok := rootNs["pid"]; ok && ino != self["pid"] {
		if err := d.checkLeadersInPidNs(rootLevel); err != nil {
			return err
		}
	}
	if err := d.checkPidNs(rootLevel); err != nil {
		return err
	}
	for _, t := range d.att.tasks {
		if t.zombie {
			continue
		}
		ns, err := d.fs.Namespaces(t.pid)
		if err != nil {
			return fmt.Errorf("read namespaces of pid %d: %w", t.pid, err)
		}
		if err := checkRootNs(t.pid, ns, rootNs); err != nil {
			return err
		}
		// A network namespace of the tree's own is restored
		// (netns_linux.go), one for the whole tree.
		if ns["net"] != rootNs["net"] {
			return fmt.Errorf("pid %d is in a network namespace other than the root's (net:[%d], the root's is [%d]); nested network namespaces are not supported: %w",
				t.pid, ns["net"], rootNs["net"], ErrNotSupported)
		}
		// A user namespace of the tree's own (userns_linux.go) is one
		// for the whole tree.
		if ns["user"] != rootNs["user"] {
			return fmt.Errorf("pid %d is in a user namespace other than the root's (user:[%d], the root's is [%d]); tasks in different user namespaces are not supported: %w",
				t.pid, ns["user"], rootNs["user"], ErrNotSupported)
		}
		for _, k := range unrestoredNs {
			if k.name == "mnt" && ownMnt {
				continue // checked and dumped by mntns_linux.go
			}
			mine, ok := self[k.name]
			if theirs, has := ns[k.name]; ok && has && theirs != mine {
				return fmt.Errorf("pid %d is in a %s namespace of its own (%s:[%d], criu-parasite's is [%d]); restoring %s namespaces is not supported yet: %w",
					t.pid, k.what, k.name, theirs, mine, k.what, ErrNotSupported)
			}
		}
	}
	return nil
}

// checkRootNs refuses task pid, of namespaces ns, unless it shares the
// root's (rootNs) of every kind of rootKinds, for itself and its children.
func checkRootNs(pid int, ns, rootNs map[string]uint64) error {
	for _, k := range rootKinds {
		ino, ok := ns[k.name]
		if !ok {
			continue
		}
		if ino != rootNs[k.name] {
			return fmt.Errorf("pid %d is in a %s namespace other than the root's (%s:[%d], the root's is [%d]): nested %s namespaces are not supported: %w",
				pid, k.what, k.name, ino, rootNs[k.name], k.what, ErrNotSupported)
		}
		if kids, ok := ns[k.forChildren]; ok && kids != ino {
			return fmt.Errorf("pid %d has a %s namespace for its children other than its own (%s:[%d], its own is [%d]): nested %s namespaces are not supported: %w",
				pid, k.what, k.forChildren, kids, ino, k.what, ErrNotSupported)
		}
	}
	return nil
}

// dumpNamespaces writes the images of the UTS and IPC namespaces the
// root has of its own. It runs after every task's ids are known, so the
// ids are the ones ids-PID.img gives.
func (d *dumper) dumpNamespaces(root int) error {
	self, err := d.fs.OwnNamespaces()
	if err != nil {
		return fmt.Errorf("read own namespaces: %w", err)
	}
	rootNs, err := d.fs.Namespaces(root)
	if err != nil {
		return fmt.Errorf("read namespaces of pid %d: %w", root, err)
	}
	for _, t := range d.att.tasks {
		if t.zombie || t.pid == root {
			continue
		}
		ns, err := d.fs.Namespaces(t.pid)
		if err != nil {
			return fmt.Errorf("read namespaces of pid %d: %w", t.pid, err)
		}
		for _, k := range nsKinds {
			if ns[k.name] != rootNs[k.name] {
				return fmt.Errorf("pid %d: %s namespace other than the root's (nested namespaces): %w", t.pid, k.name, ErrNotSupported)
			}
		}
	}
	for _, k := range nsKinds {
		ino, ok := rootNs[k.name]
		if !ok || ino == self[k.name] {
			continue
		}
		id := d.ns.id(k.name, ino)
		switch k.name {
		case "uts":
			err = d.dumpUTS(root, id)
		case "ipc":
			err = d.dumpIPC(root, id)
		}
		if err != nil {
			return err
		}
	}
	if err := d.dumpUserNs(); err != nil {
		return err
	}
	if ino, ok := rootNs["net"]; ok && ino != self["net"] {
		if err := d.dumpNetNs(root, d.ns.id("net", ino)); err != nil {
			return err
		}
	}
	return nil
}

// dumpUTS records the host and domain names of the UTS namespace of pid.
func (d *dumper) dumpUTS(pid int, id uint32) error {
	var u unix.Utsname
	err := nsenter.Run(d.fs.Path(pid, 0, "ns", "uts"), unix.CLONE_NEWUTS, func() error {
		return unix.Uname(&u)
	})
	if err != nil {
		return fmt.Errorf("dump uts namespace of pid %d: %w", pid, err)
	}
	return d.put(image.UTSNS, id, &images.UtsnsEntry{
		Nodename:   ptr(unix.ByteSliceToString(u.Nodename[:])),
		Domainname: ptr(unix.ByteSliceToString(u.Domainname[:])),
	})
}

// checkLeadersInPidNs refuses a tree in a PID namespace of its own with a
// task whose session or process group leader is outside that namespace
// (`unshare --fork --pid` leaves its child in unshare's session): the
// namespace shows such a session as 0, and a restore could not make it
// again. CRIU refuses the same.
func (d *dumper) checkLeadersInPidNs(rootLevel int) error {
	for _, t := range d.att.tasks {
		if t.zombie {
			continue
		}
		st, err := d.fs.Status(t.pid, 0)
		if err != nil {
			return fmt.Errorf("read status of pid %d: %w", t.pid, err)
		}
		// At the root's level: a task in a namespace nested below it may
		// well have its leader above its own namespace, in the tree.
		if len(st.NSsid) > rootLevel && st.NSsid[rootLevel] == 0 {
			return fmt.Errorf("pid %d: its session (sid %d) has its leader outside the tree's PID namespace: %w", t.pid, st.NSsid[0], ErrNotSupported)
		}
		if len(st.NSpgid) > rootLevel && st.NSpgid[rootLevel] == 0 {
			return fmt.Errorf("pid %d: its process group (pgid %d) has its leader outside the tree's PID namespace: %w", t.pid, st.NSpgid[0], ErrNotSupported)
		}
	}
	return nil
}
