package selector

import (
	"errors"
	"testing"
)

// FuzzParse checks that Parse never panics, that its errors carry an offset within the
// input, and that the canonical form of anything it accepts parses to the same canonical
// form, hash and matching results. Seeds: testdata/fuzz/FuzzParse and testdata/match.txt.
func FuzzParse(f *testing.F) {
	for _, c := range readCases(f, "testdata/match.txt") {
		f.Add(c.sel)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sel, err := Parse(s)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("Parse(%q) error %T, want *ParseError", s, err)
			}
			if pe.Offset < 0 || pe.Offset > len(s) || pe.Selector != s {
				t.Fatalf("Parse(%q) error %+v: offset outside the input", s, pe)
			}
			return
		}
		canon := sel.String()
		again, err := Parse(canon)
		if err != nil {
			t.Fatalf("Parse(%q): canonical form %q does not parse: %v", s, canon, err)
		}
		if again.String() != canon || again.Hash() != sel.Hash() {
			t.Fatalf("Parse(%q): canonical %q re-parses to %q", s, canon, again)
		}
		for _, l := range fuzzLabelSets(sel) {
			if sel.Matches(l) != again.Matches(l) {
				t.Fatalf("Parse(%q) and its canonical %q disagree on %v", s, canon, l)
			}
		}
	})
}

// fuzzLabelSets derives label sets from the selector's own keys and values, so that its
// comparisons are exercised both ways.
func fuzzLabelSets(sel *Selector) []Map {
	keys := sel.LabelKeys()
	values := []string{""}
	Walk(sel.Root(), func(n Node) bool {
		switch n := n.(type) {
		case *Compare:
			values = append(values, n.Value)
		case *In:
			values = append(values, n.Values...)
		}
		return true
	})
	sets := []Map{{}}
	for shift := range min(len(values), 4) {
		m, mz := Map{}, Map{}
		for i, k := range keys {
			v := values[(i+shift)%len(values)]
			m[k], mz[k] = v, v+"z"
		}
		sets = append(sets, m, mz)
	}
	return sets
}
