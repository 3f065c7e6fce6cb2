package restore

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/criugo/criugo/pkg/image"
)

// memPages holds pages files read from a stream.
type memPages map[uint64][]byte

func (m memPages) open(id uint64) (io.ReadCloser, error) {
	b, ok := m[id]
	if !ok {
		return nil, fmt.Errorf("open %s: not in the stream: %w", pagesName(id), ErrBadImage)
	}
	return io.NopCloser(bytes.NewReader(b)), nil
}

// restoreStream restores from an image stream.
func (r *restorer) restoreStream(src io.Reader) (*Result, error) {
	sr, err := image.NewStreamReader(src)
	if err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	defer sr.Close()
	r.set = newStreamSet()
	pages := memPages{}
	r.pages = pages
	for {
		f, err := sr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("restore: %w", err)
		}
		k := image.KindForFile(f.Name)
		switch {
		case k == image.Pages:
			id, _ := k.FileID(f.Name)
			n, err := strconv.ParseUint(id, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("restore: stream member %s: %w", f.Name, image.ErrBadName)
			}
			b, err := io.ReadAll(f)
			if err != nil {
				return nil, fmt.Errorf("restore: %w", err)
			}
			pages[n] = b
		case k == nil || k.Raw():
			// Not an image restore reads (stats, or an unknown file).
			if _, err := io.Copy(io.Discard, f); err != nil {
				return nil, fmt.Errorf("restore: %w", err)
			}
		default:
			if err := r.set.add(f.Name, f); err != nil {
				return nil, fmt.Errorf("restore: %w", err)
			}
		}
	}
	return r.run()
}
