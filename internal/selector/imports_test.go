package selector

import (
	goparser "go/parser"
	"go/token"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestImports keeps the package at the bottom of the dependency graph and pure: standard
// library only, and nothing that reaches the OS, network, clock or logs.
func TestImports(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	forbidden := []string{"os", "os/exec", "net", "time", "log", "log/slog", "syscall", "unsafe"}
	checked := 0
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := goparser.ParseFile(token.NewFileSet(), name, nil, goparser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		checked++
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			if strings.Contains(strings.Split(path, "/")[0], ".") || slices.Contains(forbidden, path) {
				t.Errorf("%s imports %q: the selector package uses only pure standard-library packages", name, path)
			}
		}
	}
	if checked == 0 {
		t.Fatal("no source files found")
	}
}
