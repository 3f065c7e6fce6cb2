package restore

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/criugo/criugo/pkg/image"
)

// parentChain is the parent image sets of an image directory (an
// incremental dump, see package image's Chain), opened when a pagemap
// first has pages in its parent. A run in the parent is looked up in the
// parent's pagemap of the same name (pagemap-<pid>.img for the same pid,
// pagemap-shmem-<shmid>.img for the same object), as CRIU's page reader
// does; a run there in the parent again goes one level up.
type parentChain struct {
	dirs []string    // the chain; dirs[0] is the set itself
	sets []*imageSet // sets[i-1] is dirs[i]
	maps map[levelName]*levelMap
	// files are the parent pages files opened, closed with the set.
	files []*os.File
}

type levelName struct {
	level int
	name  string
}

// levelMap is one pagemap of a parent set: its runs by address, where
// each present run starts in its pages file, and that file, opened when
// a piece is first taken from it.
type levelMap struct {
	pagesName string
	runs      []pageRun
	offs      []uint64
	pages     *os.File
	size      uint64
}

// chain opens the parent chain of a directory set.
func (s *imageSet) chain() (*parentChain, error) {
	if s.parents != nil {
		return s.parents, nil
	}
	dirs, err := image.Chain(s.dir)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadImage, err)
	}
	c := &parentChain{dirs: dirs, maps: map[levelName]*levelMap{}}
	for _, d := range dirs[1:] {
		ps, err := openDirSet(d)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrBadImage, err)
		}
		c.sets = append(c.sets, ps)
	}
	s.parents = c
	return c, nil
}

// close closes the parent pages files opened.
func (c *parentChain) close() {
	for _, f := range c.files {
		f.Close()
	}
	c.files = nil
}

// resolve finds n bytes of pages from vaddr of pagemap name in the set at
// level of the chain (1: the parent) and above.
func (c *parentChain) resolve(level int, name string, vaddr, n uint64) ([]pagePiece, error) {
	if level >= len(c.dirs) {
		return nil, fmt.Errorf("%s has no parent (chain %s): %w: %w: %w", c.dirs[level-1], image.ChainString(c.dirs), ErrBadImage, image.ErrNotInParent, image.ErrNoParent)
	}
	m, err := c.pagemap(level, name)
	if err != nil {
		return nil, err
	}
	var out []pagePiece
	for n > 0 {
		i := sort.Search(len(m.runs), func(i int) bool { return m.runs[i].end() > vaddr })
		if i == len(m.runs) || m.runs[i].vaddr > vaddr || !(m.runs[i].present || m.runs[i].inParent) {
			return nil, fmt.Errorf("%s does not hold the page at %#x (chain %s): %w: %w", c.path(level, name), vaddr, image.ChainString(c.dirs), ErrBadImage, image.ErrNotInParent)
		}
		run := m.runs[i]
		k := min(n, run.end()-vaddr)
		if run.inParent {
			more, err := c.resolve(level+1, name, vaddr, k)
			if err != nil {
				return nil, err
			}
			out = append(out, more...)
		} else {
			f, err := c.pagesFile(level, m)
			if err != nil {
				return nil, err
			}
			off := m.offs[i] + vaddr - run.vaddr
			if off+k > m.size {
				return nil, fmt.Errorf("%s ends at %d, before the page at %#x (offset %d): %w", c.path(level, m.pagesName), m.size, vaddr, off, ErrBadImage)
			}
			if l := len(out); l > 0 && out[l-1].file == f && out[l-1].off+out[l-1].n == off && out[l-1].vaddr+out[l-1].n == vaddr {
				out[l-1].n += k
			} else {
				out = append(out, pagePiece{vaddr: vaddr, n: k, file: f, off: off})
			}
		}
		vaddr += k
		n -= k
	}
	return out, nil
}

func (c *parentChain) path(level int, name string) string {
	return filepath.Join(c.dirs[level], name)
}

// pagemap reads pagemap name of the set at level once.
func (c *parentChain) pagemap(level int, name string) (*levelMap, error) {
	key := levelName{level, name}
	if m, ok := c.maps[key]; ok {
		return m, nil
	}
	set := c.sets[level-1]
	img, err := set.lookup(name)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", c.path(level, name), err)
	}
	if img == nil {
		return nil, fmt.Errorf("%s does not exist (chain %s): %w: %w", c.path(level, name), image.ChainString(c.dirs), ErrBadImage, image.ErrNotInParent)
	}
	id, runs, err := readRuns(set, name)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", c.dirs[level], err)
	}
	m := &levelMap{pagesName: pagesName(id), runs: runs, offs: make([]uint64, len(runs))}
	var off, prevEnd uint64
	for i, r := range runs {
		// The lookup by address needs the runs in order, as CRIU writes them.
		if r.vaddr < prevEnd {
			return nil, fmt.Errorf("read %s: entry at %#x overlaps or precedes the one before: %w", c.path(level, name), r.vaddr, ErrBadImage)
		}
		prevEnd = r.end()
		m.offs[i] = off
		if r.present {
			off += r.nr * pageSize
		}
	}
	c.maps[key] = m
	return m, nil
}

// pagesFile opens the pages file of a parent pagemap once.
func (c *parentChain) pagesFile(level int, m *levelMap) (*os.File, error) {
	if m.pages != nil {
		return m.pages, nil
	}
	f, err := c.sets[level-1].openFile(m.pagesName)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			err = fmt.Errorf("%w: %w", ErrBadImage, err)
		}
		return nil, fmt.Errorf("open %s: %w", c.path(level, m.pagesName), err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("open %s: %w", c.path(level, m.pagesName), err)
	}
	c.files = append(c.files, f)
	m.pages, m.size = f, uint64(st.Size())
	return f, nil
}

// copyParentPieces reads pieces through buf and hands each part to put
// with the address it goes to.
func copyParentPieces(pieces []pagePiece, buf []byte, put func(b []byte, at uint64) error) error {
	for _, pc := range pieces {
		for done := uint64(0); done < pc.n; {
			b := buf[:min(pc.n-done, uint64(len(buf)))]
			if _, err := pc.file.ReadAt(b, int64(pc.off+done)); err != nil {
				return fmt.Errorf("read %s at %d: %w", pc.file.Name(), pc.off+done, truncatedErr(err))
			}
			if err := put(b, pc.vaddr+done); err != nil {
				return err
			}
			done += uint64(len(b))
		}
	}
	return nil
}
