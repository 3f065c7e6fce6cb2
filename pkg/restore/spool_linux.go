package restore

import (
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// spoolReader reads from src until drain takes the rest of src into a
// memfd; from then on reads come from there. A memfd rather than the Go
// heap: the rest of a stream is mostly pages (a GiB for a GiB process),
// which as one growing slice would be copied at each growth, cleared, and
// scanned by the collector, and come back slower than from a file.
type spoolReader struct {
	src io.Reader
	f   *os.File // the rest of the stream, once drained
}

func (s *spoolReader) Read(p []byte) (int, error) {
	if s.f != nil {
		return s.f.Read(p)
	}
	return s.src.Read(p)
}

// spoolChunk is the size of one read from the stream while draining.
const spoolChunk = 1 << 20

func (s *spoolReader) drain() error {
	if s.f != nil {
		return nil
	}
	fd, err := unix.MemfdCreate("criu-restore-spool", unix.MFD_CLOEXEC)
	if err != nil {
		return fmt.Errorf("spool the rest of the stream: %w", err)
	}
	f := os.NewFile(uintptr(fd), "stream spool")
	buf := make([]byte, spoolChunk)
	for {
		n, rerr := s.src.Read(buf)
		if n > 0 {
			if _, err := f.Write(buf[:n]); err != nil {
				f.Close()
				return fmt.Errorf("spool the rest of the stream: %w", err)
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			f.Close()
			return fmt.Errorf("read the rest of the stream: %w", rerr)
		}
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		f.Close()
		return fmt.Errorf("spool the rest of the stream: %w", err)
	}
	s.f = f
	return nil
}

// close frees the spooled stream.
func (s *spoolReader) close() error {
	if s.f == nil {
		return nil
	}
	err := s.f.Close()
	s.f = nil
	if err != nil && !errors.Is(err, os.ErrClosed) {
		return fmt.Errorf("close the stream spool: %w", err)
	}
	return nil
}
