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
	moved := false
	if in, ok := s.src.(*os.File); ok {
		if moved, err = spliceAll(in, f); err != nil {
			f.Close()
			return err
		}
	}
	buf := make([]byte, spoolChunk)
	for !moved {
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

// spliceAll moves the rest of in (a pipe) into out with splice(2): the
// kernel copies the pipe's pages into the memfd, with no copy through
// criu-restore. It reports false, having moved nothing, when in is no
// pipe splice can take from.
func spliceAll(in, out *os.File) (bool, error) {
	first := true
	for {
		n, err := unix.Splice(int(in.Fd()), nil, int(out.Fd()), nil, spoolChunk, unix.SPLICE_F_MOVE)
		switch {
		case err == unix.EINTR:
			continue
		case err != nil && first:
			// Not a pipe (EINVAL), or one in non-blocking mode (EAGAIN).
			return false, nil
		case err != nil:
			return false, fmt.Errorf("spool the rest of the stream: %w", err)
		case n == 0:
			return true, nil
		}
		first = false
	}
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
