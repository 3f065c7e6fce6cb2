package image

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/criugo/criugo/internal/testutil"
)

// fuzzSeedFiles are fixture images covering every payload layout.
var fuzzSeedFiles = []string{
	"criu-4.2/images/loop/inventory.img",
	"criu-4.2/images/loop/core-16226.img",
	"criu-4.2/images/loop/pagemap-16226.img",
	"criu-4.2/images/loop/stats-dump",
	"criu-4.2/images/state/pipes-data.img",
	"criu-4.2/images/state/mm-16227.img",
	"criu-4.2-zoo/images/socket_queues/sk-queues.img",
	"criu-4.2-zoo/images/socket-tcp6/tcp-stream-19679a.img",
	"criu-4.2-zoo/images/unlink_fstat00/ghost-file-1.img",
	"criu-4.2-zoo/images/msgque/ipcns-msg-9.img",
	"criu-4.2-zoo/images/sem/ipcns-sem-9.img",
	"criu-4.2-zoo/images/ns_shm/ipcns-shm-11.img",
	"criu-4.2-zoo/images/fifo/fifo-data.img",
}

// FuzzReadImage feeds arbitrary bytes to the image reader. It must never
// panic, and whatever it accepts must encode again, and encode the same
// way after another decode.
func FuzzReadImage(f *testing.F) {
	if dir, ok := testutil.LookupFixturesDir(); ok {
		for _, p := range fuzzSeedFiles {
			if b, err := os.ReadFile(filepath.Join(dir, p)); err == nil {
				f.Add(b)
			}
		}
	}
	f.Add(le32(ImgCommonMagic, Core.Magic, 0xffffffff))
	f.Add(le32(Inventory.Magic))
	f.Fuzz(func(t *testing.T, data []byte) {
		img, err := ReadImage(bytes.NewReader(data), "")
		if err != nil {
			return
		}
		var once bytes.Buffer
		if err := WriteImage(&once, img); err != nil {
			t.Fatalf("accepted image does not encode: %v", err)
		}
		again, err := ReadImage(bytes.NewReader(once.Bytes()), "")
		if err != nil {
			t.Fatalf("re-encoded image does not decode: %v", err)
		}
		var twice bytes.Buffer
		if err := WriteImage(&twice, again); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(once.Bytes(), twice.Bytes()) {
			t.Fatal("encoding is not stable across a decode")
		}
	})
}

// FuzzStreamReader feeds arbitrary bytes to the stream reader, plain and
// zstd. It must never panic; whatever it reads to the end must pack again
// into a stream that reads back the same members.
func FuzzStreamReader(f *testing.F) {
	for _, compress := range []bool{false, true} {
		var b bytes.Buffer
		sw, err := NewStreamWriter(&b, compress)
		if err != nil {
			f.Fatal(err)
		}
		sw.AddBytes("inventory.img", le32(Inventory.Magic))
		sw.AddBytes("pages-1.img", bytes.Repeat([]byte{0x5a}, 700))
		if err := sw.Close(); err != nil {
			f.Fatal(err)
		}
		f.Add(b.Bytes())
	}
	// Archives as tar and Podman make them: ./ names, a directory prefix,
	// directory entries and files that are no images.
	for _, prefix := range []string{"./", "checkpoint/", "./checkpoint/"} {
		var b bytes.Buffer
		tw := tar.NewWriter(&b)
		tw.WriteHeader(&tar.Header{Name: strings.TrimSuffix(prefix, "checkpoint/") + "config.dump", Typeflag: tar.TypeReg, Size: 2, Mode: 0o600})
		tw.Write([]byte("{}"))
		tw.WriteHeader(&tar.Header{Name: prefix, Typeflag: tar.TypeDir, Mode: 0o700})
		tw.WriteHeader(&tar.Header{Name: prefix + "inventory.img", Typeflag: tar.TypeReg, Size: 4, Mode: 0o600})
		tw.Write(le32(Inventory.Magic))
		if err := tw.Close(); err != nil {
			f.Fatal(err)
		}
		f.Add(b.Bytes())
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		members, err := readMembers(bytes.NewReader(data))
		if errors.Is(err, errShortMember) {
			t.Fatal(err)
		}
		if err != nil {
			return
		}
		// Whatever the archive's names, the reader hands out image files
		// of one flat directory, each once.
		seen := map[string]bool{}
		for _, m := range members {
			if CheckName(m.name) != nil || KindForFile(m.name) == nil || seen[m.name] {
				t.Fatalf("member %q handed out (seen before: %v)", m.name, seen[m.name])
			}
			seen[m.name] = true
		}
		var b bytes.Buffer
		sw, err := NewStreamWriter(&b, false)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range members {
			if err := sw.AddBytes(m.name, m.data); err != nil {
				t.Fatalf("member read from a stream does not pack: %v", err)
			}
		}
		if err := sw.Close(); err != nil {
			t.Fatal(err)
		}
		again, err := readMembers(bytes.NewReader(b.Bytes()))
		if err != nil || len(again) != len(members) {
			t.Fatalf("repacked stream: %d members, %v", len(again), err)
		}
		for i := range again {
			if again[i].name != members[i].name || !bytes.Equal(again[i].data, members[i].data) {
				t.Fatalf("member %d changed on repack", i)
			}
		}
	})
}

// errShortMember marks a reader bug, not bad input: the fuzz target fails on it.
var errShortMember = errors.New("short member")

type member struct {
	name string
	data []byte
}

// readMembers reads a whole stream into memory; the fuzz inputs are small.
func readMembers(r *bytes.Reader) ([]member, error) {
	sr, err := NewStreamReader(r)
	if err != nil {
		return nil, err
	}
	defer sr.Close()
	var ms []member
	for {
		f, err := sr.Next()
		if err != nil {
			if err == io.EOF {
				return ms, nil
			}
			return nil, err
		}
		var b bytes.Buffer
		if _, err := b.ReadFrom(f); err != nil {
			return nil, err
		}
		if int64(b.Len()) != f.Size {
			return nil, fmt.Errorf("member %s: read %d bytes of %d without error: %w", f.Name, b.Len(), f.Size, errShortMember)
		}
		ms = append(ms, member{f.Name, b.Bytes()})
	}
}
