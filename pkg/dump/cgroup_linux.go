package dump

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/criugo/criugo/images"
	"github.com/criugo/criugo/pkg/cgroup"
	"github.com/criugo/criugo/pkg/image"
	"github.com/criugo/criugo/pkg/nsenter"
	"github.com/criugo/criugo/pkg/proc"
)

// Cgroups (cgroup.img, see package cgroup). Set 1 is criu-parasite's own
// set (inventory.img's root_cg_set); every other set a thread lives in
// gets the next id, and, unless the mode is ignore, the cgroups below
// each of its members (below its cgroup namespace's root when it has a
// cgns_prefix, or below --cgroup-root) are walked while the tree
// is frozen for their directories and properties. A task in a cgroup
// namespace of its own has each member's cgns_prefix: the part of its
// path above the namespace's root, found by reading its cgroup file from
// inside that namespace. Refused: tasks in different cgroup namespaces,
// threads in cgroups other than their leader's (threaded cgroups), and a
// task outside its own namespace's root.

// cgMember is one line of a task's cgroup file.
type cgMember struct {
	name, path string
	prefix     uint32
}

type cgSet struct {
	id      uint32
	members []cgMember
}

// cgDir is a cgroup directory to record, by its path in its hierarchy.
type cgDir struct {
	path  string
	perms *images.CgroupPerms
	props []*images.CgroupPropEntry
}

// cgCtl is one hierarchy of cgroup.img.
type cgCtl struct {
	cnames   []string
	threaded bool
	dirs     map[string]*cgDir
	h        *cgroup.Hierarchy
}

type cgDump struct {
	mode  cgroup.Mode
	roots []cgroup.Root
	only  []string // --cgroup-dump-controller: these hierarchies alone
	sets  []*cgSet // sets[0] is criu-parasite's own, id 1
	ctls  []*cgCtl
	ownNs uint64 // criu-parasite's cgroup namespace
	ns    uint64 // the tree's, once a task had one of its own
	// freezer: the directory and the state to record of a cgroup freeze.
	freezer     string
	wasFrozen   bool
	freezerV2   bool
	freezerDone bool
}

// skip says whether hierarchy name is left out (--cgroup-dump-controller).
func (c *cgDump) skip(name string) bool {
	return len(c.only) > 0 && !slices.Contains(c.only, name)
}

// readMembers parses a cgroup file into members sorted by name, as CRIU
// orders them, leaving out skipped hierarchies.
func (c *cgDump) readMembers(r io.Reader) ([]cgMember, error) {
	ms, err := c.readLines(r)
	return sortMembers(ms), err
}

func sortMembers(ms []cgMember) []cgMember {
	slices.SortStableFunc(ms, func(a, b cgMember) int { return strings.Compare(a.name, b.name) })
	return ms
}

// readLines parses a cgroup file into members in its order, leaving out
// skipped hierarchies.
func (c *cgDump) readLines(r io.Reader) ([]cgMember, error) {
	cgs, err := proc.ParseCgroup(r)
	if err != nil {
		return nil, err
	}
	var out []cgMember
	for _, g := range cgs {
		name := strings.Join(g.Controllers, ",")
		if c.skip(name) {
			continue
		}
		out = append(out, cgMember{name: name, path: g.Path})
	}
	return out, nil
}

// initCgroups reads criu-parasite's own set and hierarchies, before any
// task is dumped.
func (d *dumper) initCgroups() error {
	c := d.cg
	f, err := os.Open("/proc/thread-self/cgroup")
	if err != nil {
		return fmt.Errorf("read own cgroups: %w", err)
	}
	lines, err := c.readLines(f)
	f.Close()
	if err != nil {
		return fmt.Errorf("read own cgroups: %w", err)
	}
	c.sets = []*cgSet{{id: d.in.inv.GetRootCgSet(), members: sortMembers(lines)}}
	if c.sets[0].id == 0 {
		c.sets[0].id = 1
	}
	// The hierarchies in the order of the file, as CRIU lists them.
	for _, m := range lines {
		if strings.HasPrefix(m.name, "name=") {
			continue // named hierarchies join when a set names them, as with CRIU
		}
		c.ctls = append(c.ctls, &cgCtl{cnames: cnamesOf(m.name), dirs: map[string]*cgDir{}})
	}
	ns, err := d.fs.OwnNamespaces()
	if err != nil {
		return fmt.Errorf("read own namespaces: %w", err)
	}
	c.ownNs = ns["cgroup"]
	if a := d.att; a.cgroup != "" {
		c.freezer, c.wasFrozen, c.freezerV2 = a.cgroup, a.rec.GetCgroupWasFrozen(), a.cgV2
	}
	return nil
}

func cnamesOf(name string) []string { return strings.Split(name, ",") }

// close drops the hierarchy mounts.
func (c *cgDump) close() {
	if c == nil {
		return
	}
	for _, ctl := range c.ctls {
		if ctl.h != nil {
			ctl.h.Close()
			ctl.h = nil
		}
	}
}

// threadCgroups reads the set of thread tid of task pid.
func (d *dumper) threadCgroups(pid, tid int) ([]cgMember, error) {
	f, err := os.Open(d.fs.Path(pid, tid, "cgroup"))
	if err != nil {
		return nil, fmt.Errorf("read cgroups of tid %d: %w", tid, err)
	}
	defer f.Close()
	ms, err := d.cg.readMembers(f)
	if err != nil {
		return nil, fmt.Errorf("read cgroups of tid %d: %w", tid, err)
	}
	return ms, nil
}

// taskCgSet finds (or makes) the set of task t, checking that its threads
// share it.
func (d *dumper) taskCgSet(t *taskDump) (uint32, error) {
	c := d.cg
	ms, err := d.threadCgroups(t.pid, t.pid)
	if err != nil {
		return 0, err
	}
	for _, th := range t.threads[1:] {
		tms, err := d.threadCgroups(t.pid, th.tid)
		if err != nil {
			return 0, err
		}
		if !slices.Equal(tms, ms) {
			return 0, fmt.Errorf("tid %d of pid %d is in other cgroups than its leader (threaded cgroups): %w", th.tid, t.pid, ErrNotSupported)
		}
	}
	if err := d.cgnsPrefixes(t.pid, ms); err != nil {
		return 0, err
	}
	for _, s := range c.sets {
		if slices.Equal(s.members, ms) {
			return s.id, nil
		}
	}
	s := &cgSet{id: c.sets[len(c.sets)-1].id + 1, members: ms}
	c.sets = append(c.sets, s)
	if c.mode != cgroup.Ignore {
		for _, m := range ms {
			if err := d.collectCgroups(m); err != nil {
				return 0, err
			}
		}
	}
	return s.id, nil
}

// cgnsPrefixes sets the cgns_prefix of each member of task pid when it
// lives in a cgroup namespace other than criu-parasite's.
func (d *dumper) cgnsPrefixes(pid int, ms []cgMember) error {
	c := d.cg
	ns, err := d.fs.Namespaces(pid)
	if err != nil {
		return fmt.Errorf("read namespaces of pid %d: %w", pid, err)
	}
	ino, ok := ns["cgroup"]
	if !ok || ino == c.ownNs {
		return nil
	}
	if c.ns != 0 && c.ns != ino {
		return fmt.Errorf("pid %d is in cgroup namespace [%d], another task of the tree in [%d] (nested cgroup namespaces): %w", pid, ino, c.ns, ErrNotSupported)
	}
	c.ns = ino
	var inner []cgMember
	err = nsenter.Run(d.fs.Path(pid, 0, "ns", "cgroup"), unix.CLONE_NEWCGROUP, func() error {
		f, err := os.Open(d.fs.Path(pid, 0, "cgroup"))
		if err != nil {
			return err
		}
		defer f.Close()
		inner, err = c.readMembers(f)
		return err
	})
	if err != nil {
		return fmt.Errorf("read cgroups of pid %d in its cgroup namespace: %w", pid, err)
	}
	for i := range ms {
		for _, in := range inner {
			if in.name != ms[i].name || in.path == ms[i].path {
				continue
			}
			rest := strings.TrimPrefix(in.path, "/")
			if strings.HasPrefix(in.path, "/..") || !strings.HasSuffix(ms[i].path, "/"+rest) {
				return fmt.Errorf("pid %d: cgroup %s:%s is outside its cgroup namespace's root (it sees %s): %w", pid, ms[i].name, ms[i].path, in.path, ErrNotSupported)
			}
			ms[i].prefix = uint32(len(ms[i].path) - len(rest) - 1)
		}
	}
	return nil
}

// ctlFor returns the hierarchy of member name, adding a named one.
func (c *cgDump) ctlFor(name string) (*cgCtl, error) {
	for _, ctl := range c.ctls {
		if strings.Join(ctl.cnames, ",") == name {
			return ctl, nil
		}
	}
	if !strings.HasPrefix(name, "name=") {
		return nil, fmt.Errorf("cgroup hierarchy %q of the tree is not criu-parasite's: %w", name, ErrNotSupported)
	}
	ctl := &cgCtl{cnames: []string{name}, dirs: map[string]*cgDir{}}
	c.ctls = append(c.ctls, ctl)
	return ctl, nil
}

// collectCgroups records the cgroup of member m and every cgroup below
// it: below the root of the task's cgroup namespace when it has one of
// its own, below --cgroup-root when given.
func (d *dumper) collectCgroups(m cgMember) error {
	c := d.cg
	ctl, err := c.ctlFor(m.name)
	if err != nil {
		return err
	}
	if ctl.h == nil {
		if ctl.h, err = cgroup.OpenHierarchy(ctl.cnames); err != nil {
			return err
		}
	}
	root := m.path
	if m.prefix > 0 {
		// The whole cgroup tree the task's namespace sees, from its root:
		// the cgroup a container's limits are set on is that root.
		root = m.path[:m.prefix]
	}
	if r := cgroup.RootFor(c.roots, ctl.cnames); r != "" {
		root = r
	}
	top := ctl.h.Path(root)
	// The trailing "/" follows the /proc/self/fd link when root is the
	// hierarchy's root.
	return filepath.WalkDir(top+"/", func(p string, de fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("walk cgroup %s: %w", ctl.h.Name(root), err)
		}
		if !de.IsDir() {
			return nil
		}
		rel := filepath.Join("/", root, strings.TrimPrefix(p, top))
		if ctl.dirs[rel] != nil {
			return nil
		}
		dir, err := d.readCgroupDir(ctl, rel)
		if err != nil {
			return err
		}
		ctl.dirs[rel] = dir
		return nil
	})
}

// readCgroupDir reads the permissions and properties of one cgroup.
func (d *dumper) readCgroupDir(ctl *cgCtl, rel string) (*cgDir, error) {
	p := ctl.h.Path(rel)
	var st unix.Stat_t
	if err := unix.Stat(p, &st); err != nil {
		return nil, fmt.Errorf("read cgroup %s: %w", ctl.h.Name(rel), err)
	}
	dir := &cgDir{path: rel, perms: cgPerms(&st)}
	var enabled []string
	if cgroup.IsV2(ctl.cnames) {
		b, err := os.ReadFile(filepath.Join(p, "cgroup.controllers"))
		if err != nil {
			return nil, fmt.Errorf("read cgroup %s: %w", ctl.h.Name(rel), err)
		}
		enabled = strings.Fields(string(b))
	}
	isFreezer := d.cg.freezer != "" && sameFile(d.cg.freezer, p)
	for _, name := range cgroup.PropNames(ctl.cnames, enabled) {
		fp := filepath.Join(p, name)
		var fst unix.Stat_t
		if err := unix.Stat(fp, &fst); err != nil {
			if errors.Is(err, unix.ENOENT) {
				continue // not on this kernel, or not in the root cgroup
			}
			return nil, fmt.Errorf("read %s/%s: %w", ctl.h.Name(rel), name, err)
		}
		val := ""
		if !cgroup.NoValue(name) {
			b, err := readSmall(fp)
			if err != nil {
				return nil, fmt.Errorf("read %s/%s: %w", ctl.h.Name(rel), name, err)
			}
			var ok bool
			if val, ok = cgroup.DumpValue(name, string(b)); !ok {
				return nil, fmt.Errorf("read %s/%s: cannot parse %q: %w", ctl.h.Name(rel), name, b, ErrNotSupported)
			}
		}
		if name == "cgroup.freeze" && isFreezer {
			// Thawed by this dump; what it was before criu-seize came.
			val = map[bool]string{true: "1", false: "0"}[d.cg.wasFrozen]
			d.cg.freezerDone = true
		}
		if name == "tasks" || (name == "cgroup.type" && val == "threaded") {
			ctl.threaded = true
		}
		dir.props = append(dir.props, &images.CgroupPropEntry{Name: ptr(name), Value: ptr(val), Perms: cgPerms(&fst)})
	}
	if isFreezer && !d.cg.freezerV2 && slices.Contains(ctl.cnames, "freezer") {
		st := map[bool]string{true: "FROZEN", false: "THAWED"}[d.cg.wasFrozen]
		dir.props = append(dir.props, &images.CgroupPropEntry{Name: ptr("freezer.state"), Value: ptr(st)})
		d.cg.freezerDone = true
	}
	return dir, nil
}

func cgPerms(st *unix.Stat_t) *images.CgroupPerms {
	return &images.CgroupPerms{Mode: ptr(st.Mode), Uid: ptr(st.Uid), Gid: ptr(st.Gid)}
}

// sameFile says whether paths a and b name the same directory.
func sameFile(a, b string) bool {
	fa, err1 := os.Stat(a)
	fb, err2 := os.Stat(b)
	if err1 != nil || err2 != nil {
		return false
	}
	sa, ok1 := fa.Sys().(*syscall.Stat_t)
	sb, ok2 := fb.Sys().(*syscall.Stat_t)
	return ok1 && ok2 && sa.Dev == sb.Dev && sa.Ino == sb.Ino
}

// readSmall reads up to 1023 bytes of a control file, as CRIU does.
func readSmall(p string) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b := make([]byte, 1023)
	n, err := f.Read(b)
	if err != nil && err != io.EOF {
		return nil, err
	}
	return b[:n], nil
}

// dumpCgroups writes cgroup.img, unless every task is in criu-parasite's
// own set.
func (d *dumper) dumpCgroups() error {
	c := d.cg
	defer c.close()
	if len(c.sets) == 1 {
		return nil
	}
	e := &images.CgroupEntry{}
	for _, s := range c.sets[1:] {
		se := &images.CgSetEntry{Id: ptr(s.id)}
		for _, m := range s.members {
			me := &images.CgMemberEntry{Name: ptr(m.name), Path: ptr(m.path)}
			if m.prefix > 0 {
				me.CgnsPrefix = ptr(m.prefix)
			}
			se.Ctls = append(se.Ctls, me)
		}
		e.Sets = append(e.Sets, se)
	}
	for _, ctl := range c.ctls {
		e.Controllers = append(e.Controllers, &images.CgControllerEntry{
			Cnames:     ctl.cnames,
			Dirs:       cgTree(ctl.dirs),
			IsThreaded: ptr(ctl.threaded),
		})
	}
	return d.put(image.Cgroup, nil, e)
}

// cgTree arranges dirs as CRIU's cgroup_dir_entry trees: each directory
// under its nearest recorded ancestor; a head is named by its path without
// the leading "/", a child by the rest of its path below its parent.
func cgTree(dirs map[string]*cgDir) []*images.CgroupDirEntry {
	paths := make([]string, 0, len(dirs))
	for p := range dirs {
		paths = append(paths, p)
	}
	slices.Sort(paths)
	ents := map[string]*images.CgroupDirEntry{}
	var heads []*images.CgroupDirEntry
	for _, p := range paths {
		dir := dirs[p]
		ent := &images.CgroupDirEntry{DirPerms: dir.perms, Properties: dir.props}
		ents[p] = ent
		parent := ""
		for a := filepath.Dir(p); ; a = filepath.Dir(a) {
			if ents[a] != nil && a != p {
				parent = a
				break
			}
			if a == "/" {
				break
			}
		}
		if parent == "" {
			ent.DirName = ptr(strings.TrimPrefix(p, "/"))
			heads = append(heads, ent)
			continue
		}
		ent.DirName = ptr(strings.TrimPrefix(strings.TrimPrefix(p, parent), "/"))
		ents[parent].Children = append(ents[parent].Children, ent)
	}
	return heads
}
