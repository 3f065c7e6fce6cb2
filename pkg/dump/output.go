package dump

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/proto"

	"github.com/criugo/criugo/pkg/image"
)

// sink receives the image files of a dump in stream order.
type sink interface {
	// add writes one whole file.
	add(name string, data []byte) error
	// addPages writes a pages file, reading the memory as it goes.
	addPages(name string, src pageSource) error
	// finish makes everything written durable: files and directory
	// synced, or the stream ended and flushed.
	finish() error
	// abort undoes what was written, where that is possible.
	abort()
}

// pageSource produces the contents of one pages image.
type pageSource interface {
	// size is the number of bytes the image holds.
	size() int64
	// reader reads the contents in order.
	reader() io.Reader
	// writeTo fills f, which is size bytes long or empty, possibly in
	// parallel with WriteAt.
	writeTo(f *os.File) error
}

// dirSink writes image files into a directory: created with O_EXCL and
// O_NOFOLLOW, mode 0600. Nothing is synced file by file (a sync per small
// image cost more than writing it on a disk): finish syncs the file
// system the directory is on once (syncfs), then the directory. Files
// may be written from several goroutines at once.
type dirSink struct {
	dir     string
	mu      sync.Mutex
	written []string
	created bool // mkdir made dir: abort removes it
}

func newDirSink(dir string) *dirSink { return &dirSink{dir: dir} }

// mkdir creates the directory (one level, mode 0700) when it is missing,
// as criu-seize does for its -D.
func (d *dirSink) mkdir() error {
	err := os.Mkdir(d.dir, 0o700)
	switch {
	case err == nil:
		d.created = true
	case !errors.Is(err, os.ErrExist):
		return fmt.Errorf("create image directory: %w", err)
	}
	return nil
}

func (d *dirSink) create(name string) (*os.File, error) {
	f, err := image.CreateFile(d.dir, name)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	d.written = append(d.written, filepath.Join(d.dir, name))
	d.mu.Unlock()
	return f, nil
}

func (d *dirSink) add(name string, data []byte) error {
	return d.write(name, func(f *os.File) error {
		_, err := f.Write(data)
		return err
	})
}

func (d *dirSink) addPages(name string, src pageSource) error {
	return d.write(name, src.writeTo)
}

func (d *dirSink) write(name string, fill func(f *os.File) error) error {
	f, err := d.create(name)
	if err != nil {
		return err
	}
	err = fill(f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	var pe *fs.PathError
	if errors.As(err, &pe) && pe.Path == f.Name() {
		return err // it names the file already
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", f.Name(), err)
	}
	return nil
}

func (d *dirSink) finish() error {
	f, err := os.Open(d.dir)
	if err != nil {
		return fmt.Errorf("sync image directory: %w", err)
	}
	defer f.Close()
	if err := unix.Syncfs(int(f.Fd())); err != nil {
		return fmt.Errorf("sync the file system of image directory %s: %w", d.dir, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync image directory %s: %w", d.dir, err)
	}
	return nil
}

// abort deletes what a failed dump wrote, so that the directory holds no
// half image set.
func (d *dirSink) abort() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, p := range d.written {
		os.Remove(p)
	}
	d.written = nil
	if d.created {
		os.Remove(d.dir)
	}
}

// streamSink writes image files as a tar stream (pkg/image's stream
// format) to w.
type streamSink struct {
	bw *bufio.Writer
	sw *image.StreamWriter
}

func newStreamSink(w io.Writer) (*streamSink, error) {
	growPipe(w)
	bw := bufio.NewWriterSize(w, 1<<20)
	sw, err := image.NewStreamWriter(bw, false)
	if err != nil {
		return nil, err
	}
	return &streamSink{bw: bw, sw: sw}, nil
}

func (s *streamSink) add(name string, data []byte) error { return s.sw.AddBytes(name, data) }

func (s *streamSink) addPages(name string, src pageSource) error {
	r := src.reader()
	err := s.sw.AddFile(name, src.size(), r)
	if c, ok := r.(io.Closer); ok {
		c.Close()
	}
	return err
}

func (s *streamSink) finish() error {
	if err := s.sw.Close(); err != nil {
		return err
	}
	if err := s.bw.Flush(); err != nil {
		return fmt.Errorf("flush image stream: %w", err)
	}
	return nil
}

// abort leaves the stream cut: a reader sees a truncated archive, which it
// reports, rather than a complete one.
func (s *streamSink) abort() {}

// encodeImage frames entries as one image file of kind k.
func encodeImage(k *image.Kind, entries ...image.Entry) ([]byte, error) {
	var b bytes.Buffer
	w, err := image.NewWriter(&b, k)
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		if err := w.Write(e); err != nil {
			return nil, err
		}
	}
	return b.Bytes(), nil
}

// msgs wraps messages as payload-less entries.
func msgs[M proto.Message](ms ...M) []image.Entry {
	out := make([]image.Entry, len(ms))
	for i, m := range ms {
		out[i] = image.Entry{Msg: m}
	}
	return out
}
