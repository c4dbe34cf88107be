package archtest

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestViolations(t *testing.T) {
	all := Rules{Forbidden: []string{"os"}, StdlibOnly: true, NoGoroutines: true, NoClock: true}
	tests := []struct {
		name  string
		dir   string
		rules Rules
		want  []string
	}{
		{"pure package, test files ignored", "testdata/pure", all, nil},
		{"every rule broken", "testdata/impure", all, []string{
			`impure.go imports "os", forbidden here`,
			`impure.go imports "github.com/google/go-cmp/cmp", outside the standard library`,
			"impure.go: go statement at testdata/impure/impure.go:12:2",
			"impure.go: reads the clock (time.Since) at testdata/impure/impure.go:13:6",
			"impure.go: reads the clock (time.Now) at testdata/impure/impure.go:13:18",
		}},
		{"no rules", "testdata/impure", Rules{}, nil},
		{"only imports", "testdata/impure", Rules{Forbidden: []string{"os", "net"}}, []string{
			`impure.go imports "os", forbidden here`,
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Violations(tc.dir, tc.rules)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("violations (-want +got):\n%s", d)
			}
		})
	}
}

func TestViolationsNoFiles(t *testing.T) {
	if _, err := Violations("testdata/empty", Rules{}); err == nil {
		t.Error("a directory without go files passed the check")
	}
}
