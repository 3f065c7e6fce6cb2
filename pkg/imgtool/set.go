package imgtool

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/criugo/criugo/pkg/image"
)

// File is one file of a set.
type File struct {
	Name  string
	Size  int64
	Kind  *image.Kind  // nil for a file whose name is no image kind
	Image *image.Image // decoded content; nil for raw kinds or on error
	Err   error        // why the file did not decode
	// Raw is the content of a raw image or of a file that is no image
	// kind, kept only when the set was loaded with LoadOptions.KeepRaw.
	Raw []byte
}

// LoadOptions says what a load keeps besides the decoded images.
type LoadOptions struct {
	// KeepRaw keeps the bytes of raw images (pages-*.img) in File.Raw, for
	// Diff to compare. Without it they are only measured, so a set of many
	// gigabytes is read without holding its memory.
	KeepRaw bool
}

// Set is an image set as read from a directory or a stream: package
// image's Set, which holds the decoded images and says where they come
// from (Source: the directory or stream file, "stream" for a stream read
// from a reader; Dir: the directory, when read from one, whose parent
// chain can be followed), and every file of it as found.
type Set struct {
	*image.Set
	Order []string         // file names as found (dir: sorted; stream: stream order)
	Files map[string]*File // by name
	opts  LoadOptions
}

// Get returns the decoded image name, or nil when the set lacks it or it
// did not decode.
func (s *Set) Get(name string) *image.Image {
	img, _ := s.Recorded(name)
	return img
}

func (s *Set) add(name string, size int64, r io.Reader) error {
	if _, dup := s.Files[name]; dup {
		return fmt.Errorf("read %s: %s appears twice", s.Source, name)
	}
	f := &File{Name: name, Size: size, Kind: image.KindForFile(name)}
	s.Files[name] = f
	s.Order = append(s.Order, name)
	if f.Kind == nil || f.Kind.Raw() {
		if s.opts.KeepRaw {
			data, err := io.ReadAll(r)
			f.Size, f.Raw = int64(len(data)), data
			return err
		}
		n, err := io.Copy(io.Discard, r)
		f.Size = n
		return err
	}
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	f.Size = int64(len(data))
	f.Image, f.Err = image.ReadImage(bytes.NewReader(data), name)
	if f.Err != nil {
		f.Image = nil
	}
	s.Add(name, f.Image)
	return nil
}

// LoadDir reads the image files of dir.
func LoadDir(dir string, opts LoadOptions) (*Set, error) {
	names, err := image.ListDir(dir)
	if err != nil {
		return nil, err
	}
	is, err := image.OpenSet(dir)
	if err != nil {
		return nil, err
	}
	s := &Set{Set: is, Files: map[string]*File{}, opts: opts}
	for _, name := range names {
		f, err := image.OpenFile(dir, name)
		if err != nil {
			return nil, err
		}
		err = s.add(name, -1, f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", filepath.Join(dir, name), err)
		}
	}
	return s, nil
}

// LoadStream reads a stream (plain or zstd) to its end.
func LoadStream(r io.Reader, opts LoadOptions) (*Set, error) {
	sr, err := image.NewStreamReader(r)
	if err != nil {
		return nil, err
	}
	defer sr.Close()
	s := &Set{Set: image.NewSet("stream"), Files: map[string]*File{}, opts: opts}
	for {
		sf, err := sr.Next()
		if err == io.EOF {
			return s, nil
		}
		if err != nil {
			return nil, err
		}
		if err := s.add(sf.Name, sf.Size, sf); err != nil {
			return nil, err
		}
	}
}

// Load reads a set from dir, which may also name a stream file, or from
// the stream r when dir is empty.
func Load(dir string, r io.Reader, opts LoadOptions) (*Set, error) {
	if dir != "" {
		if st, err := os.Stat(dir); err == nil && !st.IsDir() {
			f, err := os.Open(dir)
			if err != nil {
				return nil, err
			}
			defer f.Close()
			s, err := LoadStream(f, opts)
			if s != nil {
				s.Source = dir
			}
			return s, err
		}
		return LoadDir(dir, opts)
	}
	return LoadStream(r, opts)
}
