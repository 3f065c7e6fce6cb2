package restore

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/criugo/criugo/images"
	"github.com/criugo/criugo/pkg/image"
	"github.com/criugo/criugo/pkg/mounts"
	"github.com/criugo/criugo/pkg/proc"
)

// Mount namespaces. A root that had a mount namespace of its own (its
// mnt_ns_id differs from inventory.img's root_ids) gets a new one, made
// right after it is created and before anything of it is opened: the
// root is made to unshare(CLONE_NEWNS), and criu-restore, from an OS
// thread of its own that leaves the process's shared fs struct
// (unshare(CLONE_FS)) and joins the new namespace, turns the copy of its
// own mount table into the one of mountpoints-<id>.img:
//
//  1. every mount of the copy is made private, so nothing done here
//     propagates back to criu-restore's namespace;
//  2. without Options.Root the namespace's root stays criu-restore's "/":
//     the image's tree is walked from its root beside the copy's, and a
//     mount of the image that the copy has at the same place (same
//     mount point, root, fstype and source, under the matching parent)
//     is kept; mounts of the copy the image does not have are detached;
//     with Options.Root, the root mount is Root bound onto itself and
//     every other mount is made anew under it;
//  3. each mount to make is, once its parent is there: an external mount
//     (ext_key) bound from the path Options.ExtMounts gives its key; a
//     bind of the part of an earlier mount of the same device (same
//     root_dev) that holds its root; or a new file system mounted from
//     fstype, source, flags and options (tmpfs, proc, sysfs, devpts,
//     mqueue, devtmpfs, cgroup2), a tmpfs filled from its
//     tmpfs-dev-<dev>.tar.gz.img (CRIU's tmpfs-<mnt_id>.tar.gz.img as a
//     second choice); then it gets its per-mount flags (read-only,
//     nosuid, ...) with a bind remount;
//  4. propagation: a shared mount is made shared (a bind of a mount of
//     the same peer group is already its peer), a slave is bound from a
//     member of its master's group and made a slave, the rest private;
//  5. with Options.Root, the root pivots into it (pivot_root moves the
//     root of every task of the namespace) and the old root is detached.
//
// From then on the tree's files are opened through /proc/<root>/root
// (mntPath), so a path of the images resolves in the restored namespace.

// mntState is the restore of the tree's mount namespace.
type mntState struct {
	planned bool
	id      uint32 // mnt_ns_id of the root; 0: criu-restore's namespace
	nodes   []*mntNode
	root    *mntNode
	// tars holds the tmpfs contents that came in a stream, by file name.
	tars map[string][]byte
	// pid is the root task once its namespace is made.
	pid int
}

// mntNode is one mount of the image.
type mntNode struct {
	e        *images.MntEntry
	parent   *mntNode
	children []*mntNode
	path     string // where it is in the namespace, once there
	done     bool
	from     *mntNode // the mount it was bound from
}

func (n *mntNode) String() string {
	return fmt.Sprintf("mount %d at %s", n.e.GetMntId(), n.e.GetMountpoint())
}

// maxTmpfsTar bounds the tmpfs contents a stream may hold in memory.
const maxTmpfsTar = 1 << 30

// keepTmpfs keeps a tmpfs image that came in a stream.
func (r *restorer) keepTmpfs(name string, src io.Reader) error {
	if r.mnt.tars == nil {
		r.mnt.tars = map[string][]byte{}
	}
	if _, dup := r.mnt.tars[name]; dup {
		return fmt.Errorf("stream member %s comes twice: %w", name, ErrBadImage)
	}
	b, err := io.ReadAll(io.LimitReader(src, maxTmpfsTar+1))
	if err != nil {
		return fmt.Errorf("read %s: %w", name, err)
	}
	if len(b) > maxTmpfsTar {
		return fmt.Errorf("read %s: over %d bytes: %w", name, maxTmpfsTar, ErrNotSupported)
	}
	r.mnt.tars[name] = b
	return nil
}

// mountNsRestorable says whether mount namespace id, in which some task
// lived, is the root's (which is made anew).
func (r *restorer) mountNsRestorable(id uint32) bool {
	root, err := r.rootIDs()
	return err == nil && root.GetMntNsId() == id
}

// planMountNs reads mountpoints-<id>.img of the root's mount namespace,
// when it had one of its own, and checks it: one root, parents known, a
// path for every external key.
func (r *restorer) planMountNs() error {
	if r.mnt.planned {
		return nil
	}
	r.mnt.planned = true
	inv := r.inv.GetRootIds()
	if inv == nil {
		return nil
	}
	rootIDs, err := r.rootIDs()
	if err != nil {
		return err
	}
	id := rootIDs.GetMntNsId()
	if id == 0 || id == inv.GetMntNsId() {
		return nil
	}
	name := image.Mnts.FileName(id)
	es, err := entries[*images.MntEntry](r.set, name, false)
	if err != nil {
		return err
	}
	byID := map[uint32]*mntNode{}
	for _, e := range es {
		if _, dup := byID[e.GetMntId()]; dup {
			return fmt.Errorf("read %s: mount %d twice: %w", name, e.GetMntId(), ErrBadImage)
		}
		n := &mntNode{e: e}
		byID[e.GetMntId()] = n
		r.mnt.nodes = append(r.mnt.nodes, n)
	}
	for _, n := range r.mnt.nodes {
		p, ok := byID[n.e.GetParentMntId()]
		if !ok || p == n {
			if r.mnt.root != nil {
				return fmt.Errorf("read %s: two root mounts (%d and %d): %w", name, r.mnt.root.e.GetMntId(), n.e.GetMntId(), ErrBadImage)
			}
			r.mnt.root = n
			continue
		}
		n.parent = p
		p.children = append(p.children, n)
	}
	if r.mnt.root == nil {
		return fmt.Errorf("read %s: no root mount: %w", name, ErrBadImage)
	}
	// Every mount must hang from the root (no loop of parents).
	seen := 0
	var walk func(n *mntNode)
	walk = func(n *mntNode) {
		seen++
		for _, c := range n.children {
			walk(c)
		}
	}
	walk(r.mnt.root)
	if seen != len(r.mnt.nodes) {
		return fmt.Errorf("read %s: %d mounts not below the root: %w", name, len(r.mnt.nodes)-seen, ErrBadImage)
	}
	for _, n := range r.mnt.nodes {
		mp := n.e.GetMountpoint()
		if !filepath.IsAbs(mp) || filepath.Clean(mp) != mp {
			return fmt.Errorf("read %s: %v: bad mount point: %w", name, n, ErrBadImage)
		}
		if k := n.e.GetExtKey(); k != "" {
			// The paths of external mounts are the restore's to give:
			// a check made at dump time cannot know them.
			if _, ok := r.opts.ExtMounts[k]; !ok && !r.checkOnly {
				return fmt.Errorf("restore %v: external mount %q has no path (give it with --external mnt[%s]:PATH): %w", n, k, k, ErrNotSupported)
			}
		}
	}
	r.mnt.id = id
	return nil
}

// mntPath returns where criu-restore opens path, a path of the tree's:
// inside the tree's mount namespace once it is made.
func (r *restorer) mntPath(path string) string {
	if r.mnt.pid == 0 || !filepath.IsAbs(path) {
		return path
	}
	return "/proc/" + strconv.Itoa(r.mnt.pid) + "/root" + path
}

// restoreMountNs gives the root t, just created, its mount namespace.
func (r *restorer) restoreMountNs(t *task) error {
	if err := r.planMountNs(); err != nil {
		return err
	}
	if r.mnt.id == 0 {
		return nil
	}
	if _, err := r.call(t, t.threads[0], "unshare", unix.SYS_UNSHARE, unix.CLONE_NEWNS); err != nil {
		return fmt.Errorf("restore mount namespace of pid %d: %w", t.pid, err)
	}
	err := inMountNs(nsPath(t.real, "mnt"), func() error {
		if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
			return fmt.Errorf("make mounts private: %w", err)
		}
		if r.opts.Root == "" {
			if err := r.matchHostMounts(); err != nil {
				return err
			}
		} else if err := r.bindRoot(); err != nil {
			return err
		}
		if err := r.makeMounts(); err != nil {
			return err
		}
		if r.opts.Root != "" {
			return r.pivotRoot()
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("restore mount namespace (%s): %w", image.Mnts.FileName(r.mnt.id), err)
	}
	r.mnt.pid = t.real
	r.step("restore mount namespace")
	return nil
}

// inMountNs runs fn on an OS thread of its own that has joined the mount
// namespace at path. The thread first leaves the fs struct the process's
// threads share, which setns(CLONE_NEWNS) demands; locked and never
// unlocked, it ends with the goroutine.
func inMountNs(path string, fn func() error) error {
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_FS); err != nil {
			done <- fmt.Errorf("unshare fs: %w", err)
			return
		}
		fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			done <- fmt.Errorf("open %s: %w", path, err)
			return
		}
		err = unix.Setns(fd, unix.CLONE_NEWNS)
		unix.Close(fd)
		if err != nil {
			done <- fmt.Errorf("join %s: %w", path, err)
			return
		}
		done <- fn()
	}()
	return <-done
}

// ownMounts reads the mount table of the calling thread.
func ownMounts() ([]proc.Mount, error) {
	f, err := os.Open("/proc/thread-self/mountinfo")
	if err != nil {
		return nil, fmt.Errorf("read mounts: %w", err)
	}
	defer f.Close()
	ms, err := proc.ParseMountinfo(f)
	if err != nil {
		return nil, fmt.Errorf("read mounts: %w", err)
	}
	return ms, nil
}

// matchHostMounts keeps the mounts of the copy that the image has at the
// same places and detaches the others.
func (r *restorer) matchHostMounts() error {
	cur, err := ownMounts()
	if err != nil {
		return err
	}
	byID := map[int]int{}
	for i, m := range cur {
		byID[m.ID] = i
	}
	rootIdx := -1
	kids := map[int][]int{}
	for i, m := range cur {
		if _, ok := byID[m.ParentID]; !ok || m.ParentID == m.ID {
			rootIdx = i
			continue
		}
		kids[m.ParentID] = append(kids[m.ParentID], i)
	}
	if rootIdx < 0 {
		return fmt.Errorf("find the root mount: %w", ErrNotSupported)
	}
	used := map[int]bool{}
	var detach []proc.Mount
	var match func(n *mntNode, ci int)
	match = func(n *mntNode, ci int) {
		n.done, n.path = true, n.e.GetMountpoint()
		used[ci] = true
		r.logf("mount namespace: keep %v", n)
		for _, c := range n.children {
			for _, k := range kids[cur[ci].ID] {
				if !used[k] && sameAsImage(cur[k], c.e) {
					match(c, k)
					break
				}
			}
		}
		for _, k := range kids[cur[ci].ID] {
			if !used[k] {
				detach = append(detach, cur[k])
			}
		}
	}
	match(r.mnt.root, rootIdx)
	// Deepest first, so that a mount is not hidden by one still to go.
	for i := len(detach) - 1; i >= 0; i-- {
		m := detach[i]
		r.logf("mount namespace: detach %d at %s (%s)", m.ID, m.MountPoint, m.FsType)
		if err := unix.Unmount(m.MountPoint, unix.MNT_DETACH); err != nil {
			return fmt.Errorf("detach %s: %w", m.MountPoint, err)
		}
	}
	// A kept mount gets the image's flags where it had others.
	for _, n := range r.mnt.nodes {
		if n.done {
			if err := r.mountFlags(n); err != nil {
				return err
			}
		}
	}
	return nil
}

// sameAsImage says whether mount m of the copy is the mount e of the
// image: same place, same part of a file system of the same kind.
func sameAsImage(m proc.Mount, e *images.MntEntry) bool {
	return e.GetExtKey() == "" && m.MountPoint == e.GetMountpoint() && m.Root == e.GetRoot() &&
		m.Source == e.GetSource() && (mounts.FsType(m.FsType) == e.GetFstype() || e.GetFstype() == mounts.Auto && m.FsType == e.GetFsname())
}

// fsNameOf is the kernel name of e's file system: the image's for Auto.
func fsNameOf(e *images.MntEntry) string {
	if e.GetFstype() == mounts.Auto {
		return e.GetFsname()
	}
	return mounts.FsName(e.GetFstype())
}

// bindRoot makes Options.Root a mount of its own, the namespace's root
// to be.
func (r *restorer) bindRoot() error {
	root, err := filepath.Abs(r.opts.Root)
	if err != nil {
		return fmt.Errorf("find root %s: %w", r.opts.Root, err)
	}
	// Not recursive: what is mounted below Root now is no part of the
	// tree's namespace; the image's own mounts are made next.
	if err := unix.Mount(root, root, "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind root %s: %w", root, err)
	}
	r.mnt.root.done, r.mnt.root.path = true, root
	return nil
}

// placed returns where mount point mp of the image goes now.
func (r *restorer) placed(mp string) string {
	if r.opts.Root == "" {
		return mp
	}
	return filepath.Join(r.mnt.root.path, mp)
}

// makeMounts makes every mount of the image not there yet, each once its
// parent is and, for a bind, the mount it binds from.
func (r *restorer) makeMounts() error {
	for {
		progress, left := false, 0
		for _, n := range r.mnt.nodes {
			if n.done {
				continue
			}
			if !n.parent.done {
				left++
				continue
			}
			ok, err := r.makeMount(n)
			if err != nil {
				return fmt.Errorf("make %v: %w", n, err)
			}
			if ok {
				progress = true
			} else {
				left++
			}
		}
		if left == 0 {
			break
		}
		if !progress {
			for _, n := range r.mnt.nodes {
				if !n.done {
					return fmt.Errorf("make %v (%s, root %s): no mount of its device to bind it from, and not a file system to mount anew: %w",
						n, mounts.FsName(n.e.GetFstype()), n.e.GetRoot(), ErrNotSupported)
				}
			}
		}
	}
	for _, n := range r.mnt.nodes {
		if err := r.propagation(n); err != nil {
			return err
		}
	}
	return nil
}

// bindSource finds a mount already made that holds the root of n: of the
// same device, with its own root above n's. It prefers one of n's peer
// group, or of its master's (a bind from it is its peer), then the one
// whose root is deepest.
func (r *restorer) bindSource(n *mntNode) (*mntNode, string) {
	var best *mntNode
	var bestRel string
	score := func(s *mntNode) int {
		v := len(s.e.GetRoot())
		if sh := s.e.GetSharedId(); sh != 0 && (sh == n.e.GetSharedId() || sh == n.e.GetMasterId()) {
			v += 1 << 20
		}
		return v
	}
	for _, s := range r.mnt.nodes {
		if s == n || !s.done || s.e.GetRootDev() != n.e.GetRootDev() || s.e.GetExtKey() != "" && s.e.GetRoot() == "" {
			continue
		}
		rel, ok := mounts.Under(n.e.GetRoot(), s.e.GetRoot())
		if !ok {
			continue
		}
		if best == nil || score(s) > score(best) {
			best, bestRel = s, rel
		}
	}
	if best == nil {
		return nil, ""
	}
	return best, filepath.Join(best.path, bestRel)
}

// makeMount makes n if it can now; false when it waits for another.
func (r *restorer) makeMount(n *mntNode) (bool, error) {
	target := r.placed(n.e.GetMountpoint())
	e := n.e
	var src string
	var from *mntNode
	switch {
	case e.GetExtKey() != "":
		src = r.opts.ExtMounts[e.GetExtKey()]
	default:
		from, src = r.bindSource(n)
		if from == nil && (e.GetRoot() != "/" || !mounts.Creatable(e.GetFstype()) && (e.GetFstype() != mounts.Auto || e.GetFsname() == "")) {
			return false, nil
		}
	}
	if err := makeMountPoint(target, src); err != nil {
		return false, err
	}
	if src != "" {
		r.logf("mount namespace: bind %s to %v", src, n)
		if err := unix.Mount(src, target, "", unix.MS_BIND, ""); err != nil {
			return false, fmt.Errorf("bind %s to %s: %w", src, target, err)
		}
	} else {
		fsName := fsNameOf(e)
		flags := uintptr(e.GetFlags()&perMountFlags) | uintptr(e.GetSbFlags())
		if fsName == "tmpfs" {
			flags &^= unix.MS_RDONLY // filled first
		}
		r.logf("mount namespace: mount %s (%s, %s) at %v", fsName, e.GetSource(), e.GetOptions(), n)
		if nsBoundFs[fsName] {
			if err := r.mountInRootNs(fsName, e.GetSource(), e.GetSbFlags(), e.GetOptions(), target); err != nil {
				return false, fmt.Errorf("mount %s at %s: %w", fsName, target, err)
			}
		} else if err := unix.Mount(e.GetSource(), target, fsName, flags, e.GetOptions()); err != nil {
			return false, fmt.Errorf("mount %s at %s: %w", fsName, target, err)
		}
		if fsName == "tmpfs" {
			if err := r.fillTmpfs(n, target); err != nil {
				return false, err
			}
			if e.GetSbFlags()&unix.MS_RDONLY != 0 {
				if err := unix.Mount("", target, "", unix.MS_REMOUNT|unix.MS_RDONLY, e.GetOptions()); err != nil {
					return false, fmt.Errorf("make tmpfs %s read-only: %w", target, err)
				}
			}
		}
	}
	n.done, n.path, n.from = true, target, from
	return true, r.mountFlags(n)
}

// perMountFlags are the flags a bind remount sets on one mount.
const perMountFlags = unix.MS_RDONLY | unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC |
	unix.MS_NOATIME | unix.MS_NODIRATIME | unix.MS_RELATIME | unix.MS_STRICTATIME

// mountFlags gives n the per-mount flags of the image, where it has
// others.
func (r *restorer) mountFlags(n *mntNode) error {
	want := n.e.GetFlags() & perMountFlags
	ms, err := ownMounts()
	if err != nil {
		return err
	}
	var st unix.Statx_t
	if err := unix.Statx(unix.AT_FDCWD, n.path, unix.AT_SYMLINK_NOFOLLOW, unix.STATX_MNT_ID, &st); err != nil {
		return fmt.Errorf("stat %s: %w", n.path, err)
	}
	for _, m := range ms {
		if uint64(m.ID) == st.Mnt_id {
			if mounts.MountFlags(m.Options)&perMountFlags == want {
				return nil
			}
			break
		}
	}
	if err := unix.Mount("", n.path, "", unix.MS_REMOUNT|unix.MS_BIND|uintptr(want), ""); err != nil {
		return fmt.Errorf("set flags %#x of %s: %w", want, n.path, err)
	}
	return nil
}

// propagation gives n its propagation (see the top of the file).
func (r *restorer) propagation(n *mntNode) error {
	e := n.e
	set := func(flag uintptr, what string) error {
		if err := unix.Mount("", n.path, "", flag, ""); err != nil {
			return fmt.Errorf("make %v %s: %w", n, what, err)
		}
		return nil
	}
	fromGroup := func(id uint32) bool {
		for s := n.from; s != nil; s = s.from {
			if s.e.GetSharedId() == id {
				return true
			}
		}
		return false
	}
	if m := e.GetMasterId(); m != 0 {
		if !fromGroup(m) {
			return fmt.Errorf("make %v a slave of peer group %d: not bound from a mount of the group: %w", n, m, ErrNotSupported)
		}
		if err := set(unix.MS_SLAVE, "a slave"); err != nil {
			return err
		}
	} else if !(e.GetSharedId() != 0 && fromGroup(e.GetSharedId())) {
		if err := set(unix.MS_PRIVATE, "private"); err != nil {
			return err
		}
	}
	if e.GetSharedId() != 0 {
		if err := set(unix.MS_SHARED, "shared"); err != nil {
			return err
		}
	}
	if e.GetFlags()&unix.MS_UNBINDABLE != 0 {
		return set(unix.MS_UNBINDABLE, "unbindable")
	}
	return nil
}

// makeMountPoint creates target, and the directories above it, as a
// directory, or as an empty file when src, a bind's source, is not a
// directory.
func makeMountPoint(target, src string) error {
	dir := true
	if src != "" {
		st, err := os.Stat(src)
		if err != nil {
			return fmt.Errorf("bind from %s: %w", src, err)
		}
		dir = st.IsDir()
	}
	parent := target
	if !dir {
		parent = filepath.Dir(target)
	}
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return fmt.Errorf("make mount point %s: %w", target, err)
	}
	if !dir {
		f, err := os.OpenFile(target, os.O_CREATE|os.O_RDONLY, 0o644)
		if err != nil {
			return fmt.Errorf("make mount point %s: %w", target, err)
		}
		f.Close()
	}
	return nil
}

// tmpfsImage returns the contents of tmpfs mount n: the image of its
// device, else CRIU's older image of the mount.
func (r *restorer) tmpfsImage(n *mntNode) (io.ReadCloser, string, error) {
	for _, name := range []string{
		image.TmpfsDev.FileName(n.e.GetRootDev()),
		image.TmpfsImg.FileName(n.e.GetMntId()),
	} {
		if b, ok := r.mnt.tars[name]; ok {
			return io.NopCloser(bytes.NewReader(b)), name, nil
		}
		f, err := r.set.openFile(name)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, name, err
		}
		return f, name, nil
	}
	return nil, "", fmt.Errorf("%v: no %s: %w", n, image.TmpfsDev.FileName(n.e.GetRootDev()), ErrBadImage)
}

// fillTmpfs puts the saved contents of tmpfs n, mounted at target.
func (r *restorer) fillTmpfs(n *mntNode, target string) error {
	src, name, err := r.tmpfsImage(n)
	if err != nil {
		return err
	}
	defer src.Close()
	if err := untarTmpfs(src, target); err != nil {
		return fmt.Errorf("restore %s into %s: %w", name, target, err)
	}
	return nil
}

// pivotRoot moves the namespace's root (and the root of every task of
// it) to Options.Root, and detaches the old one.
func (r *restorer) pivotRoot() error {
	root := r.mnt.root.path
	old, err := os.MkdirTemp(root, ".criugo-old-root.")
	if err != nil {
		return fmt.Errorf("make room for the old root: %w", err)
	}
	if err := unix.PivotRoot(root, old); err != nil {
		os.Remove(old)
		return fmt.Errorf("pivot_root %s: %w", root, err)
	}
	if err := unix.Chdir("/"); err != nil {
		return fmt.Errorf("enter new root: %w", err)
	}
	inner := "/" + filepath.Base(old)
	if err := unix.Unmount(inner, unix.MNT_DETACH); err != nil {
		return fmt.Errorf("detach old root: %w", err)
	}
	if err := os.Remove(inner); err != nil {
		return fmt.Errorf("remove %s: %w", inner, err)
	}
	r.mnt.root.path = "/"
	return nil
}
