package dump

import (
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/criugo/criugo/images"
	"github.com/criugo/criugo/pkg/proc"
)

// nsFileKinds are the namespace kinds an nsfs fd ("net:[INO]", opened
// from /proc/PID/ns/net) can be of, by the TYPE of its link, with their
// clone flags (ns_file_entry.ns_cflag).
var nsFileKinds = map[string]uint32{
	"net": unix.CLONE_NEWNET, "uts": unix.CLONE_NEWUTS, "ipc": unix.CLONE_NEWIPC, "pid": unix.CLONE_NEWPID,
	"mnt": unix.CLONE_NEWNS, "user": unix.CLONE_NEWUSER, "cgroup": unix.CLONE_NEWCGROUP, "time": unix.CLONE_NEWTIME,
}

// An nsfs fd is recorded as CRIU records it: an NS file naming the
// namespace by its id (the one ids-PID.img gives it), which the restore
// opens again from a task in it. As CRIU, only a namespace some task of
// the tree is in, or criu-parasite's own, can be named.
func init() {
	var types []string
	for t := range nsFileKinds {
		types = append(types, t)
	}
	registerFdKind(images.FdTypes_NS, &fdKind{link: proc.LinkInode, inodes: types, dump: (*dumper).nsFile})
}

func (d *dumper) nsFile(x *fdDump) error {
	kind, ino := x.f.link.Type, x.f.link.Ino
	known, err := d.knownNamespace(kind, ino)
	if err != nil {
		return err
	}
	if !known {
		return fmt.Errorf("%s namespace [%d]: no task of the tree is in it and it is not criu-parasite's: %w", kind, ino, ErrNotSupported)
	}
	d.addFile(&images.FileEntry{Type: images.FdTypes_NS.Enum(), Id: ptr(x.id), Nsf: &images.NsFileEntry{
		Id: ptr(x.id), NsId: ptr(d.ns.id(kind, ino)), NsCflag: ptr(nsFileKinds[kind]), Flags: ptr(x.flags),
	}})
	return nil
}

// knownNamespace says whether namespace ino of kind is one a task of the
// tree is in (its own, or for pid and time, its children's) or
// criu-parasite's.
func (d *dumper) knownNamespace(kind string, ino uint64) (bool, error) {
	self, err := d.fs.OwnNamespaces()
	if err != nil {
		return false, fmt.Errorf("read own namespaces: %w", err)
	}
	if self[kind] == ino {
		return true, nil
	}
	for _, t := range d.att.tasks {
		if t.zombie {
			continue
		}
		ns, err := d.fs.Namespaces(t.pid)
		if err != nil {
			return false, fmt.Errorf("read namespaces of pid %d: %w", t.pid, err)
		}
		if ns[kind] == ino || ns[kind+"_for_children"] == ino {
			return true, nil
		}
	}
	return false, nil
}
