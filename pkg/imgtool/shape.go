package imgtool

import (
	"fmt"
	"sort"
	"strings"

	"google.golang.org/protobuf/reflect/protoreflect"
)

// Shape is what a set holds with the values of the run taken out: how many
// files of each kind, and which fields the entries of each kind set. Two
// dumps of the same program by two dumpers have the same shape when they
// write the same images and fill the same fields, whatever the pids,
// addresses and inode numbers.
type Shape struct {
	// Files counts the files of each kind by the kind's name ("CORE");
	// a file whose name is no image kind counts under its own name.
	Files map[string]int
	// Fields holds, per kind that is not raw, the field paths set in any
	// of its entries (see FieldPaths).
	Fields map[string]map[string]bool
}

// ShapeOf computes the shape of s. Every image of s must have decoded:
// an image that did not is an error, as its fields are unknown.
func ShapeOf(s *Set) (*Shape, error) {
	sh := &Shape{Files: map[string]int{}, Fields: map[string]map[string]bool{}}
	for _, name := range s.Order {
		f := s.Files[name]
		key := name
		if f.Kind != nil {
			key = f.Kind.Name
		}
		sh.Files[key]++
		if f.Kind == nil || f.Kind.Raw() {
			continue
		}
		if f.Err != nil {
			return nil, fmt.Errorf("shape of %s: %s: %w", s.Source, name, f.Err)
		}
		if sh.Fields[key] == nil {
			sh.Fields[key] = map[string]bool{}
		}
		for _, e := range f.Image.Entries {
			m := e.Msg.ProtoReflect()
			FieldPaths(m, string(m.Descriptor().Name()), sh.Fields[key])
		}
	}
	return sh, nil
}

// FieldPaths adds to out the path of every field set in m, each written
// prefix.field.subfield. The elements of a repeated message field share
// its path, so the result says which fields are set, not how often.
func FieldPaths(m protoreflect.Message, prefix string, out map[string]bool) {
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		p := prefix + "." + string(fd.Name())
		out[p] = true
		switch {
		case fd.IsMap():
			// CRIU's schema has no maps; a map's keys are values.
		case fd.IsList() && fd.Message() != nil:
			l := v.List()
			for i := range l.Len() {
				FieldPaths(l.Get(i).Message(), p, out)
			}
		case fd.Message() != nil:
			FieldPaths(v.Message(), p, out)
		}
		return true
	})
}

// ShapeDiff is one difference between two shapes, A and B.
type ShapeDiff struct {
	Kind string // the kind's name, or the name of a file that is no image kind
	// Path is the field path that only one set's entries set, or "" when
	// the sets hold different numbers of files of Kind.
	Path string
	// FilesA and FilesB count the files of Kind in A and B (Path == "").
	FilesA, FilesB int
	// InA tells which set sets Path: A when true, B otherwise.
	InA bool
}

// String writes d on one line that starts with the kind and the field
// path (or "files"), so a list of known differences can match it:
//
//	PAGES files: A 2, B 1
//	CORE core_entry.thread_core.creds: A unset, B set
func (d ShapeDiff) String() string {
	if d.Path == "" {
		return fmt.Sprintf("%s files: A %d, B %d", d.Kind, d.FilesA, d.FilesB)
	}
	if d.InA {
		return fmt.Sprintf("%s %s: A set, B unset", d.Kind, d.Path)
	}
	return fmt.Sprintf("%s %s: A unset, B set", d.Kind, d.Path)
}

// CompareShapes lists how a and b differ, sorted by kind and path: the
// kinds whose file counts differ, then, for each kind both hold, the
// field paths only one of them sets. A kind only one set holds is one
// count difference; its fields are not listed.
func CompareShapes(a, b *Shape) []ShapeDiff {
	var out []ShapeDiff
	kinds := map[string]bool{}
	for k := range a.Files {
		kinds[k] = true
	}
	for k := range b.Files {
		kinds[k] = true
	}
	for k := range kinds {
		if a.Files[k] != b.Files[k] {
			out = append(out, ShapeDiff{Kind: k, FilesA: a.Files[k], FilesB: b.Files[k]})
		}
		if a.Files[k] == 0 || b.Files[k] == 0 {
			continue
		}
		for p := range a.Fields[k] {
			if !b.Fields[k][p] {
				out = append(out, ShapeDiff{Kind: k, Path: p, InA: true})
			}
		}
		for p := range b.Fields[k] {
			if !a.Fields[k][p] {
				out = append(out, ShapeDiff{Kind: k, Path: p})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Kind != out[j].Kind {
			return out[i].Kind < out[j].Kind
		}
		return out[i].Path < out[j].Path
	})
	return out
}

// UnderLoneFileKind tells whether d is a field of FILES that lies under
// a file kind (file_entry.reg, file_entry.pipe, ...) only one of a and b
// holds at all. Such a difference says which files the two programs had
// open, not how the dumpers wrote them: what a program's fds 0-2 are
// depends on how it was started (a pipe, /dev/null, a tty).
func (d ShapeDiff) UnderLoneFileKind(a, b *Shape) bool {
	if d.Kind != "FILES" || d.Path == "" {
		return false
	}
	parts := strings.SplitN(d.Path, ".", 3)
	if len(parts) < 2 || parts[0] != "file_entry" || parts[1] == "type" || parts[1] == "id" {
		return false
	}
	sub := parts[0] + "." + parts[1]
	return a.Fields["FILES"][sub] != b.Fields["FILES"][sub]
}
