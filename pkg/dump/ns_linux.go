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
// Every task of the tree must share the root's UTS and IPC namespaces.
// A network namespace of the root's own is dumped by netns_linux.go.
// Namespaces of the other kinds only get ids, and must be criu-parasite's
// own: criu-restore puts every task into its own namespaces of those
// kinds, so a tree in a PID, mount, user or time namespace of its own
// (a container, `unshare --pid`) is refused while it is frozen, and runs
// on (checkNamespaces). A cgroup namespace is kept in cgroup.img instead
// (cgroup_linux.go).

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
// /proc/PID/ns name, with what a user would call them. pid_for_children
// and time_for_children count too: a task that unshared one has children
// to come that the restore could not place.
var unrestoredNs = []struct{ name, what string }{
	{"pid", "PID"},
	{"pid_for_children", "PID (for its children)"},
	{"mnt", "mount"},
	{"user", "user"},
	{"time", "time"},
	{"time_for_children", "time (for its children)"},
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
	rootNs, err := d.fs.Namespaces(d.att.tasks[0].pid)
	if err != nil {
		return fmt.Errorf("read namespaces of pid %d: %w", d.att.tasks[0].pid, err)
	}
	for _, t := range d.att.tasks {
		if t.zombie {
			continue
		}
		ns, err := d.fs.Namespaces(t.pid)
		if err != nil {
			return fmt.Errorf("read namespaces of pid %d: %w", t.pid, err)
		}
		// A network namespace of the tree's own is restored
		// (netns_linux.go), one for the whole tree.
		if ns["net"] != rootNs["net"] {
			return fmt.Errorf("pid %d is in a network namespace other than the root's (net:[%d], the root's is [%d]); nested network namespaces are not supported: %w",
				t.pid, ns["net"], rootNs["net"], ErrNotSupported)
		}
		for _, k := range unrestoredNs {
			mine, ok := self[k.name]
			if theirs, has := ns[k.name]; ok && has && theirs != mine {
				return fmt.Errorf("pid %d is in a %s namespace of its own (%s:[%d], criu-parasite's is [%d]); restoring %s namespaces is not supported yet: %w",
					t.pid, k.what, k.name, theirs, mine, k.what, ErrNotSupported)
			}
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
