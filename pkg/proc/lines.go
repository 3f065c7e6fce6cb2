package proc

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// lineReader hands out the lines of a /proc file one by one, without the
// trailing newline, refusing any longer than MaxLineLen. Unlike
// bufio.ScanLines it keeps a trailing '\r': it is part of the data (a path
// may end in one).
type lineReader struct {
	sc   *bufio.Scanner
	name string // base name for errors: "status", "maps", ...
	n    int    // number of the line last returned
}

func newLineReader(r io.Reader, name string) *lineReader {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), MaxLineLen)
	sc.Split(splitLines)
	return &lineReader{sc: sc, name: name}
}

func splitLines(data []byte, atEOF bool) (int, []byte, error) {
	if i := bytes.IndexByte(data, '\n'); i >= 0 {
		return i + 1, data[:i], nil
	}
	if atEOF && len(data) > 0 {
		return len(data), data, nil
	}
	return 0, nil, nil
}

// next returns the next line, valid until the following call. At the end
// of input it returns nil and the reader's error (nil for a clean end).
func (lr *lineReader) next() ([]byte, error) {
	if lr.sc.Scan() {
		lr.n++
		return lr.sc.Bytes(), nil
	}
	if err := lr.sc.Err(); err != nil {
		if err == bufio.ErrTooLong {
			return nil, &ParseError{Path: lr.name, Line: lr.n + 1, Err: ErrLineTooLong}
		}
		return nil, err
	}
	return nil, nil
}

// errf makes a parse error about the line last returned.
func (lr *lineReader) errf(sentinel error, format string, args ...any) error {
	return &ParseError{Path: lr.name, Line: lr.n, Msg: fmt.Sprintf(format, args...), Err: sentinel}
}

// fieldLines calls each with the whitespace-separated fields of every
// non-blank line, which must number exactly n (want names them for the
// error). each returns false when a field does not parse; the error then
// quotes the line as what (an "extent", an "offset").
func fieldLines(r io.Reader, name string, n int, want, what string, each func(f []string) bool) error {
	lr := newLineReader(r, name)
	for {
		line, err := lr.next()
		if err != nil || line == nil {
			return err
		}
		f := strings.Fields(string(line))
		if len(f) == 0 {
			continue
		}
		if len(f) != n {
			return lr.errf(ErrSyntax, "want %s, got %q", want, line)
		}
		if !each(f) {
			return lr.errf(ErrSyntax, "%s %q", what, line)
		}
	}
}

// readAll reads a whole small file (stat, personality), refusing more than
// limit bytes.
func readAll(r io.Reader, name string, limit int) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, int64(limit)+1))
	if err != nil {
		return nil, err
	}
	if len(b) > limit {
		return nil, &ParseError{Path: name, Msg: fmt.Sprintf("more than %d bytes", limit), Err: ErrTooLarge}
	}
	return b, nil
}

// Number helpers. Each names the field and quotes the text on failure; the
// strconv error is dropped because the quoted text says it all and the
// sentinel is what callers test.

func parseUint(s string, base, bits int) (uint64, bool) {
	v, err := strconv.ParseUint(s, base, bits)
	return v, err == nil
}

func parseInt(s string, base, bits int) (int64, bool) {
	v, err := strconv.ParseInt(s, base, bits)
	return v, err == nil
}

// cutField splits "Key:\tvalue" at the first colon and trims blanks around
// the value.
func cutField(line []byte) (key, val string, ok bool) {
	i := bytes.IndexByte(line, ':')
	if i < 0 {
		return "", "", false
	}
	return string(line[:i]), string(bytes.Trim(line[i+1:], " \t")), true
}
