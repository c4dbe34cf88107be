package archtest

import (
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// Rules says what a package's non-test files must not do.
type Rules struct {
	// Forbidden lists import paths the package must not import.
	Forbidden []string
	// StdlibOnly also forbids every import whose first path element holds a dot
	// (anything outside the standard library).
	StdlibOnly bool
	// NoGoroutines forbids go statements.
	NoGoroutines bool
	// NoClock forbids calls of time.Now and time.Since.
	NoClock bool
}

// Violations parses the non-test .go files in dir and returns one line per broken rule,
// each naming the file (and position for statements), in file order.
func Violations(dir string, r Rules) ([]string, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		return nil, fmt.Errorf("list go files in %s: %w", dir, err)
	}
	var out []string
	checked := 0
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			return nil, fmt.Errorf("parse %s: %w", name, err)
		}
		checked++
		base := filepath.Base(name)
		timeName := ""
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			if p == "time" {
				timeName = "time"
				if imp.Name != nil {
					timeName = imp.Name.Name
				}
			}
			if slices.Contains(r.Forbidden, p) {
				out = append(out, fmt.Sprintf("%s imports %q, forbidden here", base, p))
			} else if r.StdlibOnly && strings.Contains(strings.Split(p, "/")[0], ".") {
				out = append(out, fmt.Sprintf("%s imports %q, outside the standard library", base, p))
			}
		}
		ast.Inspect(f, func(n ast.Node) bool {
			switch x := n.(type) {
			case *ast.GoStmt:
				if r.NoGoroutines {
					out = append(out, fmt.Sprintf("%s: go statement at %s", base, fset.Position(x.Pos())))
				}
			case *ast.SelectorExpr:
				if id, ok := x.X.(*ast.Ident); r.NoClock && ok && timeName != "" && id.Name == timeName &&
					(x.Sel.Name == "Now" || x.Sel.Name == "Since") {
					out = append(out, fmt.Sprintf("%s: reads the clock (time.%s) at %s", base, x.Sel.Name, fset.Position(x.Pos())))
				}
			}
			return true
		})
	}
	if checked == 0 {
		return nil, errors.New("check architecture of " + dir + ": no non-test go files")
	}
	return out, nil
}

// Check fails t once per violation of r in the package in dir (use "." for the package
// under test), saying what the package is: "the service core must stay pure".
func Check(t testing.TB, dir, what string, r Rules) {
	t.Helper()
	v, err := Violations(dir, r)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range v {
		t.Errorf("%s: %s", line, what)
	}
}
