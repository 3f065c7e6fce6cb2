package cgroup

import (
	"path"
	"strings"

	"github.com/criugo/criugo/images"
)

// Contains says whether a member named name ("cpu,cpuacct", "memory",
// "" for v2) belongs to the hierarchy of cnames: every controller it
// names is one of cnames (for v2, both are the unified hierarchy).
func Contains(cnames []string, name string) bool {
	if IsV2(cnames) || name == "" {
		return IsV2(cnames) && name == ""
	}
	for _, n := range strings.Split(name, ",") {
		found := false
		for _, c := range cnames {
			if c == n {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return len(cnames) > 0
}

// RewriteRoots moves what e records to the cgroups --cgroup-root names,
// as CRIU's restore does: the head directories of a hierarchy become the
// new root, and each member below a head moves with it; a member with a
// cgns_prefix keeps the part inside its namespace and the new root
// becomes that namespace's root.
func RewriteRoots(e *images.CgroupEntry, roots []Root) {
	if len(roots) == 0 {
		return
	}
	for _, ctl := range e.GetControllers() {
		newroot := RootFor(roots, ctl.GetCnames())
		if newroot == "" {
			continue
		}
		for _, d := range ctl.GetDirs() {
			dir := d.GetDirName()
			newdir := ""
			for _, s := range e.GetSets() {
				for _, m := range s.GetCtls() {
					if !Contains(ctl.GetCnames(), m.GetName()) || !under(strings.TrimPrefix(m.GetPath(), "/"), dir) {
						continue
					}
					if p := int(m.GetCgnsPrefix()); p > 0 && p <= len(m.GetPath()) {
						if newdir == "" && p-1 <= len(dir) {
							newdir = newroot + dir[p-1:]
						}
						m.Path = ptr(newroot + m.GetPath()[p:])
						m.CgnsPrefix = ptr(uint32(len(newroot)))
					} else {
						if newdir == "" {
							newdir = newroot
						}
						rest := strings.TrimPrefix(strings.TrimPrefix(m.GetPath(), "/"), dir)
						m.Path = ptr(path.Join(newroot, rest))
					}
				}
			}
			if newdir != "" {
				d.DirName = ptr(newdir)
			}
		}
	}
}

// under says whether path p is dir or below it (both without a leading
// "/"; "" is the root).
func under(p, dir string) bool {
	return dir == "" || p == dir || strings.HasPrefix(p, dir+"/")
}

func ptr[T any](v T) *T { return &v }
