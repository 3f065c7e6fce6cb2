package image

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// ParentChain finds the pages of runs in the parent (PE_PARENT) in the
// pages files of an incremental chain. A run of pagemap name is looked up
// in the parent's pagemap of the same name (pagemap-<pid>.img for the
// same pid, pagemap-shmem-<shmid>.img for the same object), as CRIU's page
// reader does; a run there in the parent again goes one level up. Each
// pagemap and pages file of the chain is read or opened once, when first
// needed; the pages files stay open until Close.
type ParentChain struct {
	dirs []string // the chain; dirs[0] is the set whose runs are resolved
	maps map[levelName]*levelPages
}

type levelName struct {
	level int
	name  string
}

// levelPages is one pagemap of a parent set, nil pm when the set has none,
// and its pages file, opened when a piece is first taken from it.
type levelPages struct {
	pm   *PagemapRuns
	path string // of the pages file
	file *os.File
	size uint64
}

// PagePiece is Len bytes of pages for Vaddr, at offset Off of pages file
// Path (open as File) of level Level of the chain.
type PagePiece struct {
	Vaddr, Len uint64
	Level      int
	Path       string
	File       *os.File
	Off        uint64
}

// NewParentChain resolves runs of dirs[0] through the chain dirs (as Chain
// returns it).
func NewParentChain(dirs []string) *ParentChain {
	return &ParentChain{dirs: dirs, maps: map[levelName]*levelPages{}}
}

// OpenParentChain follows the parents of dir (Chain) to resolve its runs.
func OpenParentChain(dir string) (*ParentChain, error) {
	dirs, err := Chain(dir)
	if err != nil {
		return nil, err
	}
	return NewParentChain(dirs), nil
}

// Dirs is the chain, dirs[0] first.
func (c *ParentChain) Dirs() []string { return c.dirs }

// Close closes the pages files opened.
func (c *ParentChain) Close() error {
	var err error
	for _, lp := range c.maps {
		if lp.file != nil {
			err = errors.Join(err, lp.file.Close())
			lp.file = nil
		}
	}
	return err
}

// Resolve returns where the chain holds n bytes of pages from vaddr that
// pagemap name of dirs[0] has in the parent: pieces in address order,
// adjacent ones merged. Pages no parent holds are ErrNotInParent: the
// chain ends (also ErrNoParent), the parent lacks the pagemap, or its
// runs leave a gap or have no pages there. A pagemap of the chain that
// does not parse is ErrBadPagemap, a pages file shorter than its pagemap
// says ErrBadPagemap too.
func (c *ParentChain) Resolve(name string, vaddr, n uint64) ([]PagePiece, error) {
	var out []PagePiece
	if err := c.walk(1, name, vaddr, vaddr+n, true, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// Held returns the pieces of the parents' pages files that hold pages
// [vaddr, vaddr+n) of pagemap name, as Resolve, but skipping what no
// parent holds (a task or object new since, a hole) instead of failing.
func (c *ParentChain) Held(name string, vaddr, n uint64) ([]PagePiece, error) {
	var out []PagePiece
	if err := c.walk(1, name, vaddr, vaddr+n, false, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// walk collects the pieces of [start, end) of pagemap name at level and
// above; strict: every page must be held.
func (c *ParentChain) walk(level int, name string, start, end uint64, strict bool, out *[]PagePiece) error {
	if level >= len(c.dirs) {
		if !strict {
			return nil
		}
		return fmt.Errorf("%s has no parent (chain %s): %w: %w", c.dirs[level-1], ChainString(c.dirs), ErrNotInParent, ErrNoParent)
	}
	lp, err := c.pagemap(level, name)
	if err != nil {
		return err
	}
	path := filepath.Join(c.dirs[level], name)
	if lp.pm == nil {
		if !strict {
			return nil
		}
		return fmt.Errorf("%s is missing: it does not exist (chain %s): %w", path, ChainString(c.dirs), ErrNotInParent)
	}
	runs := lp.pm.Runs
	i, _ := lp.pm.Find(start)
	for start < end {
		if i == len(runs) || runs[i].Vaddr > start || !runs[i].HasPages() {
			if strict {
				return fmt.Errorf("%s does not hold the page at %#x (chain %s): %w", path, start, ChainString(c.dirs[:level+1]), ErrNotInParent)
			}
			switch {
			case i == len(runs):
				return nil
			case runs[i].Vaddr > start:
				start = runs[i].Vaddr
			default:
				start = runs[i].End()
				i++
			}
			continue
		}
		r := runs[i]
		k := min(end, r.End()) - start
		if r.InParent {
			if err := c.walk(level+1, name, start, start+k, strict, out); err != nil {
				return err
			}
		} else if err := c.take(level, lp, r, start, k, out); err != nil {
			return err
		}
		start += k
		i++
	}
	return nil
}

// take appends k bytes from start of present run r of level's pagemap.
func (c *ParentChain) take(level int, lp *levelPages, r PageRun, start, k uint64, out *[]PagePiece) error {
	if lp.file == nil {
		f, err := OpenFile(c.dirs[level], filepath.Base(lp.path))
		if err != nil {
			return fmt.Errorf("open %s: %w", lp.path, err)
		}
		st, err := f.Stat()
		if err != nil {
			f.Close()
			return fmt.Errorf("open %s: %w", lp.path, err)
		}
		lp.file, lp.size = f, uint64(st.Size())
	}
	off := r.Off + start - r.Vaddr
	if off+k > lp.size {
		return fmt.Errorf("%s ends at %d, before the page at %#x (offset %d): %w", lp.path, lp.size, start, off, ErrBadPagemap)
	}
	if l := len(*out); l > 0 {
		p := &(*out)[l-1]
		if p.File == lp.file && p.Off+p.Len == off && p.Vaddr+p.Len == start {
			p.Len += k
			return nil
		}
	}
	*out = append(*out, PagePiece{Vaddr: start, Len: k, Level: level, Path: lp.path, File: lp.file, Off: off})
	return nil
}

// pagemap reads pagemap name of level once.
func (c *ParentChain) pagemap(level int, name string) (*levelPages, error) {
	key := levelName{level, name}
	if lp, ok := c.maps[key]; ok {
		return lp, nil
	}
	lp := &levelPages{}
	pm, err := ReadPagemapFile(c.dirs[level], name)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, err
	default:
		lp.pm = pm
		lp.path = filepath.Join(c.dirs[level], Pages.FileName(pm.PagesID))
	}
	c.maps[key] = lp
	return lp, nil
}
