package image

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// ParentLink is the entry of an image directory that names the image
// directory of the previous dump of an incremental chain (CRIU's
// CR_PARENT_LINK): a symlink, usually relative ("../pre1"), written by a
// dump with --prev-images-dir. Pagemap entries flagged PE_PARENT (or
// in_parent) have their pages there, or further up the chain.
const ParentLink = "parent"

// MaxChainDepth bounds how many parents a chain may have. CRIU sets no
// bound; an iterative migration rarely makes more than a few pre-dumps.
const MaxChainDepth = 64

// Errors of parent chains.
var (
	// ErrNoParent: the image directory has no parent entry; the chain
	// ends there.
	ErrNoParent = errors.New("no parent image directory")
	// ErrParentMissing: the parent entry is there but leads nowhere (a
	// dangling symlink) or to something that is not a directory. When the
	// target does not exist it also matches fs.ErrNotExist.
	ErrParentMissing = errors.New("parent image directory missing")
	// ErrChainLoop: following the parents comes back to a directory of
	// the chain.
	ErrChainLoop = errors.New("parent chain loops")
	// ErrChainTooDeep: the chain has more than MaxChainDepth parents.
	ErrChainTooDeep = errors.New("parent chain too deep")
	// ErrNotInParent: a pagemap entry says its pages are in the parent,
	// but the parent's pagemap of the same name does not hold them (no
	// such pagemap, no entry there, or an entry without pages).
	ErrNotInParent = errors.New("pages not in the parent image set")
)

// ParentDir returns the parent image directory of dir. The parent entry
// is followed wherever it leads, as CRIU does (openat(dfd, "parent",
// O_RDONLY) follows the link), and must end at a directory; files in it
// are then opened as in any image directory (OpenFile: never through a
// symlink). The path returned has its symlinks resolved, so that a chain
// reads "a -> b -> c" and not "a/parent/parent".
func ParentDir(dir string) (string, error) {
	link := filepath.Join(dir, ParentLink)
	if _, err := os.Lstat(link); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("open parent of %s: %w", dir, ErrNoParent)
		}
		return "", fmt.Errorf("open parent of %s: %w", dir, err)
	}
	real, err := filepath.EvalSymlinks(link)
	if err != nil {
		return "", fmt.Errorf("open parent of %s: %w: %w", dir, ErrParentMissing, err)
	}
	st, err := os.Stat(real)
	if err != nil {
		return "", fmt.Errorf("open parent of %s: %w: %w", dir, ErrParentMissing, err)
	}
	if !st.IsDir() {
		return "", fmt.Errorf("open parent of %s: %s is %v, not a directory: %w", dir, real, st.Mode().Type(), ErrParentMissing)
	}
	return real, nil
}

// Chain returns dir followed by its parents, nearest first, up to the
// first directory without a parent entry. A dangling parent link is
// ErrParentMissing, a parent that is already in the chain ErrChainLoop,
// more than MaxChainDepth parents ErrChainTooDeep; each error names the
// chain followed so far.
func Chain(dir string) ([]string, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("open image directory: %w", err)
	}
	dirs := []string{dir}
	seen := []os.FileInfo{st}
	for {
		cur := dirs[len(dirs)-1]
		parent, err := ParentDir(cur)
		if errors.Is(err, ErrNoParent) {
			return dirs, nil
		}
		if err != nil {
			return nil, fmt.Errorf("follow parent chain %s: %w", ChainString(dirs), err)
		}
		pst, err := os.Stat(parent)
		if err != nil {
			return nil, fmt.Errorf("follow parent chain %s: %w: %w", ChainString(dirs), ErrParentMissing, err)
		}
		for _, s := range seen {
			if os.SameFile(s, pst) {
				return nil, fmt.Errorf("follow parent chain %s: %w", ChainString(append(dirs, parent)), ErrChainLoop)
			}
		}
		if len(dirs) > MaxChainDepth {
			return nil, fmt.Errorf("follow parent chain %s -> ...: more than %d parents: %w", ChainString(dirs[:3]), MaxChainDepth, ErrChainTooDeep)
		}
		dirs = append(dirs, parent)
		seen = append(seen, pst)
	}
}

// ChainString names a chain of image directories for messages.
func ChainString(dirs []string) string { return strings.Join(dirs, " -> ") }
