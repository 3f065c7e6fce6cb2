package imgtool

import (
	"path/filepath"

	"github.com/criugo/criugo/pkg/image"
)

// pagemapRuns reads pagemap name of s, nil when s lacks it or it does not
// hold together (Verify's pagemap check reports why).
func pagemapRuns(s *Set, name string) *image.PagemapRuns {
	img := s.Get(name)
	if img == nil {
		return nil
	}
	pm, err := image.ParsePagemap(img, name)
	if err != nil {
		return nil
	}
	return pm
}

func inParent(pm *image.PagemapRuns) bool {
	for _, r := range pm.Runs {
		if r.InParent {
			return true
		}
	}
	return false
}

// parents checks the parent chain: a parent link must lead to a directory
// (a restore opens it, as CRIU's does, even when nothing needs it), the
// chain must not loop, and every run of a pagemap in the parent must be
// held by the parents' pagemaps of the same name (image.ParentChain
// resolves it as a restore does), whose pages files must match them. A
// stream has no parent: runs in the parent there are problems.
func (v *verifier) parents() {
	var names []string
	for _, name := range v.s.Order {
		if !image.Pagemap.MatchFile(name) && !image.ShmemPagemap.MatchFile(name) {
			continue
		}
		if pm := pagemapRuns(v.s, name); pm != nil && inParent(pm) {
			names = append(names, name)
		}
	}
	if v.s.Dir == "" {
		for _, name := range names {
			v.add(name, "has pages in the parent image set, but a stream has no parent")
		}
		return
	}
	c, err := image.OpenParentChain(v.s.Dir)
	if err != nil {
		v.add(image.ParentLink, "%v", err)
		return
	}
	defer c.Close()
	if len(names) == 0 {
		return
	}
	// The parents' own pagemaps and pages files must agree.
	dirs := c.Dirs()
	for _, dir := range dirs[1:] {
		s, err := LoadDir(dir, LoadOptions{})
		if err != nil {
			v.add(image.ParentLink, "load parent %s: %v", dir, err)
			continue
		}
		pv := &verifier{s: s, claimed: map[string]bool{}}
		for _, name := range names {
			if s.Files[name] != nil {
				pv.pagemap(name, nil)
			}
		}
		for _, p := range pv.problems {
			v.add(filepath.Join(dir, p.File), "%s", p.Msg)
		}
	}
	for _, name := range names {
		for _, r := range pagemapRuns(v.s, name).Runs {
			if !r.InParent {
				continue
			}
			if _, err := c.Resolve(name, r.Vaddr, r.Len()); err != nil {
				v.add(name, "pages %#x-%#x are in the parent, but %v", r.Vaddr, r.End(), err)
			}
		}
	}
}
