package restore

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"testing/iotest"
)

// TestSpoolReader reads part of a stream, drains the rest into the spool
// and reads it back from there, whole and in order.
func TestSpoolReader(t *testing.T) {
	data := make([]byte, 3*spoolChunk+12345)
	for i := range data {
		data[i] = byte(i * 7)
	}
	src := &countingReader{r: iotest.HalfReader(bytes.NewReader(data))}
	s := &spoolReader{src: src}
	defer s.close()
	head := make([]byte, 1000)
	if _, err := io.ReadFull(s, head); err != nil {
		t.Fatal(err)
	}
	if err := s.drain(); err != nil {
		t.Fatal(err)
	}
	if src.n != len(data) {
		t.Fatalf("drain read %d bytes of the stream, want all %d", src.n, len(data))
	}
	if err := s.drain(); err != nil {
		t.Fatalf("second drain: %v", err)
	}
	rest, err := io.ReadAll(s)
	if err != nil {
		t.Fatal(err)
	}
	if got := append(head, rest...); !bytes.Equal(got, data) {
		t.Fatalf("read back %d bytes that differ from the %d of the stream", len(got), len(data))
	}
	if err := s.close(); err != nil {
		t.Fatal(err)
	}
}

func TestSpoolReaderError(t *testing.T) {
	boom := errors.New("boom")
	s := &spoolReader{src: io.MultiReader(bytes.NewReader(make([]byte, 5000)), iotest.ErrReader(boom))}
	if err := s.drain(); !errors.Is(err, boom) {
		t.Fatalf("drain of a failing stream: %v, want boom", err)
	}
	if s.f != nil {
		t.Error("a failed drain left a spool")
	}
}

type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

// TestSpoolReaderFiles drains a pipe (with splice) and a regular file
// (with reads, splice refuses it), after part was read the usual way.
func TestSpoolReaderFiles(t *testing.T) {
	data := make([]byte, 2*spoolChunk+777)
	for i := range data {
		data[i] = byte(i * 13)
	}
	for _, kind := range []string{"pipe", "file"} {
		t.Run(kind, func(t *testing.T) {
			var src *os.File
			if kind == "pipe" {
				r, w, err := os.Pipe()
				if err != nil {
					t.Fatal(err)
				}
				go func() {
					w.Write(data)
					w.Close()
				}()
				src = r
			} else {
				p := filepath.Join(t.TempDir(), "ckpt.tar")
				if err := os.WriteFile(p, data, 0o600); err != nil {
					t.Fatal(err)
				}
				f, err := os.Open(p)
				if err != nil {
					t.Fatal(err)
				}
				src = f
			}
			defer src.Close()
			s := &spoolReader{src: src}
			defer s.close()
			head := make([]byte, 4096)
			if _, err := io.ReadFull(s, head); err != nil {
				t.Fatal(err)
			}
			if err := s.drain(); err != nil {
				t.Fatal(err)
			}
			rest, err := io.ReadAll(s)
			if err != nil {
				t.Fatal(err)
			}
			if got := append(head, rest...); !bytes.Equal(got, data) {
				t.Fatalf("read back %d bytes that differ from the %d written", len(got), len(data))
			}
		})
	}
}
