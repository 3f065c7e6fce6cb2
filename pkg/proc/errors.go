package proc

import (
	"errors"
	"fmt"
	"io/fs"
)

// Sentinel errors. Every parse error is a *ParseError that matches one of
// them with errors.Is.
var (
	// ErrSyntax: a line or field does not have the form the kernel prints.
	ErrSyntax = errors.New("malformed input")
	// ErrLineTooLong: a line is longer than MaxLineLen (no kernel prints one).
	ErrLineTooLong = errors.New("line too long")
	// ErrMissing: a field every kernel prints is absent.
	ErrMissing = errors.New("missing field")
	// ErrTooLarge: the input holds more data than the file can hold.
	ErrTooLarge = errors.New("input too large")
	// ErrTruncated: binary input ends in the middle of an entry or before
	// its terminator.
	ErrTruncated = errors.New("truncated input")
)

// MaxLineLen bounds every line the parsers read. The longest lines the
// kernel prints are mountinfo lines with three escaped paths (up to four
// bytes per path byte, PATH_MAX each) and options; 64 KiB is well above that.
const MaxLineLen = 64 << 10

// ParseError says where parsing a /proc file failed.
//
// It prints as "parse /proc/42/status line 7: field Uid: malformed input".
// Parsers that read a bare io.Reader name the file by its base name
// ("status"); the readers by pid replace it with the full path.
type ParseError struct {
	Path string // "/proc/42/status", or "status" when parsed from a reader
	Line int    // 1-based line number; 0 when the error is not about one line
	Msg  string // what was being parsed, with the offending text
	Err  error  // a sentinel: ErrSyntax, ErrLineTooLong, ErrMissing, ...
}

func (e *ParseError) Error() string {
	s := "parse " + e.Path
	if e.Line > 0 {
		s += fmt.Sprintf(" line %d", e.Line)
	}
	if e.Msg != "" {
		s += ": " + e.Msg
	}
	return s + ": " + e.Err.Error()
}

func (e *ParseError) Unwrap() error { return e.Err }

// withPath gives a parse error the full path of the file it came from.
// I/O errors of an *os.File already name the path and pass unchanged; any
// other error is wrapped as "read PATH: err".
func withPath(err error, path string) error {
	if err == nil {
		return nil
	}
	var pe *ParseError
	if errors.As(err, &pe) {
		pe.Path = path
		return err
	}
	var fe *fs.PathError
	if errors.As(err, &fe) {
		return err
	}
	return fmt.Errorf("read %s: %w", path, err)
}
