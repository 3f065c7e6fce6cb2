package dump

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"

	"golang.org/x/sys/unix"

	"github.com/criugo/criugo/images"
	"github.com/criugo/criugo/pkg/image"
	"github.com/criugo/criugo/pkg/mounts"
	"github.com/criugo/criugo/pkg/proc"
)

// Mount namespaces. A tree whose root has a mount namespace other than
// criu-parasite's gets its mount tree dumped as CRIU 4.2 does:
//
//	mountpoints-<id>.img     mnt_entry per line of the root's mountinfo
//	                         (ids, parent, root, mount point, fstype,
//	                         source, flags, propagation groups, ext_key)
//	tmpfs-dev-<dev>.tar.gz.img  the contents of each tmpfs (by the kernel
//	                         encoding of its device), a gzipped tar of
//	                         its root as GNU tar writes it ("./name")
//
// Every task must share the root's mount namespace. While the tree is
// frozen (checkMountNs) each mount must be one the restore can make
// again: the namespace's root; a mount criu-parasite's namespace has too
// (same device, root and mount point: a restore without --root finds it
// in its copy of the host's namespace); a new file system of a kind that
// mounts from its name and options (tmpfs, proc, sysfs, devpts, mqueue,
// devtmpfs, cgroup2); a bind of a part of another such mount; or a mount
// named external (Options.ExternalMounts). A slave of a peer group
// outside the namespace is refused (the restore cannot reach the group);
// so is a tmpfs of the tree's own that other mounts hide, whose contents
// cannot be read by path.

// mountNs is the tree's mount namespace, when it has one of its own.
type mountNs struct {
	external map[string]string // Options.ExternalMounts
	skip     []string          // Options.SkipMounts
	enableFs []string          // Options.EnableFs
	// skipped are the mounts left out (Options.SkipMounts), by id, with
	// their mount points.
	skipped map[int]string
	own     bool // the root's mount namespace is not criu-parasite's
	ino     uint64
	entries []*images.MntEntry
	// tmpfs lists the tmpfs mounts whose contents are saved: one per
	// super block, each reachable at its mount point.
	tmpfs []proc.Mount
}

// checkMountNs checks the mount namespace of the tree against self,
// criu-parasite's, and says whether the tree has one of its own, whose
// mounts it then records.
func (d *dumper) checkMountNs(self uint64) (bool, error) {
	root := d.att.tasks[0].pid
	ns, err := d.fs.Namespaces(root)
	if err != nil {
		return false, fmt.Errorf("read namespaces of pid %d: %w", root, err)
	}
	ino, ok := ns["mnt"]
	if !ok || ino == self {
		if len(d.mnt.skip) > 0 {
			// No mounts are dumped, but a file on a mount --skip-mnt
			// names is still refused, as CRIU's.
			ms, err := d.fs.Mountinfo(root)
			if err != nil {
				return false, fmt.Errorf("read mounts of pid %d: %w", root, err)
			}
			_, d.mnt.skipped, _ = skipMounts(ms, d.mnt.skip)
		}
		return false, nil
	}
	for _, t := range d.att.tasks {
		if t.zombie {
			continue
		}
		tns, err := d.fs.Namespaces(t.pid)
		if err != nil {
			return false, fmt.Errorf("read namespaces of pid %d: %w", t.pid, err)
		}
		if tns["mnt"] != ino {
			return false, fmt.Errorf("pid %d is in a mount namespace (mnt:[%d]) other than the root's (pid %d, mnt:[%d]); nested mount namespaces are not supported: %w",
				t.pid, tns["mnt"], root, ino, ErrNotSupported)
		}
	}
	ms, err := d.fs.Mountinfo(root)
	if err != nil {
		return false, fmt.Errorf("read mounts of pid %d: %w", root, err)
	}
	host, err := d.fs.Mountinfo(os.Getpid())
	if err != nil {
		return false, fmt.Errorf("read own mounts: %w", err)
	}
	ms, d.mnt.skipped, err = skipMounts(ms, d.mnt.skip)
	if err != nil {
		return false, fmt.Errorf("dump mount namespace of pid %d: %w", root, err)
	}
	entries, err := mountEntries(ms, host, d.mnt.external, d.mnt.enableFs)
	if err != nil {
		return false, fmt.Errorf("dump mount namespace of pid %d: %w", root, err)
	}
	tmpfs, err := d.tmpfsToSave(root, ms, host)
	if err != nil {
		return false, fmt.Errorf("dump mount namespace of pid %d: %w", root, err)
	}
	d.mnt.own, d.mnt.ino, d.mnt.entries, d.mnt.tmpfs = true, ino, entries, tmpfs
	return true, nil
}

// skipMounts leaves out of ms the mounts at the mount points skip names
// (--skip-mnt, as CRIU compares paths: cleaned), and returns them by id.
// A mount left in whose parent is left out is refused.
func skipMounts(ms []proc.Mount, skip []string) ([]proc.Mount, map[int]string, error) {
	if len(skip) == 0 {
		return ms, nil, nil
	}
	skipped := map[int]string{}
	var kept []proc.Mount
	for _, m := range ms {
		if slices.ContainsFunc(skip, func(p string) bool { return filepath.Clean(p) == filepath.Clean(m.MountPoint) }) {
			skipped[m.ID] = m.MountPoint
			continue
		}
		kept = append(kept, m)
	}
	for _, m := range kept {
		if mp, ok := skipped[m.ParentID]; ok {
			return nil, nil, fmt.Errorf("mount %d at %s is on mount %d at %s, which --skip-mnt leaves out: %w", m.ID, m.MountPoint, m.ParentID, mp, ErrNotSupported)
		}
	}
	return kept, skipped, nil
}

// statInTree is statPath for a file of the tree, which must not be on a
// mount --skip-mnt leaves out: the restore would find another file, or
// none, at its path.
func (d *dumper) statInTree(path string) (*fileStat, error) {
	fs, err := statPath(path)
	if err != nil {
		return nil, err
	}
	if mp, ok := d.mnt.skipped[fs.mntID]; ok {
		return nil, fmt.Errorf("%s (%s) is on mount %d at %s, which --skip-mnt leaves out: %w", path, fs.link, fs.mntID, mp, ErrNotSupported)
	}
	return fs, nil
}

// sameMount says whether a and b show the same part of the same file
// system at the same place.
func sameMount(a, b proc.Mount) bool {
	return a.Major == b.Major && a.Minor == b.Minor && a.Root == b.Root && a.MountPoint == b.MountPoint
}

func inHost(m proc.Mount, host []proc.Mount) bool {
	for _, h := range host {
		if sameMount(m, h) {
			return true
		}
	}
	return false
}

// mountEntries turns the mounts of a namespace into mnt_entry records,
// refusing a mount no restore could make (see the top of this file).
// host is criu-parasite's own mount table, ext the external mounts by
// mount point, enableFs Options.EnableFs: a file system it names is
// recorded as Auto with its name, and its mounts of its root can be made
// anew.
func mountEntries(ms, host []proc.Mount, ext map[string]string, enableFs []string) ([]*images.MntEntry, error) {
	byID := map[int]int{}
	for i, m := range ms {
		byID[m.ID] = i
	}
	// A mapping for a mount point with no mount is left unused, as CRIU
	// leaves it: runc names every device it might have bind-mounted.
	// ok[i]: mount i can be made again; found by rounds, since a bind
	// is as good as the mount it binds from.
	ok := make([]bool, len(ms))
	for i, m := range ms {
		_, hasParent := byID[m.ParentID]
		_, isExt := ext[m.MountPoint]
		ok[i] = !hasParent || isExt || inHost(m, host) ||
			(m.Root == "/" && (mounts.Creatable(mounts.FsType(m.FsType)) || mounts.AutoEnabled(enableFs, m.FsType)))
	}
	for changed := true; changed; {
		changed = false
		for i, m := range ms {
			if ok[i] {
				continue
			}
			for j, s := range ms {
				if j == i || !ok[j] || s.Major != m.Major || s.Minor != m.Minor {
					continue
				}
				if _, under := mounts.Under(m.Root, s.Root); under {
					ok[i], changed = true, true
					break
				}
			}
		}
	}
	shared := map[int]bool{}
	for _, m := range ms {
		if m.Shared != 0 {
			shared[m.Shared] = true
		}
	}
	var out []*images.MntEntry
	for i, m := range ms {
		key, isExt := ext[m.MountPoint]
		if !ok[i] {
			return nil, fmt.Errorf("mount %d at %s (%s %s, root %s) is neither a file system a restore can mount nor a bind of another mount of the namespace (name it with --external mnt[%s]:KEY): %w",
				m.ID, m.MountPoint, m.FsType, m.Source, m.Root, m.MountPoint, ErrNotSupported)
		}
		if m.Master != 0 && !shared[m.Master] && !isExt {
			return nil, fmt.Errorf("mount %d at %s is a slave of peer group %d, which is outside the namespace: %w", m.ID, m.MountPoint, m.Master, ErrNotSupported)
		}
		flags := mounts.MountFlags(m.Options)
		if m.Shared != 0 {
			flags |= mounts.MsShared
		}
		if m.Master != 0 {
			flags |= mounts.MsSlave
		}
		if m.Unbindable {
			flags |= mounts.MsUnbindable
		}
		sb, opts := mounts.SuperFlags(m.SuperOptions)
		e := &images.MntEntry{
			Fstype:      ptr(mounts.FsType(m.FsType)),
			MntId:       ptr(uint32(m.ID)),
			RootDev:     ptr(mounts.KDev(m.Major, m.Minor)),
			ParentMntId: ptr(uint32(m.ParentID)),
			Flags:       ptr(flags),
			Root:        ptr(m.Root),
			Mountpoint:  ptr(m.MountPoint),
			Source:      ptr(m.Source),
			Options:     ptr(opts),
			SharedId:    ptr(uint32(m.Shared)),
			MasterId:    ptr(uint32(m.Master)),
			SbFlags:     ptr(sb),
		}
		if isExt {
			e.ExtKey = ptr(key)
		}
		if mounts.AutoEnabled(enableFs, m.FsType) {
			e.Fstype, e.Fsname = ptr(uint32(mounts.Auto)), ptr(m.FsType)
		}
		out = append(out, e)
	}
	return out, nil
}

// tmpfsToSave picks, for each tmpfs super block of the namespace, the
// mount of its root whose contents are saved, and checks it can be read
// at its mount point through /proc/PID/root. A tmpfs of the tree's own
// that cannot be read is refused; one criu-parasite's namespace has too
// is left out (its contents are not the tree's to restore).
func (d *dumper) tmpfsToSave(pid int, ms, host []proc.Mount) ([]proc.Mount, error) {
	seen := map[uint32]bool{}
	var out []proc.Mount
	for _, m := range ms {
		dev := mounts.KDev(m.Major, m.Minor)
		if m.FsType != "tmpfs" || m.Root != "/" || seen[dev] {
			continue
		}
		if _, isExt := d.mnt.external[m.MountPoint]; isExt {
			continue
		}
		fd, err := d.openMount(pid, m)
		if err == nil {
			unix.Close(fd)
			seen[dev] = true
			out = append(out, m)
			continue
		}
		if inHost(m, host) {
			continue
		}
		return nil, err
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// openMount opens the root of mount m of pid's namespace, at its mount
// point (symlinks resolved in pid's root), and checks it is m and not a
// mount over it.
func (d *dumper) openMount(pid int, m proc.Mount) (int, error) {
	rootDir := d.fs.Path(pid, 0, "root")
	rfd, err := unix.Open(rootDir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("open %s: %w", rootDir, err)
	}
	defer unix.Close(rfd)
	fd, err := unix.Openat2(rfd, "."+m.MountPoint, &unix.OpenHow{
		Flags:   unix.O_RDONLY | unix.O_DIRECTORY | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
	})
	if err != nil {
		return -1, fmt.Errorf("open mount %d at %s: %w", m.ID, m.MountPoint, err)
	}
	var stx unix.Statx_t
	if err := unix.Statx(fd, "", unix.AT_EMPTY_PATH, unix.STATX_MNT_ID, &stx); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("stat mount %d at %s: %w", m.ID, m.MountPoint, err)
	}
	if stx.Mnt_id != uint64(m.ID) {
		unix.Close(fd)
		return -1, fmt.Errorf("read tmpfs mount %d at %s: another mount (%d) hides it: %w", m.ID, m.MountPoint, stx.Mnt_id, ErrNotSupported)
	}
	return fd, nil
}

// dumpMountNs writes mountpoints-<id>.img and the tmpfs contents of the
// tree's mount namespace, when it has one of its own.
func (d *dumper) dumpMountNs(root int) error {
	if !d.mnt.own {
		return nil
	}
	id := d.ns.id("mnt", d.mnt.ino)
	img, err := encodeImage(image.Mnts, msgs(d.mnt.entries...)...)
	if err != nil {
		return err
	}
	d.out[image.Mnts.FileName(id)] = img
	for _, m := range d.mnt.tmpfs {
		fd, err := d.openMount(root, m)
		if err != nil {
			return err
		}
		data, err := tarTmpfs(fd)
		unix.Close(fd)
		if err != nil {
			return fmt.Errorf("dump tmpfs %d at %s: %w", m.ID, m.MountPoint, err)
		}
		d.out[image.TmpfsDev.FileName(mounts.KDev(m.Major, m.Minor))] = data
	}
	return nil
}
