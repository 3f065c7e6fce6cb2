package crit

import (
	"errors"
	"fmt"
)

// Sentinels for errors.Is. Image framing errors (bad magic, truncation, ...)
// come from package image with its own sentinels.
var (
	// ErrSyntax: the input is not JSON.
	ErrSyntax = errors.New("JSON syntax error")
	// ErrUnknownField: an object key that names no field of the message.
	ErrUnknownField = errors.New("unknown field")
	// ErrType: a JSON value of the wrong type for its field.
	ErrType = errors.New("wrong type")
	// ErrValue: a value of the right type that does not convert (bad number,
	// unknown flag or enum name, bad base64, bad address, out of range).
	ErrValue = errors.New("bad value")
	// ErrUnknownMagic: a magic name that is no image kind crit knows.
	ErrUnknownMagic = errors.New("unknown magic")
	// ErrNoImage: a file that holds no protobuf entries, such as pages-*.img.
	ErrNoImage = errors.New("not a protobuf image")
)

// PathError is an error about one value of a JSON document: Path names the
// value as an access expression ("entries[2].vmas[0].prot"), Line and Col
// say where it starts (zero if unknown).
type PathError struct {
	Path      string
	Line, Col int
	Err       error
}

func (e *PathError) Error() string {
	where := e.Path
	if where == "" {
		where = "document"
	}
	if e.Line > 0 {
		where += fmt.Sprintf(" (line %d column %d)", e.Line, e.Col)
	}
	return where + ": " + e.Err.Error()
}

func (e *PathError) Unwrap() error { return e.Err }

// pathError builds a PathError for node n at path, wrapping sentinel with
// a detail message.
func pathError(path string, n *Node, sentinel error, format string, args ...any) error {
	e := &PathError{Path: path, Err: fmt.Errorf("%w: %s", sentinel, fmt.Sprintf(format, args...))}
	if n != nil {
		e.Line, e.Col = n.Line, n.Col
	}
	return e
}
