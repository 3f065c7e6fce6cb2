// Command doccheck reports doc comments that do not describe what they
// are attached to: a top-level declaration's comment must begin with its
// name (or with "A", "An" or "The" before it), as Go's convention has it,
// so a comment left behind by a rename or moved off its declaration
// shows. Test functions, init and generated files are not checked.
//
// Usage: go run ./scripts/doccheck [DIR...]  (default: .)
package main

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

func main() {
	roots := os.Args[1:]
	if len(roots) == 0 {
		roots = []string{"."}
	}
	bad := 0
	for _, root := range roots {
		err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() {
				if n := d.Name(); path != root && (strings.HasPrefix(n, ".") || n == "build" || n == "testdata") {
					return filepath.SkipDir
				}
				return nil
			}
			if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, ".pb.go") || strings.HasSuffix(path, "_test.go") {
				return nil
			}
			n, err := check(path)
			bad += n
			return err
		})
		if err != nil {
			fmt.Fprintln(os.Stderr, "doccheck:", err)
			os.Exit(2)
		}
	}
	if bad > 0 {
		fmt.Fprintf(os.Stderr, "doccheck: %d doc comments do not name what they describe\n", bad)
		os.Exit(1)
	}
}

func check(path string) (int, error) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, path, nil, parser.ParseComments)
	if err != nil {
		return 0, err
	}
	if ast.IsGenerated(f) {
		return 0, nil
	}
	bad := 0
	report := func(pos token.Pos, name, doc string) {
		first := strings.SplitN(strings.TrimSpace(doc), "\n", 2)[0]
		fmt.Printf("%s: %s: comment begins %q\n", fset.Position(pos), name, first)
		bad++
	}
	for _, decl := range f.Decls {
		switch d := decl.(type) {
		case *ast.FuncDecl:
			if d.Doc == nil || d.Name.Name == "init" {
				continue
			}
			if !names(d.Doc.Text(), d.Name.Name) {
				report(d.Pos(), d.Name.Name, d.Doc.Text())
			}
		case *ast.GenDecl:
			// A comment over a group describes the group.
			if d.Lparen.IsValid() || d.Doc == nil || len(d.Specs) != 1 {
				continue
			}
			var name string
			switch s := d.Specs[0].(type) {
			case *ast.TypeSpec:
				name = s.Name.Name
			case *ast.ValueSpec:
				if len(s.Names) != 1 {
					continue
				}
				name = s.Names[0].Name
			default:
				continue
			}
			if !names(d.Doc.Text(), name) {
				report(d.Pos(), name, d.Doc.Text())
			}
		}
	}
	return bad, nil
}

// names reports whether doc begins with name, maybe after an article.
func names(doc, name string) bool {
	w := strings.Fields(doc)
	for i := 0; i < len(w) && i < 2; i++ {
		if strings.TrimRight(w[i], ".,:;") == name || strings.HasPrefix(w[i], name+"'") || strings.HasPrefix(w[i], name+"(") {
			return true
		}
		if w[i] != "A" && w[i] != "An" && w[i] != "The" {
			return false
		}
	}
	return false
}
