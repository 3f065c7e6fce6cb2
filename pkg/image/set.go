package image

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
)

// Set is the decoded images of one checkpoint, by file name: from an image
// directory, each read when first asked for, or from a stream, each added
// as it comes. A directory set has a parent chain (Parents); a stream has
// none. The restore and the imgtool both hold their images in one; what
// each keeps besides (the imgtool's file sizes, raw bytes and decode
// errors; the restore's typed lookups) is theirs.
type Set struct {
	// Source says where the images come from, for messages: the
	// directory, or the stream.
	Source string
	// Dir is the image directory; empty for a stream.
	Dir string
	// imgs are the images recorded so far; a nil value is a file that
	// does not exist or was recorded without an image.
	imgs    map[string]*Image
	parents *ParentChain
}

// NewSet returns an empty set of a stream, named source in messages.
func NewSet(source string) *Set {
	return &Set{Source: source, imgs: map[string]*Image{}}
}

// OpenSet returns the set of image directory dir; nothing is read yet.
func OpenSet(dir string) (*Set, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("open image directory: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("open image directory %s: not a directory", dir)
	}
	return &Set{Source: dir, Dir: dir, imgs: map[string]*Image{}}, nil
}

// Add records img under name, replacing what was there; a nil img records
// that there is no such image.
func (s *Set) Add(name string, img *Image) { s.imgs[name] = img }

// AddFrom reads an image named name from r and records it.
func (s *Set) AddFrom(name string, r io.Reader) error {
	img, err := ReadImage(r, name)
	if err != nil {
		return err
	}
	s.imgs[name] = img
	return nil
}

// Recorded returns the image recorded under name (added, or read from the
// directory before) without reading anything, and whether there is one.
func (s *Set) Recorded(name string) (*Image, bool) {
	img, ok := s.imgs[name]
	return img, ok
}

// Lookup returns the image recorded under name, reading it from the
// directory the first time; nil, and no error, when there is none.
func (s *Set) Lookup(name string) (*Image, error) {
	if img, ok := s.imgs[name]; ok {
		return img, nil
	}
	if s.Dir == "" {
		return nil, nil
	}
	f, err := s.OpenFile(name)
	if errors.Is(err, fs.ErrNotExist) {
		s.imgs[name] = nil
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	img, err := ReadImage(bufio.NewReaderSize(f, 64<<10), name)
	if err != nil {
		return nil, err
	}
	s.imgs[name] = img
	return img, nil
}

// OpenFile opens a file of the image directory for reading (OpenFile:
// never through a symlink). A stream set has no files: the error matches
// fs.ErrNotExist, as for a missing file.
func (s *Set) OpenFile(name string) (*os.File, error) {
	if s.Dir == "" {
		return nil, fmt.Errorf("open %s: %w", name, fs.ErrNotExist)
	}
	return OpenFile(s.Dir, name)
}

// Parents returns the parent chain of a directory set, followed (Chain)
// the first time; its pages files are closed with the set. A stream has
// no parent: ErrNoParent.
func (s *Set) Parents() (*ParentChain, error) {
	if s.parents != nil {
		return s.parents, nil
	}
	if s.Dir == "" {
		return nil, fmt.Errorf("open parent of %s: a stream has no parent: %w", s.Source, ErrNoParent)
	}
	c, err := OpenParentChain(s.Dir)
	if err != nil {
		return nil, err
	}
	s.parents = c
	return c, nil
}

// Close closes the files the set holds open (its parents' pages files).
func (s *Set) Close() error {
	if s.parents == nil {
		return nil
	}
	return s.parents.Close()
}
