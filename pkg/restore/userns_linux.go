package restore

import (
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/criugo/criugo/images"
	"github.com/criugo/criugo/pkg/image"
	"github.com/criugo/criugo/pkg/proc"
)

// A user namespace of the tree's own (the root's user_ns_id differs from
// inventory.img's root_ids) is made first, as CRIU does:
//
//	forkStub      clone3(CLONE_NEWUSER [|CLONE_NEWPID]): the root is born in
//	              a new user namespace (and a pid namespace it owns)
//	criu-restore  writes /proc/ROOT/uid_map and gid_map from outside, in the
//	              parent namespace, from userns-<id>.img (setgroups is left
//	              "allow", as CRIU leaves it)
//	root          setgroups(0), setresgid(0, 0, 0), setresuid(0, 0, 0):
//	              root of the new namespace with every capability in it
//	root          unshare of its other namespaces (restoreNamespaces), which
//	              the new user namespace then owns; every other task is
//	              forked from the root, inside
//
// The ids of the cores are the namespace's own (what a task inside sees),
// so the credentials each task is given last are set from inside; only a
// loginuid, written from outside through /proc, is mapped out.

// readUserNs reads the maps of the tree's user namespace, once.
func (r *restorer) readUserNs() (*images.UsernsEntry, error) {
	if r.userns != nil {
		return r.userns, nil
	}
	ids, err := r.rootIDs()
	if err != nil {
		return nil, err
	}
	name := image.UserNS.FileName(ids.GetUserNsId())
	u, err := single[*images.UsernsEntry](r.set, name)
	if err != nil {
		return nil, err
	}
	if len(u.GetUidMap()) == 0 || len(u.GetGidMap()) == 0 {
		return nil, fmt.Errorf("read %s: no uid or gid map: %w", name, ErrBadImage)
	}
	r.userns = u
	return u, nil
}

// idMapText is a map as uid_map and gid_map take it: every line in one
// write.
func idMapText(name string, m []*images.UidGidExtent) (string, error) {
	const maxLines = 340 // the kernel's limit on extents
	if len(m) > maxLines {
		return "", fmt.Errorf("%s of %d lines: %w", name, len(m), ErrBadImage)
	}
	var b strings.Builder
	for _, e := range m {
		fmt.Fprintf(&b, "%d %d %d\n", e.GetFirst(), e.GetLowerFirst(), e.GetCount())
	}
	return b.String(), nil
}

// writeIDMaps writes the uid and gid maps of the user namespace the root,
// pid (criu-restore's view), was born in.
func (r *restorer) writeIDMaps(pid int) error {
	u, err := r.readUserNs()
	if err != nil {
		return err
	}
	for _, m := range []struct {
		file string
		ext  []*images.UidGidExtent
	}{{"uid_map", u.GetUidMap()}, {"gid_map", u.GetGidMap()}} {
		text, err := idMapText(m.file, m.ext)
		if err != nil {
			return err
		}
		path := proc.FS{}.Path(pid, 0, m.file)
		if err := os.WriteFile(path, []byte(text), 0); err != nil {
			return fmt.Errorf("restore user namespace: write %s: %w", path, err)
		}
	}
	return nil
}

// becomeNsRoot makes the root t, just born in the new user namespace with
// its maps written, root there (uid and gid 0, no supplementary groups),
// and makes what it now has the state every task starts from (r.own).
func (r *restorer) becomeNsRoot(t *task) error {
	th := t.threads[0]
	steps := []struct {
		name string
		nr   uintptr
		args []uint64
	}{
		{"setgroups", unix.SYS_SETGROUPS, []uint64{0, 0}},
		{"setresgid", unix.SYS_SETRESGID, []uint64{0, 0, 0}},
		{"setresuid", unix.SYS_SETRESUID, []uint64{0, 0, 0}},
	}
	for _, s := range steps {
		if _, err := r.call(t, th, s.name, s.nr, s.args...); err != nil {
			return fmt.Errorf("restore user namespace of pid %d: %w", t.pid, err)
		}
	}
	// /proc shows the root's ids as criu-restore's namespace sees them;
	// its capabilities are the new namespace's.
	st, err := proc.FS{}.Status(t.real, 0)
	if err != nil {
		return fmt.Errorf("restore user namespace of pid %d: %w", t.pid, err)
	}
	own := *r.own
	mine := *own.st
	mine.Uid, mine.Gid, mine.Groups = [4]uint32{}, [4]uint32{}, nil
	mine.CapInh, mine.CapPrm, mine.CapEff, mine.CapBnd, mine.CapAmb = st.CapInh, st.CapPrm, st.CapEff, st.CapBnd, st.CapAmb
	own.st = &mine
	own.secbits = 0 // a new user namespace starts with the default securebits
	r.own = &own
	return nil
}

// hostOwner maps the owner of a file as the images keep it (the tree's
// user namespace's ids) to criu-restore's, for a chown from outside; an id
// the namespace does not map, and (uid_t)-1, give -1: left as it is.
func (r *restorer) hostOwner(uid, gid uint32) (int, int, error) {
	// Not through ownNamespaces: nsKinds, which it reads, leads here.
	inv := r.inv.GetRootIds()
	if inv == nil || r.tree == nil {
		// No tree: files restored on their own, in criu-restore's
		// namespaces.
		return int(uid), int(gid), nil
	}
	root, err := r.rootIDs()
	if err != nil {
		return 0, 0, err
	}
	if root.GetUserNsId() == 0 || root.GetUserNsId() == inv.GetUserNsId() {
		return int(uid), int(gid), nil
	}
	u, err := r.readUserNs()
	if err != nil {
		return 0, 0, err
	}
	out := func(id uint32, m []*images.UidGidExtent) int {
		for _, e := range m {
			if id >= e.GetFirst() && uint64(id) < uint64(e.GetFirst())+uint64(e.GetCount()) {
				return int(e.GetLowerFirst() + (id - e.GetFirst()))
			}
		}
		return -1
	}
	return out(uid, u.GetUidMap()), out(gid, u.GetGidMap()), nil
}

// asNsRoot runs fn with the calling thread's effective uid that of the
// root of the tree's user namespace (as criu-restore's namespace sees
// it), when there is one: the sysctls of a namespace it owns (an IPC
// namespace's kernel/sem, msgmax...) are writable by that uid only, not
// by criu-restore's root. The thread must be one nsenter.Run ends (its
// credentials change alone: a raw setresuid, not Go's, which changes
// every thread's).
func (r *restorer) asNsRoot(fn func() error) error {
	uid, _, err := r.hostOwner(0, 0)
	if err != nil {
		return err
	}
	if uid <= 0 {
		return fn()
	}
	if _, _, e := unix.RawSyscall(unix.SYS_SETRESUID, ^uintptr(0), uintptr(uid), ^uintptr(0)); e != 0 {
		return fmt.Errorf("take uid %d of the user namespace's root: %w", uid, e)
	}
	ferr := fn()
	if _, _, e := unix.RawSyscall(unix.SYS_SETRESUID, ^uintptr(0), 0, ^uintptr(0)); e != 0 && ferr == nil {
		ferr = fmt.Errorf("take back uid 0: %w", e)
	}
	return ferr
}

// hostLoginuid maps a loginuid of the tree's user namespace (as the cores
// keep it) to criu-restore's, which /proc/PID/loginuid takes.
func (r *restorer) hostLoginuid(id uint32) uint32 {
	const invalid = ^uint32(0)
	if r.userns == nil || id == invalid {
		return id
	}
	for _, e := range r.userns.GetUidMap() {
		if id >= e.GetFirst() && uint64(id) < uint64(e.GetFirst())+uint64(e.GetCount()) {
			return e.GetLowerFirst() + (id - e.GetFirst())
		}
	}
	return invalid
}
