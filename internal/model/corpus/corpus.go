// Package corpus reads the valid/invalid manifest corpus in internal/model/testdata/manifests
// for the tests that run it (model, the CLI's validate, the admission webhook): each invalid
// example lists the problems it must give in "# want: TEXT" lines. Test support only: it
// reads files and nothing else.
package corpus

import (
	"fmt"
	"os"
	"strings"
)

// Wants reads the "# want: TEXT" lines of an invalid example; an example without one is
// an error.
func Wants(path string) ([]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, line := range strings.Split(string(data), "\n") {
		if w, ok := strings.CutPrefix(line, "# want: "); ok {
			out = append(out, strings.TrimSpace(w))
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s has no '# want:' line", path)
	}
	return out, nil
}
