package imgtool

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"github.com/criugo/criugo/images"
	"github.com/criugo/criugo/pkg/image"
)

// DedupStats says what Dedup freed.
type DedupStats struct {
	Pages uint64 // pages punched out of parents' pages files
	Files int    // parent pages files punched
}

// Dedup frees, in the parent image sets of dir, the pages that dir holds
// again (CRIU's dedup and --auto-dedup): a page dir's pagemap has present
// is one a restore of dir never reads from a parent, so wherever the chain
// holds it (the parent, or further up where the parent says PE_PARENT) its
// bytes are punched out of that pages file (FALLOC_FL_PUNCH_HOLE, the size
// kept). The parents stay readable and their pagemaps unchanged, but they
// no longer restore on their own: what was punched reads as zeros. Only
// dir's own set restores the chain whole afterwards, as with CRIU.
func Dedup(dir string) (DedupStats, error) {
	var st DedupStats
	c, err := image.OpenParentChain(dir)
	if err != nil {
		return st, err
	}
	defer c.Close()
	if len(c.Dirs()) < 2 {
		return st, nil
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return st, fmt.Errorf("dedup %s: %w", dir, err)
	}
	// Every pagemap of the chain is read and found sound before the
	// first punch.
	var todo []image.PagePiece
	for _, e := range ents {
		name := e.Name()
		if !image.Pagemap.MatchFile(name) {
			continue
		}
		top, err := image.ReadPagemapFile(dir, name)
		if err != nil {
			return st, fmt.Errorf("dedup: %w", err)
		}
		for _, r := range top.Runs {
			if !r.Present {
				continue
			}
			held, err := c.Held(name, r.Vaddr, r.Len())
			if err != nil {
				return st, fmt.Errorf("dedup: %w", err)
			}
			todo = append(todo, held...)
		}
	}
	files := map[string]*os.File{}
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	for _, pc := range todo {
		f := files[pc.Path]
		if f == nil {
			if f, err = os.OpenFile(pc.Path, os.O_WRONLY|unix.O_NOFOLLOW, 0); err != nil {
				return st, fmt.Errorf("dedup: %w", err)
			}
			files[pc.Path] = f
			st.Files++
		}
		if err := unix.Fallocate(int(f.Fd()), unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, int64(pc.Off), int64(pc.Len)); err != nil {
			return st, fmt.Errorf("dedup: punch %d bytes at %d out of %s: %w", pc.Len, pc.Off, pc.Path, err)
		}
		st.Pages += pc.Len / images.PageSize
	}
	return st, nil
}
