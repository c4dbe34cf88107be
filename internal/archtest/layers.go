package archtest

import (
	"bufio"
	"bytes"
	"fmt"
	"os/exec"
	"slices"
	"strings"
)

// Layer says which packages a set of packages must not depend on, directly or through
// others (test files do not count: `go list -deps` leaves them out).
type Layer struct {
	// Name says why, in the words a failure prints.
	Name string
	// Packages are the import paths the rule applies to; a trailing "/..." also matches
	// every package below.
	Packages []string
	// Except are packages the rule does not apply to, in the same form.
	Except []string
	// Forbidden are the dependencies not allowed, in the same form.
	Forbidden []string
}

func matches(pattern, path string) bool {
	if base, ok := strings.CutSuffix(pattern, "/..."); ok {
		return path == base || strings.HasPrefix(path, base+"/")
	}
	return path == pattern
}

func matchesAny(patterns []string, path string) bool {
	return slices.ContainsFunc(patterns, func(p string) bool { return matches(p, path) })
}

// LayerViolations checks deps (package -> every package it depends on) against the
// layers and returns one line per forbidden dependency, sorted.
func LayerViolations(deps map[string][]string, layers []Layer) []string {
	var out []string
	for pkg, ds := range deps {
		for _, l := range layers {
			if !matchesAny(l.Packages, pkg) || matchesAny(l.Except, pkg) {
				continue
			}
			for _, d := range ds {
				if d != pkg && matchesAny(l.Forbidden, d) {
					out = append(out, fmt.Sprintf("%s depends on %s: %s", pkg, d, l.Name))
				}
			}
		}
	}
	slices.Sort(out)
	return out
}

// ModuleDeps lists every package of the module that holds dir with its dependencies,
// through `go list -deps`.
func ModuleDeps(dir string) (map[string][]string, error) {
	cmd := exec.Command("go", "list", "-f", "{{.ImportPath}} {{join .Deps \" \"}}", "./...")
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go list ./... in %s: %w: %s", dir, err, stderr.String())
	}
	deps := map[string][]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) > 0 {
			deps[f[0]] = f[1:]
		}
	}
	return deps, sc.Err()
}
