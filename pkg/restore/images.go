package restore

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"google.golang.org/protobuf/proto"

	"github.com/criugo/criugo/images"
	"github.com/criugo/criugo/pkg/image"
)

// imageSet holds the decoded images of one checkpoint, by file name.
//
// From a directory, images are read when first asked for; from a stream,
// every image but the raw pages files is put here as it arrives (they are
// small: the largest are a few KiB per task) and pages files are handed to
// the memory restore as they come.
type imageSet struct {
	// where says where the images come from, for errors.
	where string
	// dir is the image directory, empty for a stream.
	dir string
	// imgs are the images read so far; a nil value records a file that
	// does not exist.
	imgs map[string]*image.Image
	// parents is the parent chain of a directory, opened when a pagemap
	// has pages in the parent (an incremental dump).
	parents *image.ParentChain
}

// close closes the files the set holds open (its parents' pages files).
func (s *imageSet) close() {
	if s.parents != nil {
		s.parents.Close()
	}
}

func newStreamSet() *imageSet {
	return &imageSet{where: "stream", imgs: map[string]*image.Image{}}
}

func openDirSet(path string) (*imageSet, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("open image directory: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("open image directory %s: not a directory", path)
	}
	return &imageSet{where: path, dir: path, imgs: map[string]*image.Image{}}, nil
}

// openFile opens a file of the image directory for reading, refusing
// symlinks and anything that is not a regular file. A missing file is an
// error matching fs.ErrNotExist.
func (s *imageSet) openFile(name string) (*os.File, error) {
	if s.dir == "" {
		return nil, fmt.Errorf("open %s: %w", name, fs.ErrNotExist)
	}
	return image.OpenFile(s.dir, name)
}

// add records an image read from a stream.
func (s *imageSet) add(name string, r io.Reader) error {
	img, err := image.ReadImage(r, name)
	if err != nil {
		return err
	}
	s.imgs[name] = img
	return nil
}

// get returns the image stored under name. A missing image is an error
// matching both fs.ErrNotExist and ErrBadImage.
func (s *imageSet) get(name string) (*image.Image, error) {
	img, err := s.lookup(name)
	if err != nil {
		return nil, err
	}
	if img == nil {
		return nil, fmt.Errorf("read %s: %w: %w", name, ErrBadImage, fs.ErrNotExist)
	}
	return img, nil
}

// lookup returns the image stored under name, or nil when there is none.
func (s *imageSet) lookup(name string) (*image.Image, error) {
	if img, ok := s.imgs[name]; ok {
		return img, nil
	}
	if s.dir == "" {
		return nil, nil
	}
	f, err := s.openFile(name)
	if errors.Is(err, fs.ErrNotExist) {
		s.imgs[name] = nil
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	img, err := image.ReadImage(bufio.NewReaderSize(f, 64<<10), name)
	if err != nil {
		return nil, err
	}
	s.imgs[name] = img
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
