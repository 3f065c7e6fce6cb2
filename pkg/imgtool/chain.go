package imgtool

import (
	"path/filepath"

	"github.com/criugo/criugo/images"
	"github.com/criugo/criugo/pkg/image"
)

// chainCheck follows the parent chain of a directory set for Verify.
type chainCheck struct {
	v    *verifier
	dirs []string // the chain; dirs[0] is the set itself
	sets []*Set   // sets[i-1] is dirs[i], loaded when first needed; nil if it failed
	// checked records the parent pagemaps already checked, by path.
	checked map[string]bool
}

// inParent reports whether a pagemap entry's pages are in the parent, as
// CRIU reads it (the old in_parent field counts too).
func inParent(pe *images.PagemapEntry) bool {
	return pe.GetInParent() || pe.GetFlags()&images.PeParent != 0
}

// hasPages reports whether a pagemap entry's pages are somewhere: in the
// pages file or in the parent.
func hasPages(pe *images.PagemapEntry) bool {
	return inParent(pe) || pe.GetFlags()&images.PePresent != 0 || pe.Flags == nil
}

// parents checks the parent chain: a parent link must lead to a directory
// (a restore opens it, as CRIU's does, even when nothing needs it), the
// chain must not loop, and every run of a pagemap in the parent must be
// held by the parents' pagemaps of the same name, whose pages files must
// match them. A stream has no parent: runs in the parent there are
// problems.
func (v *verifier) parents() {
	var names []string
	for _, name := range v.s.Order {
		if !image.Pagemap.MatchFile(name) && !image.ShmemPagemap.MatchFile(name) {
			continue
		}
		for _, pe := range entries[*images.PagemapEntry](v.s.Get(name)) {
			if inParent(pe) {
				names = append(names, name)
				break
			}
		}
	}
	if v.s.Dir == "" {
		for _, name := range names {
			v.add(name, "has pages in the parent image set, but a stream has no parent")
		}
		return
	}
	dirs, err := image.Chain(v.s.Dir)
	if err != nil {
		v.add(image.ParentLink, "%v", err)
		return
	}
	c := &chainCheck{v: v, dirs: dirs, sets: make([]*Set, len(dirs)-1), checked: map[string]bool{}}
	for _, name := range names {
		for _, pe := range entries[*images.PagemapEntry](v.s.Get(name)) {
			if inParent(pe) {
				n, _ := image.PagemapNrPages(pe)
				c.covered(name, 1, name, pe.GetVaddr(), pe.GetVaddr()+n*images.PageSize)
			}
		}
	}
}

// set returns the set at level of the chain, loading it once.
func (c *chainCheck) set(level int) *Set {
	if s := c.sets[level-1]; s != nil {
		return s
	}
	s, err := LoadDir(c.dirs[level], LoadOptions{})
	if err != nil {
		c.v.add(image.ParentLink, "load parent %s: %v", c.dirs[level], err)
		s = &Set{Source: c.dirs[level], Dir: c.dirs[level], Files: map[string]*File{}}
	}
	c.sets[level-1] = s
	return s
}

// covered checks that pages [start, end) of pagemap name are held at
// level of the chain or above; problems are reported against top, the
// pagemap of the set that needs them.
func (c *chainCheck) covered(top string, level int, name string, start, end uint64) {
	if level >= len(c.dirs) {
		c.v.add(top, "pages %#x-%#x are in the parent, but %s has no parent (chain %s)", start, end, c.dirs[level-1], image.ChainString(c.dirs))
		return
	}
	s := c.set(level)
	path := filepath.Join(c.dirs[level], name)
	img := s.Get(name)
	if img == nil {
		c.v.add(top, "pages %#x-%#x are in the parent, but %s is missing or does not decode", start, end, path)
		return
	}
	if !c.checked[path] {
		c.checked[path] = true
		// The parent's own pagemap and pages file must agree.
		pv := &verifier{s: s, claimed: map[string]bool{}}
		pv.pagemap(name, nil)
		for _, p := range pv.problems {
			c.v.add(filepath.Join(c.dirs[level], p.File), "%s", p.Msg)
		}
	}
	for _, pe := range entries[*images.PagemapEntry](img) {
		if start >= end {
			return
		}
		n, _ := image.PagemapNrPages(pe)
		ps, pend := pe.GetVaddr(), pe.GetVaddr()+n*images.PageSize
		if pend <= start {
			continue
		}
		if ps > start || !hasPages(pe) {
			break
		}
		k := min(end, pend)
		if inParent(pe) {
			c.covered(top, level+1, name, start, k)
		}
		start = k
	}
	if start < end {
		c.v.add(top, "pages %#x-%#x are in the parent, but %s does not hold the page at %#x (chain %s)", start, end, path, start, image.ChainString(c.dirs[:level+1]))
	}
}
