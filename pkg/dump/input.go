package dump

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/criugo/criugo/images"
	"github.com/criugo/criugo/pkg/image"
	"github.com/criugo/criugo/pkg/seize"
)

// maxSeizeFile bounds an image of the seize stream: a pstree entry is a
// few dozen bytes per task and thread.
const maxSeizeFile = 64 << 20

// seizeInput is what criu-seize handed over: the images that start the
// image set, kept as written, and the freeze record.
type seizeInput struct {
	inventory []byte
	inv       *images.InventoryEntry
	pstreeImg []byte
	pstree    []*images.PstreeEntry
	rec       *images.CriugoFreezeEntry
}

// hasRecord reports whether dir holds a freeze record, which makes it the
// input of the dump.
func hasRecord(dir string) bool {
	st, err := os.Lstat(filepath.Join(dir, seize.FreezeFile))
	return err == nil && st.Mode().IsRegular()
}

// readSeizeDir reads inventory.img, pstree.img and freeze.img from dir.
func readSeizeDir(dir string) (*seizeInput, error) {
	in := &seizeInput{}
	rec, err := seize.ReadRecordDir(dir)
	if err != nil {
		return nil, fmt.Errorf("read seize images in %s: %w: %w", dir, ErrBadInput, err)
	}
	in.rec = rec
	for _, name := range []string{"inventory.img", "pstree.img"} {
		f, err := image.OpenFile(dir, name)
		if err != nil {
			return in, fmt.Errorf("read seize images: %w: %w", ErrBadInput, err)
		}
		data, err := readBounded(f, name)
		f.Close()
		if err != nil {
			return in, err
		}
		if err := in.set(name, data); err != nil {
			return in, err
		}
	}
	return in, in.check()
}

// readSeizeStream reads the seize stream: inventory.img, pstree.img and
// freeze.img, in any order. The returned input holds the freeze record
// whenever it was read, even with an error, so the caller can thaw.
func readSeizeStream(r io.Reader) (*seizeInput, error) {
	in := &seizeInput{}
	sr, err := image.NewStreamReader(r)
	if err != nil {
		return in, fmt.Errorf("read seize stream: %w: %w", ErrBadInput, err)
	}
	defer sr.Close()
	for {
		f, err := sr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return in, fmt.Errorf("read seize stream: %w: %w", ErrBadInput, err)
		}
		data, err := readBounded(f, f.Name)
		if err != nil {
			return in, err
		}
		if f.Name == seize.FreezeFile {
			rec, err := seize.ReadRecord(bytes.NewReader(data))
			if err != nil {
				return in, fmt.Errorf("read seize stream: %w: %w", ErrBadInput, err)
			}
			in.rec = rec
			continue
		}
		if err := in.set(f.Name, data); err != nil {
			return in, err
		}
	}
	return in, in.check()
}

func readBounded(r io.Reader, name string) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxSeizeFile+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w: %w", name, ErrBadInput, err)
	}
	if len(data) > maxSeizeFile {
		return nil, fmt.Errorf("read %s: over %d bytes: %w: %w", name, maxSeizeFile, ErrBadInput, image.ErrTooLarge)
	}
	return data, nil
}

// set decodes one image of the seize stream.
func (in *seizeInput) set(name string, data []byte) error {
	switch name {
	case "inventory.img":
		img, err := image.ReadImage(bytes.NewReader(data), name)
		if err != nil {
			return fmt.Errorf("read seize images: %w: %w", ErrBadInput, err)
		}
		if len(img.Entries) != 1 {
			return fmt.Errorf("read %s: %d entries, want 1: %w", name, len(img.Entries), ErrBadInput)
		}
		in.inventory, in.inv = data, img.Entries[0].Msg.(*images.InventoryEntry)
	case "pstree.img":
		img, err := image.ReadImage(bytes.NewReader(data), name)
		if err != nil {
			return fmt.Errorf("read seize images: %w: %w", ErrBadInput, err)
		}
		in.pstreeImg, in.pstree = data, nil
		for _, e := range img.Entries {
			in.pstree = append(in.pstree, e.Msg.(*images.PstreeEntry))
		}
	default:
		return fmt.Errorf("read seize stream: unexpected file %s: %w", name, ErrBadInput)
	}
	return nil
}

// check verifies that the three parts are there and agree: one freeze
// task per pstree entry, same pids, same order.
func (in *seizeInput) check() error {
	var missing []string
	if in.rec == nil {
		missing = append(missing, seize.FreezeFile)
	}
	if in.inv == nil {
		missing = append(missing, "inventory.img")
	}
	if in.pstree == nil {
		missing = append(missing, "pstree.img")
	}
	if len(missing) > 0 {
		return fmt.Errorf("read seize input: missing %v: %w", missing, ErrBadInput)
	}
	tasks := in.rec.GetTasks()
	if len(tasks) != len(in.pstree) || len(tasks) == 0 {
		return fmt.Errorf("read seize input: %d pstree entries, %d frozen tasks: %w", len(in.pstree), len(tasks), ErrBadInput)
	}
	for i, t := range tasks {
		p := in.pstree[i]
		if t.GetNsPid() != p.GetPid() {
			return fmt.Errorf("read seize input: pstree entry %d is pid %d, freeze record says %d: %w", i, p.GetPid(), t.GetNsPid(), ErrBadInput)
		}
		if t.GetState() != images.CriugoTaskState_CRIUGO_TASK_ZOMBIE && len(t.GetThreads()) != len(p.GetThreads()) {
			return fmt.Errorf("read seize input: pid %d has %d threads in pstree.img, %d in the freeze record: %w",
				p.GetPid(), len(p.GetThreads()), len(t.GetThreads()), ErrBadInput)
		}
	}
	return nil
}

// errNoInput says where the dump looked for its input.
var errNoInput = errors.New("no seize input: give the stream on stdin or a directory holding freeze.img")
