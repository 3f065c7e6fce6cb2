package crit

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/criugo/criugo/pkg/image"
)

// DecodeOptions says what Decode converts and where the JSON goes.
type DecodeOptions struct {
	// In is the image file to decode; "" reads Stdin.
	In string
	// Dir, when set, decodes every image of that directory instead (raw
	// images, which have no JSON form, are left out).
	Dir string
	// Out is the JSON file to write (for Dir: a directory, created if
	// needed, that gets one <image>.json per image); "" writes to Stdout.
	Out string
	// Pretty selects crit's --pretty: indented, numbers in their
	// field-specific forms.
	Pretty bool
	// NoPayload replaces payloads by their size (crit show --nopl).
	NoPayload bool

	Stdin  io.Reader
	Stdout io.Writer
}

// Decode converts images to crit's JSON (crit decode, crit show). Input
// that is a stream (a tar of image files, maybe zstd-compressed) decodes as
// a whole set, like Dir.
//
// Like crit, a single image written to Stdout is followed by a newline and
// one written to a file is not. A whole set (Dir) written to Stdout is one
// JSON object mapping each file name to its image's JSON; written to a
// directory, each <image>.json holds exactly what decode prints to Stdout
// for that image.
func Decode(o DecodeOptions) error {
	if o.Dir != "" {
		return decodeDir(o)
	}
	var r io.Reader = o.Stdin
	name := "stdin"
	if o.In != "" {
		f, err := os.Open(o.In)
		if err != nil {
			return fmt.Errorf("decode: %w", err)
		}
		defer f.Close()
		r, name = f, o.In
	}
	br := bufio.NewReaderSize(r, 64<<10)
	if isStream(br) {
		return decodeStream(br, name, o)
	}
	img, err := image.ReadImage(br, name)
	if err != nil {
		return err
	}
	n, err := ImageToNode(img, o.Pretty, o.NoPayload)
	if err != nil {
		return fmt.Errorf("decode %s: %w", name, err)
	}
	if o.Out == "" {
		return writeJSONTo(o.Stdout, n, o.Pretty, true)
	}
	return writeJSONFile(o.Out, n, o.Pretty, false)
}

func writeJSONTo(w io.Writer, n *Node, pretty, newline bool) error {
	var buf bytes.Buffer
	if err := WriteJSON(&buf, n, pretty); err != nil {
		return err
	}
	if newline {
		buf.WriteByte('\n')
	}
	if _, err := w.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("write JSON: %w", err)
	}
	return nil
}

// writeJSONFile writes n to file name, replacing it: a JSON file is the
// user's text, not an image, and crit overwrites it too.
func writeJSONFile(name string, n *Node, pretty, newline bool) error {
	var buf bytes.Buffer
	if err := WriteJSON(&buf, n, pretty); err != nil {
		return err
	}
	if newline {
		buf.WriteByte('\n')
	}
	if err := os.WriteFile(name, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("write JSON: %w", err)
	}
	return nil
}

func decodeDir(o DecodeOptions) error {
	names, err := image.ListDir(o.Dir)
	if err != nil {
		return fmt.Errorf("decode: %w", err)
	}
	set := NewObject()
	for _, name := range names {
		if image.KindForFile(name).Raw() {
			continue
		}
		img, err := image.ReadFile(o.Dir, name)
		if err != nil {
			return fmt.Errorf("decode %s: %w", o.Dir, err)
		}
		n, err := ImageToNode(img, o.Pretty, o.NoPayload)
		if err != nil {
			return fmt.Errorf("decode %s: %w", filepath.Join(o.Dir, name), err)
		}
		set.Set(name, n)
	}
	return writeSet(set, o)
}

// isStream tells a stream (a tar archive of images, maybe zstd-compressed)
// from a single image by its first bytes: the zstd frame magic, or tar's
// "ustar" at offset 257 in a file that does not open with an image header
// (whose entries could hold any bytes at that offset).
func isStream(br *bufio.Reader) bool {
	head, _ := br.Peek(4)
	if bytes.Equal(head, []byte{0x28, 0xb5, 0x2f, 0xfd}) {
		return true
	}
	if len(head) == 4 {
		switch binary.LittleEndian.Uint32(head) {
		case image.ImgCommonMagic, image.ImgServiceMagic, image.Inventory.Magic:
			return false
		}
	}
	head, _ = br.Peek(262)
	return len(head) == 262 && string(head[257:262]) == "ustar"
}

// decodeStream decodes every image of a stream, in stream order, leaving out
// raw images and members that are no image files.
func decodeStream(r io.Reader, name string, o DecodeOptions) error {
	sr, err := image.NewStreamReader(r)
	if err != nil {
		return fmt.Errorf("decode %s: %w", name, err)
	}
	defer sr.Close()
	set := NewObject()
	for {
		f, err := sr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("decode %s: %w", name, err)
		}
		if k := image.KindForFile(f.Name); k == nil || k.Raw() {
			continue
		}
		if set.Get(f.Name) != nil {
			return fmt.Errorf("decode %s: member %s appears twice", name, f.Name)
		}
		img, err := image.ReadImage(f, f.Name)
		if err != nil {
			return fmt.Errorf("decode %s: %w", name, err)
		}
		n, err := ImageToNode(img, o.Pretty, o.NoPayload)
		if err != nil {
			return fmt.Errorf("decode %s: %s: %w", name, f.Name, err)
		}
		set.Set(f.Name, n)
	}
	return writeSet(set, o)
}

// writeSet writes the decoded images of a set: one object on Stdout, or one
// file per image in directory o.Out.
func writeSet(set *Node, o DecodeOptions) error {
	if o.Out == "" {
		return writeJSONTo(o.Stdout, set, o.Pretty, true)
	}
	if err := os.MkdirAll(o.Out, 0o755); err != nil {
		return fmt.Errorf("decode: %w", err)
	}
	for i, name := range set.Keys {
		if err := writeJSONFile(filepath.Join(o.Out, name+".json"), set.Vals[i], o.Pretty, true); err != nil {
			return err
		}
	}
	return nil
}

// EncodeOptions says what Encode converts and where the image goes.
type EncodeOptions struct {
	// In is the JSON file to encode; "" reads Stdin.
	In string
	// Out is the image file to create; "" writes to Stdout. An existing
	// file is not replaced: image files are created new, mode 0600.
	Out string

	Stdin  io.Reader
	Stdout io.Writer
}

// maxJSONInput bounds the JSON text Encode reads. crit's JSON for CRIU's
// largest images (a pagemap of a huge task, a socket queue in base64) stays
// far below it.
const maxJSONInput = 1 << 30

// Encode converts crit's JSON to an image (crit encode). Nothing is written
// unless the whole image converts.
func Encode(o EncodeOptions) error {
	var r io.Reader = o.Stdin
	name := "stdin"
	if o.In != "" {
		f, err := os.Open(o.In)
		if err != nil {
			return fmt.Errorf("encode: %w", err)
		}
		defer f.Close()
		r, name = f, o.In
	}
	data, err := io.ReadAll(io.LimitReader(r, maxJSONInput+1))
	if err != nil {
		return fmt.Errorf("encode %s: %w", name, err)
	}
	if len(data) > maxJSONInput {
		return fmt.Errorf("encode %s: JSON larger than %d bytes: %w", name, maxJSONInput, image.ErrTooLarge)
	}
	out, err := EncodeJSON(data)
	if err != nil {
		return fmt.Errorf("encode %s: %w", name, err)
	}
	if o.Out == "" {
		if _, err := o.Stdout.Write(out); err != nil {
			return fmt.Errorf("encode %s: write image: %w", name, err)
		}
		return nil
	}
	f, err := os.OpenFile(o.Out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("encode %s: %w", name, err)
	}
	if _, err := f.Write(out); err != nil {
		f.Close()
		os.Remove(o.Out)
		return fmt.Errorf("encode %s: write %s: %w", name, o.Out, err)
	}
	if err := f.Close(); err != nil {
		os.Remove(o.Out)
		return fmt.Errorf("encode %s: write %s: %w", name, o.Out, err)
	}
	return nil
}

// InfoOptions says which image Info describes.
type InfoOptions struct {
	In     string // image file; "" reads Stdin
	Stdin  io.Reader
	Stdout io.Writer
}

// Info prints an image's magic and entry count as crit info does:
//
//	{
//	    "magic": "CORE",
//	    "count": 1
//	}
//
// As in crit, a PAGEMAP's head entry is not counted.
func Info(o InfoOptions) error {
	var r io.Reader = o.Stdin
	name := "stdin"
	if o.In != "" {
		f, err := os.Open(o.In)
		if err != nil {
			return fmt.Errorf("info: %w", err)
		}
		defer f.Close()
		r, name = f, o.In
	}
	rd, err := image.NewReader(bufio.NewReaderSize(r, 64<<10), name)
	if err != nil {
		return err
	}
	count := 0
	for {
		_, err := rd.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		count++
	}
	if rd.Kind().Head != "" && rd.Kind().Name == "PAGEMAP" && count > 0 {
		count--
	}
	n := NewObject()
	n.Set("magic", NewString(rd.Kind().Name))
	n.Set("count", NewInt(int64(count)))
	return writeJSONTo(o.Stdout, n, true, true)
}

// ExploreOptions says which set Explore reports on.
type ExploreOptions struct {
	Dir    string // image directory
	What   string // "ps", "fds", "mems" or "rss"
	Stdout io.Writer
}

// ExploreDir runs one of crit x's reports on an image directory.
func ExploreDir(o ExploreOptions) error {
	return Explore(o.Stdout, DirSource(o.Dir), o.What)
}
