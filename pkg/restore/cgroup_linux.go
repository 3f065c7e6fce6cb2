package restore

import (
	"errors"
	"fmt"
	"os"
	"path"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/criugo/criugo/images"
	"github.com/criugo/criugo/pkg/cgroup"
	"github.com/criugo/criugo/pkg/image"
)

// Cgroups (cgroup.img, see package cgroup). Before the root is created,
// every hierarchy the image names is mounted privately (fsopen), the
// directories of the image are made or found as Options.ManageCgroups
// says (paths moved by Options.CgroupRoots), and the properties that the
// kernel takes only from an empty cgroup (cpuset.cpus, ...) are written
// into the ones made. Each task is moved into its set's cgroups (its pid
// into cgroup.procs of each) right after it is created, before it forks
// its children, who inherit them; a task whose core came later (a
// stream) is moved before the tree runs. The root, when its set has a
// cgns_prefix, first enters the cgroups at the prefix, unshares a cgroup
// namespace there (an injected unshare(CLONE_NEWCGROUP)) and then moves
// on down, so /proc/self/cgroup reads inside as it did. The other
// properties are written once every task is in, right before the tree
// runs. A restore that fails removes the directories it made.

type cgRestore struct {
	mode    cgroup.Mode
	entry   *images.CgroupEntry
	rootSet uint32
	hier    []*cgroup.Hierarchy // by controller, as entry.Controllers
	made    []madeDir           // in creation order
	later   []cgProps           // properties written before the tree runs
	in      map[int]uint32      // the set each created task is in
}

type madeDir struct {
	h   *cgroup.Hierarchy
	rel string
}

type cgProps struct {
	h     *cgroup.Hierarchy
	rel   string
	props []*images.CgroupPropEntry
}

// prepareCgroups reads cgroup.img and makes or finds its directories.
func (r *restorer) prepareCgroups() error {
	c := &cgRestore{mode: r.opts.ManageCgroups, rootSet: r.inv.GetRootCgSet(), in: map[int]uint32{}}
	r.cg = c
	if c.mode == cgroup.Ignore {
		return nil
	}
	es, err := entries[*images.CgroupEntry](r.set, image.Cgroup.FileName(nil), true)
	if err != nil {
		return err
	}
	if len(es) == 0 {
		return nil // every task was in the dumping tool's cgroups
	}
	if len(es) != 1 {
		return fmt.Errorf("read cgroup.img: %d entries, want 1: %w", len(es), ErrBadImage)
	}
	c.entry = es[0]
	cgroup.RewriteRoots(c.entry, r.opts.CgroupRoots)
	for _, s := range c.entry.GetSets() {
		for _, m := range s.GetCtls() {
			if c.ctlOf(m.GetName()) < 0 {
				return fmt.Errorf("read cgroup.img: set %d names hierarchy %q, which it does not record: %w", s.GetId(), m.GetName(), ErrBadImage)
			}
			if bad(m.GetPath()) {
				return fmt.Errorf("read cgroup.img: set %d: bad path %q: %w", s.GetId(), m.GetPath(), ErrBadImage)
			}
		}
	}
	for _, ctl := range c.entry.GetControllers() {
		if len(ctl.GetCnames()) == 0 {
			return fmt.Errorf("read cgroup.img: a hierarchy without controllers: %w", ErrBadImage)
		}
		h, err := cgroup.OpenHierarchy(ctl.GetCnames())
		if err != nil {
			return fmt.Errorf("restore cgroups: %w", err)
		}
		c.hier = append(c.hier, h)
		if err := c.prepareDirs(h, "/", ctl.GetDirs()); err != nil {
			return err
		}
	}
	r.step("prepare cgroups")
	return nil
}

// bad says whether a path from the image could leave its hierarchy.
func bad(p string) bool {
	return strings.Contains("/"+p+"/", "/../") || strings.ContainsRune(p, 0)
}

// ctlOf returns the index of the hierarchy of member name, or -1.
func (c *cgRestore) ctlOf(name string) int {
	for i, ctl := range c.entry.GetControllers() {
		if cgroup.Contains(ctl.GetCnames(), name) {
			return i
		}
	}
	return -1
}

// prepareDirs makes or finds each directory of ents below parent.
func (c *cgRestore) prepareDirs(h *cgroup.Hierarchy, parent string, ents []*images.CgroupDirEntry) error {
	for _, e := range ents {
		if bad(e.GetDirName()) {
			return fmt.Errorf("read cgroup.img: bad directory name %q: %w", e.GetDirName(), ErrBadImage)
		}
		rel := path.Join(parent, e.GetDirName())
		p := h.Path(rel)
		_, err := os.Stat(p)
		switch {
		case errors.Is(err, os.ErrNotExist):
			if !c.mode.CreatesMissing() {
				return fmt.Errorf("restore cgroup %s: it does not exist (--manage-cgroups %v): %w", h.Name(rel), c.mode, ErrNotSupported)
			}
			if err := c.mkdirs(h, rel); err != nil {
				return err
			}
			if err := setPerms(p, e.GetDirPerms()); err != nil {
				return fmt.Errorf("restore cgroup %s: %w", h.Name(rel), err)
			}
			var rest []*images.CgroupPropEntry
			for _, pr := range e.GetProperties() {
				if !cgroup.IsSpecial(pr.GetName()) {
					rest = append(rest, pr)
					continue
				}
				if err := writeProp(h, rel, pr); err != nil {
					return err
				}
			}
			if rel != "/" {
				c.later = append(c.later, cgProps{h: h, rel: rel, props: rest})
			}
		case err != nil:
			return fmt.Errorf("restore cgroup %s: %w", h.Name(rel), err)
		default:
			if c.mode.RefusesExisting() {
				return fmt.Errorf("restore cgroup %s: it exists already (--manage-cgroups strict): %w", h.Name(rel), ErrNotSupported)
			}
			if c.mode.PermsOnExisting() {
				if err := setPerms(p, e.GetDirPerms()); err != nil {
					return fmt.Errorf("restore cgroup %s: %w", h.Name(rel), err)
				}
			}
			if c.mode.PropsOnExisting() && rel != "/" {
				c.later = append(c.later, cgProps{h: h, rel: rel, props: e.GetProperties()})
			}
		}
		if err := c.prepareDirs(h, rel, e.GetChildren()); err != nil {
			return err
		}
	}
	return nil
}

// mkdirs makes rel and any missing parent, remembering each to undo.
func (c *cgRestore) mkdirs(h *cgroup.Hierarchy, rel string) error {
	if rel == "/" {
		return nil
	}
	if _, err := os.Stat(h.Path(rel)); err == nil {
		return nil
	}
	if err := c.mkdirs(h, path.Dir(rel)); err != nil {
		return err
	}
	if err := os.Mkdir(h.Path(rel), 0o755); err != nil {
		return fmt.Errorf("make cgroup %s: %w", h.Name(rel), err)
	}
	c.made = append(c.made, madeDir{h, rel})
	return nil
}

// setPerms gives a file the mode and owner the image recorded.
func setPerms(p string, perms *images.CgroupPerms) error {
	if perms == nil {
		return nil
	}
	if err := os.Lchown(p, int(perms.GetUid()), int(perms.GetGid())); err != nil {
		return err
	}
	return unix.Fchmodat(unix.AT_FDCWD, p, perms.GetMode()&0o7777, 0)
}

// writeProp writes one property back, with its permissions.
func writeProp(h *cgroup.Hierarchy, rel string, pr *images.CgroupPropEntry) error {
	name := pr.GetName()
	if bad(name) || strings.Contains(name, "/") {
		return fmt.Errorf("read cgroup.img: bad property name %q: %w", name, ErrBadImage)
	}
	where := h.Name(rel) + "/" + name
	p := h.Path(rel, name)
	if name != "devices.list" {
		if err := setPerms(p, pr.GetPerms()); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("restore %s: %w", where, err)
		}
	}
	val := pr.GetValue()
	if cgroup.SkipWrite(name, val) {
		return nil
	}
	var err error
	switch name {
	case "cgroup.subtree_control":
		err = writeSubtreeControl(p, val)
	case "devices.list":
		if err = writeOnce(h.Path(rel, "devices.deny"), "a"); err == nil && val != "" {
			for _, l := range strings.Split(val, "\n") {
				if err = writeOnce(h.Path(rel, "devices.allow"), l); err != nil {
					break
				}
			}
		}
	case "net_prio.ifpriomap":
		for _, l := range strings.Split(val, "\n") {
			if f := strings.Fields(l); len(f) == 2 && f[1] != "0" {
				writeOnce(p, l) // an interface this host lacks is no error, as with CRIU
			}
		}
	default:
		err = writeOnce(p, val)
	}
	if err != nil {
		return fmt.Errorf("restore %s (%q): %w", where, val, err)
	}
	return nil
}

func writeOnce(p, val string) error {
	f, err := os.OpenFile(p, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, err = f.WriteString(val)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// writeSubtreeControl makes a cgroup's enabled controllers those of val.
func writeSubtreeControl(p, val string) error {
	b, err := os.ReadFile(p)
	if err != nil {
		return err
	}
	var ops []string
	for _, n := range strings.Fields(string(b)) {
		ops = append(ops, "-"+n)
	}
	for _, n := range strings.Fields(val) {
		ops = append(ops, "+"+n)
	}
	if len(ops) == 0 {
		return nil
	}
	return writeOnce(p, strings.Join(ops, " "))
}

// cgSetOf is the set task t was dumped in, 0 when none is recorded.
func (r *restorer) cgSetOf(t *task) uint32 {
	core := t.core
	if core == nil {
		var err error
		if core, err = single[*images.CoreEntry](r.set, coreName(uint32(t.pid))); err != nil {
			return 0
		}
	}
	if th := core.GetThreadCore(); th != nil && th.CgSet != nil {
		return th.GetCgSet()
	}
	return core.GetTc().GetCgSet()
}

// placeCgroup moves task t, created and stopped, into its set's cgroups
// unless it is there already (inherited); the root first gets its cgroup
// namespace.
func (r *restorer) placeCgroup(t *task) error {
	c := r.cg
	if c == nil || c.entry == nil {
		return nil
	}
	if _, done := c.in[t.pid]; done {
		return nil
	}
	want := r.cgSetOf(t)
	cur := c.rootSet
	for p := t.parent; p != nil; p = p.parent {
		if s, ok := c.in[p.pid]; ok {
			cur = s
			break
		}
	}
	if want == 0 || want == cur {
		c.in[t.pid] = cur
		return nil
	}
	var set *images.CgSetEntry
	for _, s := range c.entry.GetSets() {
		if s.GetId() == want {
			set = s
		}
	}
	if set == nil {
		return fmt.Errorf("restore cgroups of pid %d: set %d is not in cgroup.img: %w", t.pid, want, ErrBadImage)
	}
	if t.parent == nil {
		unshare := false
		for _, m := range set.GetCtls() {
			if p := int(m.GetCgnsPrefix()); p > 0 && p <= len(m.GetPath()) {
				if err := c.move(t.real, m.GetName(), m.GetPath()[:p]); err != nil {
					return err
				}
				unshare = true
			}
		}
		if unshare {
			if _, err := r.call(t, t.threads[0], "unshare CLONE_NEWCGROUP", unix.SYS_UNSHARE, unix.CLONE_NEWCGROUP); err != nil {
				return fmt.Errorf("restore cgroup namespace of pid %d: %w", t.pid, err)
			}
		}
	}
	for _, m := range set.GetCtls() {
		if err := c.move(t.real, m.GetName(), m.GetPath()); err != nil {
			return err
		}
	}
	c.in[t.pid] = want
	return nil
}

// move puts pid into the cgroup at rel of hierarchy name.
func (c *cgRestore) move(pid int, name, rel string) error {
	i := c.ctlOf(name)
	if i < 0 || i >= len(c.hier) {
		return fmt.Errorf("restore cgroups of pid %d: no hierarchy %q: %w", pid, name, ErrBadImage)
	}
	h := c.hier[i]
	if err := writeOnce(h.Path(rel, "cgroup.procs"), strconv.Itoa(pid)); err != nil {
		return fmt.Errorf("move pid %d into cgroup %s: %w", pid, h.Name(rel), err)
	}
	return nil
}

// cgroupsDone places the tasks not placed yet and writes the remaining
// properties, right before the tree runs.
func (r *restorer) cgroupsDone() error {
	c := r.cg
	if c == nil || c.entry == nil {
		return nil
	}
	for _, t := range r.tree.tasks {
		if !t.zombie() {
			if err := r.placeCgroup(t); err != nil {
				return err
			}
		}
	}
	for _, d := range c.later {
		for _, pr := range d.props {
			if cgroup.IsSpecial(pr.GetName()) {
				continue // written when the directory was made, or left
			}
			if err := writeProp(d.h, d.rel, pr); err != nil {
				return err
			}
		}
	}
	r.step("restore cgroups")
	return nil
}

// undoCgroups removes the directories a failed restore made, deepest
// first, once its tasks are gone.
func (r *restorer) undoCgroups() {
	c := r.cg
	if c == nil {
		return
	}
	for i := len(c.made) - 1; i >= 0; i-- {
		d := c.made[i]
		var err error
		// A killed task leaves its cgroup a moment after its pid is free.
		for try := 0; try < 100; try++ {
			if err = os.Remove(d.h.Path(d.rel)); !errors.Is(err, unix.EBUSY) {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		if err != nil {
			r.logf("remove cgroup %s: %v", d.h.Name(d.rel), err)
		}
	}
	c.made = nil
}

// closeCgroups drops the hierarchy mounts, once the restore is over.
func (r *restorer) closeCgroups() {
	if r.cg == nil {
		return
	}
	for _, h := range r.cg.hier {
		h.Close()
	}
	r.cg.hier = nil
}

// cgnsRestorable says whether a task's cgroup namespace id is the root's:
// one cgroup namespace for the whole tree, made again from cgroup.img's
// cgns_prefix (with none, as with CRIU, the tree shares criu-restore's).
func (r *restorer) cgnsRestorable(id uint32) bool {
	root, err := r.rootIDs()
	return err == nil && root.GetCgroupNsId() == id
}
