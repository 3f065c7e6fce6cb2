package dump

import (
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/criugo/criugo/images"
	"github.com/criugo/criugo/pkg/image"
	"github.com/criugo/criugo/pkg/proc"
)

// A user namespace of the tree's own. A tree whose root is in a user
// namespace other than criu-parasite's is dumped when that namespace is a
// child of criu-parasite's (one level down), every task is in it, and
// every other namespace the root has of its own was made inside it (is
// owned by it: the restore makes them from inside the new user namespace,
// so they would be owned by it). What is kept, as CRIU 4.2 keeps it:
//
//	userns-<id>.img   userns_entry: uid_map and gid_map, each line
//	                  (first, lower_first, count) as the root's
//	                  /proc/PID/{uid,gid}_map shows them to criu-parasite
//
// Ids that name users and groups in the cores (the creds' uids, gids and
// groups, the loginuid) are the namespace's own, as a task inside sees
// them (CRIU's parasite reads them there): /proc shows them to
// criu-parasite in its own namespace, and they are mapped back through the
// maps. An id of the creds the namespace does not map could not be set
// again from inside, and is refused. The owners CRIU also keeps as the
// namespace sees them are mapped the same way (fileOwner): ghost files,
// memfds, unix socket files, ttys, SysV IPC objects; one the namespace
// does not map is (uid_t)-1, as CRIU records it. /proc/PID/setgroups must say "allow": CRIU's
// images have no place for "deny", and its restore leaves "allow".

// userNs is the tree's user namespace, when it has one of its own.
type userNs struct {
	ino      uint64
	uid, gid []proc.IDExtent
}

// inside maps id, as criu-parasite's namespace sees it, into the
// namespace of m.
func inside(m []proc.IDExtent, id uint32) (uint32, bool) {
	for _, e := range m {
		if id >= e.Lower && uint64(id) < uint64(e.Lower)+uint64(e.Count) {
			return e.First + (id - e.Lower), true
		}
	}
	return 0, false
}

// nsFdIno opens a namespace file and returns the inode of the namespace
// an NS_GET_* ioctl on it gives.
func nsFdIno(path string, req uint) (uint64, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0, err
	}
	defer unix.Close(fd)
	other, err := unix.IoctlRetInt(fd, req)
	if err != nil {
		return 0, err
	}
	defer unix.Close(other)
	var st unix.Stat_t
	if err := unix.Fstat(other, &st); err != nil {
		return 0, err
	}
	return st.Ino, nil
}

// ownedKinds are the kinds of namespace whose owner must be the tree's
// user namespace when the root has one of its own, by /proc/PID/ns name.
var ownedKinds = []string{"pid", "net", "ipc", "uts", "mnt", "cgroup", "time"}

// checkUserNs finds the tree's user namespace, when the root has one of
// its own, and refuses what the restore could not make again: a user
// namespace that is not a child of criu-parasite's, setgroups denied, a
// namespace of the root's own that it does not own. self and rootNs are
// criu-parasite's namespaces and the root's.
func (d *dumper) checkUserNs(pid int, self, rootNs map[string]uint64) error {
	ino, ok := rootNs["user"]
	if !ok || ino == self["user"] {
		return nil
	}
	parent, err := nsFdIno(d.fs.Path(pid, 0, "ns", "user"), unix.NS_GET_PARENT)
	if err != nil {
		return fmt.Errorf("find the parent of the user namespace of pid %d: %w", pid, err)
	}
	if parent != self["user"] {
		return fmt.Errorf("pid %d is in a user namespace (user:[%d]) whose parent (user:[%d]) is not criu-parasite's ([%d]); nested user namespaces are not supported: %w",
			pid, ino, parent, self["user"], ErrNotSupported)
	}
	allow, err := d.fs.SetgroupsAllowed(pid)
	if err != nil {
		return fmt.Errorf("read setgroups of pid %d: %w", pid, err)
	}
	if !allow {
		return fmt.Errorf("pid %d is in a user namespace (user:[%d]) whose setgroups is \"deny\": CRIU's userns image has no place for it: %w",
			pid, ino, ErrNotSupported)
	}
	for _, k := range ownedKinds {
		theirs, has := rootNs[k]
		if !has || theirs == self[k] {
			continue
		}
		owner, err := nsFdIno(d.fs.Path(pid, 0, "ns", k), unix.NS_GET_USERNS)
		if err != nil {
			return fmt.Errorf("find the owner of the %s namespace of pid %d: %w", k, pid, err)
		}
		if owner != ino {
			return fmt.Errorf("pid %d: its %s namespace (%s:[%d]) is owned by user:[%d], not by its user namespace [%d] (it was made before it), which a restore could not make again: %w",
				pid, k, k, theirs, owner, ino, ErrNotSupported)
		}
	}
	u := &userNs{ino: ino}
	if u.uid, err = d.fs.IDMap(pid, "uid_map"); err != nil {
		return fmt.Errorf("read uid_map of pid %d: %w", pid, err)
	}
	if u.gid, err = d.fs.IDMap(pid, "gid_map"); err != nil {
		return fmt.Errorf("read gid_map of pid %d: %w", pid, err)
	}
	if len(u.uid) == 0 || len(u.gid) == 0 {
		return fmt.Errorf("pid %d is in a user namespace (user:[%d]) without a uid or gid map: %w", pid, ino, ErrNotSupported)
	}
	d.userns = u
	return nil
}

// insideCreds turns the ids of the creds of tid, as /proc showed them to
// criu-parasite, into the tree's user namespace's, and refuses one it
// does not map.
func (u *userNs) insideCreds(tid int, c *images.CredsEntry) error {
	uids := []*uint32{c.Uid, c.Euid, c.Suid, c.Fsuid}
	gids := []*uint32{c.Gid, c.Egid, c.Sgid, c.Fsgid}
	for _, p := range uids {
		v, ok := inside(u.uid, *p)
		if !ok {
			return fmt.Errorf("tid %d: uid %d is not mapped in its user namespace: %w", tid, *p, ErrNotSupported)
		}
		*p = v
	}
	for _, p := range gids {
		v, ok := inside(u.gid, *p)
		if !ok {
			return fmt.Errorf("tid %d: gid %d is not mapped in its user namespace: %w", tid, *p, ErrNotSupported)
		}
		*p = v
	}
	for i, g := range c.Groups {
		v, ok := inside(u.gid, g)
		if !ok {
			return fmt.Errorf("tid %d: supplementary group %d is not mapped in its user namespace: %w", tid, g, ErrNotSupported)
		}
		c.Groups[i] = v
	}
	return nil
}

// invalidUID is the loginuid of a task that never logged in ((uid_t)-1),
// and what CRIU records for one its namespace does not map.
const invalidUID = ^uint32(0)

// insideLoginuid maps a loginuid into the namespace.
func (u *userNs) insideLoginuid(id uint32) uint32 {
	if id == invalidUID {
		return id
	}
	if v, ok := inside(u.uid, id); ok {
		return v
	}
	return invalidUID
}

// insideCore applies insideCreds and insideLoginuid to a core of tid.
func (u *userNs) insideCore(tid int, core *images.CoreEntry) error {
	if u == nil {
		return nil
	}
	if c := core.GetThreadCore().GetCreds(); c != nil {
		if err := u.insideCreds(tid, c); err != nil {
			return err
		}
	}
	if tc := core.GetTc(); tc != nil && tc.Loginuid != nil {
		tc.Loginuid = ptr(u.insideLoginuid(tc.GetLoginuid()))
	}
	return nil
}

// fileOwner is the owner of a file (uid, gid as criu-parasite's namespace
// sees them) as CRIU records it for a tree in a user namespace of its own:
// the namespace's ids, (uid_t)-1 for one it does not map (a chown then
// leaves it as the restore made it); unchanged without one.
func (d *dumper) fileOwner(uid, gid uint32) (*uint32, *uint32) {
	u := d.userns
	if u == nil {
		return ptr(uid), ptr(gid)
	}
	iu, ok := inside(u.uid, uid)
	if !ok {
		iu = invalidUID
	}
	ig, ok := inside(u.gid, gid)
	if !ok {
		ig = invalidUID
	}
	return ptr(iu), ptr(ig)
}

// dumpUserNs writes userns-<id>.img for the tree's user namespace.
func (d *dumper) dumpUserNs() error {
	u := d.userns
	if u == nil {
		return nil
	}
	ext := func(m []proc.IDExtent) []*images.UidGidExtent {
		out := make([]*images.UidGidExtent, 0, len(m))
		for _, e := range m {
			out = append(out, &images.UidGidExtent{First: ptr(e.First), LowerFirst: ptr(e.Lower), Count: ptr(e.Count)})
		}
		return out
	}
	return d.put(image.UserNS, d.ns.id("user", u.ino), &images.UsernsEntry{UidMap: ext(u.uid), GidMap: ext(u.gid)})
}
