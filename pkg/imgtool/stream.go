package imgtool

import (
	"fmt"
	"io"

	"github.com/criugo/criugo/pkg/image"
)

// Recompress copies the stream r to w member by member, zstd-compressed
// when compress is set, plain otherwise. A compressed input is detected
// and decompressed on the fly.
func Recompress(r io.Reader, w io.Writer, compress bool) error {
	sr, err := image.NewStreamReader(r)
	if err != nil {
		return err
	}
	defer sr.Close()
	sw, err := image.NewStreamWriter(w, compress)
	if err != nil {
		return err
	}
	for {
		sf, err := sr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		if err := sw.AddFile(sf.Name, sf.Size, sf); err != nil {
			return fmt.Errorf("copy %s: %w", sf.Name, err)
		}
	}
	return sw.Close()
}
