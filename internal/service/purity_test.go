package service

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestPureCore keeps the package pure: no I/O, clock, logging, kernel packages or goroutines
// in its non-test files.
func TestPureCore(t *testing.T) {
	forbidden := map[string]bool{"os": true, "os/exec": true, "net": true, "time": true, "syscall": true,
		"log": true, "log/slog": true, "github.com/vishvananda/netlink": true, "sigs.k8s.io/knftables": true}
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range file.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			if forbidden[p] {
				t.Errorf("%s imports %s: the service core must stay pure", f, p)
			}
		}
		ast.Inspect(file, func(n ast.Node) bool {
			if g, ok := n.(*ast.GoStmt); ok {
				t.Errorf("%s: go statement at %s: the service core starts no goroutines", f, fset.Position(g.Pos()))
			}
			return true
		})
	}
}
