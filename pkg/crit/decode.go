package crit

import (
	"fmt"
	"io"

	"github.com/criugo/criugo/pkg/image"
)

// DecodeImage reads one image file from r and writes crit's JSON for it to
// w, without a final newline (crit adds one only on stdout). name is the
// file name, used in errors and checked against the magic when it is one of
// CRIU's names.
func DecodeImage(w io.Writer, r io.Reader, name string, pretty, noPayload bool) error {
	img, err := image.ReadImage(r, name)
	if err != nil {
		return err
	}
	n, err := ImageToNode(img, pretty, noPayload)
	if err != nil {
		return fmt.Errorf("decode %s: %w", displayName(name), err)
	}
	return WriteJSON(w, n, pretty)
}

func displayName(name string) string {
	if name == "" {
		return "image"
	}
	return name
}
