package seize

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"google.golang.org/protobuf/proto"

	"github.com/criugo/criugo/images"
	"github.com/criugo/criugo/pkg/image"
)

// Result is a frozen tree and the images that describe it.
type Result struct {
	Tree      *Tree
	Inventory *images.InventoryEntry
	Pstree    []*images.PstreeEntry
	Record    *images.CriugoFreezeEntry
}

// newResult builds the images of a frozen tree.
func newResult(tree *Tree, method images.CriugoFreezeMethod, cgroup string, wasFrozen bool) (*Result, error) {
	runID, err := NewRunID()
	if err != nil {
		return nil, err
	}
	return &Result{
		Tree:      tree,
		Inventory: Inventory(runID),
		Pstree:    tree.PstreeEntries(),
		Record:    tree.Record(method, cgroup, wasFrozen, runID),
	}, nil
}

// file is one encoded image file.
type file struct {
	name string
	data []byte
}

// files encodes the result's images in stream order: freeze.img first, so
// that a stream cut anywhere after it still tells the next stage how to
// undo the freeze, then inventory.img and pstree.img.
func (r *Result) files() ([]file, error) {
	inv, err := encode(image.Inventory, r.Inventory)
	if err != nil {
		return nil, err
	}
	pst := make([]proto.Message, len(r.Pstree))
	for i, e := range r.Pstree {
		pst[i] = e
	}
	tree, err := encode(image.Pstree, pst...)
	if err != nil {
		return nil, err
	}
	rec, err := marshalRecord(r.Record)
	if err != nil {
		return nil, err
	}
	return []file{
		{FreezeFile, rec},
		{image.Inventory.Pattern, inv},
		{image.Pstree.Pattern, tree},
	}, nil
}

// encode frames msgs as one image file of kind k.
func encode(k *image.Kind, msgs ...proto.Message) ([]byte, error) {
	var b bytes.Buffer
	w, err := image.NewWriter(&b, k)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", k.Pattern, err)
	}
	for _, m := range msgs {
		if err := w.WriteMessage(m); err != nil {
			return nil, fmt.Errorf("encode %s: %w", k.Pattern, err)
		}
	}
	return b.Bytes(), nil
}

// WriteStream writes the images to w as a stream (a tar archive). The
// archive is built in memory and written at once: it is small, and a
// reader that has started on it can rely on the tree being held already.
func (r *Result) WriteStream(w io.Writer) error {
	files, err := r.files()
	if err != nil {
		return err
	}
	var b bytes.Buffer
	sw, err := image.NewStreamWriter(&b, false)
	if err != nil {
		return fmt.Errorf("write stream: %w", err)
	}
	for _, f := range files {
		if err := sw.AddBytes(f.name, f.data); err != nil {
			return fmt.Errorf("write stream: %w", err)
		}
	}
	if err := sw.Close(); err != nil {
		return fmt.Errorf("write stream: %w", err)
	}
	if _, err := w.Write(b.Bytes()); err != nil {
		return fmt.Errorf("write stream: %w", err)
	}
	return nil
}

// WriteDir writes the images as files of dir, creating dir (one level,
// mode 0700) if it does not exist. No existing file is replaced; on
// failure the files it created are removed.
func (r *Result) WriteDir(dir string) (err error) {
	files, err := r.files()
	if err != nil {
		return err
	}
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("write images to %s: %w", dir, err)
	}
	var created []string
	defer func() {
		if err != nil {
			for _, p := range created {
				os.Remove(p)
			}
		}
	}()
	for _, f := range files {
		fh, err := image.CreateFile(dir, f.name)
		if err != nil {
			return fmt.Errorf("write %s: %w", f.name, err)
		}
		created = append(created, filepath.Join(dir, f.name))
		_, err = fh.Write(f.data)
		if err == nil {
			err = fh.Sync()
		}
		if cerr := fh.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("write %s: %w", filepath.Join(dir, f.name), err)
		}
	}
	return nil
}

// ReadRecordDir reads the freeze record of the image directory dir.
func ReadRecordDir(dir string) (*images.CriugoFreezeEntry, error) {
	f, err := image.OpenFile(dir, FreezeFile)
	if err != nil {
		return nil, fmt.Errorf("read freeze record: %w: %w", ErrBadRecord, err)
	}
	defer f.Close()
	return ReadRecord(f)
}

// ReadRecordStream reads a stream up to its freeze.img and returns the
// record in it. The members before it are skipped.
func ReadRecordStream(r io.Reader) (*images.CriugoFreezeEntry, error) {
	sr, err := image.NewStreamReader(r)
	if err != nil {
		return nil, fmt.Errorf("read freeze record: %w", err)
	}
	defer sr.Close()
	for {
		f, err := sr.Next()
		if err == io.EOF {
			return nil, fmt.Errorf("read freeze record: no %s in the stream: %w", FreezeFile, ErrBadRecord)
		}
		if err != nil {
			return nil, fmt.Errorf("read freeze record: %w", err)
		}
		if f.Name == FreezeFile {
			return ReadRecord(f)
		}
		if _, err := io.Copy(io.Discard, f); err != nil {
			return nil, fmt.Errorf("read freeze record: %w", err)
		}
	}
}
