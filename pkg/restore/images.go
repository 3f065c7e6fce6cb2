package restore

import (
	"fmt"
	"io"
	"io/fs"
	"os"

	"google.golang.org/protobuf/proto"

	"github.com/criugo/criugo/images"
	"github.com/criugo/criugo/pkg/image"
)

// imageSet is the images of one checkpoint (package image's Set), with
// the lookups the restore makes of them.
//
// From a directory, images are read when first asked for; from a stream,
// every image but the raw pages files is put here as it arrives (they are
// small: the largest are a few KiB per task) and pages files are handed to
// the memory restore as they come. The parent chain of a directory is
// opened when a pagemap first has pages in the parent (an incremental
// dump), and its pages files are closed with the set.
type imageSet struct{ *image.Set }

func newStreamSet() *imageSet { return &imageSet{image.NewSet("stream")} }

func openDirSet(path string) (*imageSet, error) {
	s, err := image.OpenSet(path)
	if err != nil {
		return nil, err
	}
	return &imageSet{s}, nil
}

// close closes the files the set holds open.
func (s *imageSet) close() { s.Close() }

// openFile opens a file of the image directory for reading, refusing
// symlinks and anything that is not a regular file. A missing file is an
// error matching fs.ErrNotExist.
func (s *imageSet) openFile(name string) (*os.File, error) { return s.OpenFile(name) }

// add records an image read from a stream.
func (s *imageSet) add(name string, r io.Reader) error { return s.AddFrom(name, r) }

// lookup returns the image stored under name, or nil when there is none.
func (s *imageSet) lookup(name string) (*image.Image, error) { return s.Lookup(name) }

// has reports whether name is in the set already (added from a stream).
func (s *imageSet) has(name string) bool {
	_, ok := s.Recorded(name)
	return ok
}

// get returns the image stored under name. A missing image is an error
// matching both fs.ErrNotExist and ErrBadImage.
func (s *imageSet) get(name string) (*image.Image, error) {
	img, err := s.Lookup(name)
	if err != nil {
		return nil, err
	}
	if img == nil {
		return nil, fmt.Errorf("read %s: %w: %w", name, ErrBadImage, fs.ErrNotExist)
	}
	return img, nil
}

// entries returns the messages of the image stored under name, each checked
// to be a T. A missing image gives no entries and no error when optional.
func entries[T proto.Message](s *imageSet, name string, optional bool) ([]T, error) {
	var img *image.Image
	var err error
	if optional {
		img, err = s.lookup(name)
	} else {
		img, err = s.get(name)
	}
	if err != nil || img == nil {
		return nil, err
	}
	out := make([]T, 0, len(img.Entries))
	for i, e := range img.Entries {
		m, ok := e.Msg.(T)
		if !ok {
			return nil, fmt.Errorf("read %s: entry %d is %T: %w", name, i, e.Msg, ErrBadImage)
		}
		out = append(out, m)
	}
	return out, nil
}

// single returns the one entry of an image that must hold exactly one.
func single[T proto.Message](s *imageSet, name string) (T, error) {
	var zero T
	es, err := entries[T](s, name, false)
	if err != nil {
		return zero, err
	}
	if len(es) != 1 {
		return zero, fmt.Errorf("read %s: %d entries, want 1: %w", name, len(es), ErrBadImage)
	}
	return es[0], nil
}

func coreName(tid uint32) string    { return fmt.Sprintf("core-%d.img", tid) }
func mmName(pid uint32) string      { return fmt.Sprintf("mm-%d.img", pid) }
func pagemapName(pid uint32) string { return fmt.Sprintf("pagemap-%d.img", pid) }
func idsName(pid uint32) string     { return fmt.Sprintf("ids-%d.img", pid) }
func fsName(pid uint32) string      { return fmt.Sprintf("fs-%d.img", pid) }
func fdinfoName(id uint32) string   { return fmt.Sprintf("fdinfo-%d.img", id) }
func pagesName(id uint64) string    { return fmt.Sprintf("pages-%d.img", id) }
func shmemPagemapName(shmid uint64) string {
	return fmt.Sprintf("pagemap-shmem-%d.img", shmid)
}
func ghostName(id uint32) string { return fmt.Sprintf("ghost-file-%x.img", id) }

// fileTable is files.img: every open file object of the tree, by id.
type fileTable map[uint32]*images.FileEntry

func (s *imageSet) files() (fileTable, error) {
	es, err := entries[*images.FileEntry](s, "files.img", true)
	if err != nil {
		return nil, err
	}
	t := make(fileTable, len(es))
	for _, e := range es {
		if _, dup := t[e.GetId()]; dup {
			return nil, fmt.Errorf("read files.img: file id %d twice: %w", e.GetId(), ErrBadImage)
		}
		t[e.GetId()] = e
	}
	// Image sets of CRIU before 3.x keep regular files in reg-files.img.
	regs, err := entries[*images.RegFileEntry](s, "reg-files.img", true)
	if err != nil {
		return nil, err
	}
	for _, r := range regs {
		if _, dup := t[r.GetId()]; !dup {
			t[r.GetId()] = &images.FileEntry{Type: images.FdTypes_REG.Enum(), Id: proto.Uint32(r.GetId()), Reg: r}
		}
	}
	return t, nil
}
