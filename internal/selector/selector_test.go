package selector

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata")

// ddCase is one case of testdata/match.txt.
type ddCase struct {
	line    int
	sel     string
	canon   *string
	matches []ddMatch
	errOff  int
	errMsg  *string
}

type ddMatch struct {
	line   int
	labels Map
	want   bool
}

func readCases(t testing.TB, path string) []*ddCase {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var cases []*ddCase
	var cur *ddCase
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			continue
		}
		cmd, arg, _ := strings.Cut(line, " ")
		if cur == nil && cmd != "sel" && cmd != "selq" {
			t.Fatalf("%s:%d: %q before any sel line", path, n, cmd)
		}
		switch cmd {
		case "sel":
			cur = &ddCase{line: n, sel: arg}
			cases = append(cases, cur)
		case "selq":
			s, err := strconv.Unquote(arg)
			if err != nil {
				t.Fatalf("%s:%d: %v", path, n, err)
			}
			cur = &ddCase{line: n, sel: s}
			cases = append(cases, cur)
		case "canon":
			cur.canon = &arg
		case "match":
			i := strings.LastIndexByte(arg, ' ')
			want, err := strconv.ParseBool(arg[i+1:])
			if i < 0 || err != nil {
				t.Fatalf("%s:%d: want 'match JSON true|false'", path, n)
			}
			var m Map
			if err := json.Unmarshal([]byte(arg[:i]), &m); err != nil {
				t.Fatalf("%s:%d: labels: %v", path, n, err)
			}
			cur.matches = append(cur.matches, ddMatch{line: n, labels: m, want: want})
		case "error":
			off, msg, _ := strings.Cut(arg, " ")
			o, err := strconv.Atoi(off)
			if err != nil {
				t.Fatalf("%s:%d: want 'error OFFSET MESSAGE'", path, n)
			}
			cur.errOff, cur.errMsg = o, &msg
		default:
			t.Fatalf("%s:%d: unknown directive %q", path, n, cmd)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return cases
}

func TestDatadriven(t *testing.T) {
	const path = "testdata/match.txt"
	for _, c := range readCases(t, path) {
		t.Run(fmt.Sprintf("line%d", c.line), func(t *testing.T) {
			sel, err := Parse(c.sel)
			if c.errMsg != nil {
				var pe *ParseError
				if !errors.As(err, &pe) {
					t.Fatalf("%s:%d: Parse(%q) = %v, want a *ParseError", path, c.line, c.sel, err)
				}
				if pe.Offset != c.errOff || pe.Msg != *c.errMsg || pe.Selector != c.sel {
					t.Errorf("%s:%d: Parse(%q) error:\n got: %d %s\nwant: %d %s", path, c.line, c.sel, pe.Offset, pe.Msg, c.errOff, *c.errMsg)
				}
				return
			}
			if err != nil {
				t.Fatalf("%s:%d: Parse(%q): %v", path, c.line, c.sel, err)
			}
			if c.canon != nil && sel.String() != *c.canon {
				t.Errorf("%s:%d: canonical form of %q:\n got: %s\nwant: %s", path, c.line, c.sel, sel.String(), *c.canon)
			}
			for _, m := range c.matches {
				if got := sel.Matches(m.labels); got != m.want {
					t.Errorf("%s:%d: %q.Matches(%v) = %v, want %v", path, m.line, c.sel, m.labels, got, m.want)
				}
			}
		})
	}
}

func TestParseErrorText(t *testing.T) {
	_, err := Parse("app ==")
	want := `invalid selector "app ==": expected a quoted value at offset 6`
	if err == nil || err.Error() != want {
		t.Fatalf("Parse error = %v, want %s", err, want)
	}
}

func TestMustParsePanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("MustParse of an invalid selector did not panic")
		}
	}()
	MustParse("a ==")
}

func TestNesting(t *testing.T) {
	tests := []struct {
		name    string
		sel     string
		wantErr bool
	}{
		{"deep negation within limit", strings.Repeat("!", maxDepth) + `a == "x"`, false},
		{"negation beyond tree depth", strings.Repeat("!", maxDepth+1) + `a == "x"`, true},
		{"many redundant parentheses", strings.Repeat("(", maxNesting) + "has(a)" + strings.Repeat(")", maxNesting), false},
		{"too many parentheses", strings.Repeat("(", maxNesting+1) + "has(a)" + strings.Repeat(")", maxNesting+1), true},
		{"hostile depth", strings.Repeat("(!", 100000), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sel, err := Parse(tt.sel)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Parse error = %v, want error %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			again, err := Parse(sel.String())
			if err != nil {
				t.Fatalf("canonical form does not parse: %v", err)
			}
			if again.String() != sel.String() {
				t.Errorf("canonical form not stable")
			}
		})
	}
}

func TestLayers(t *testing.T) {
	own := Map{"app": "web", "tier": "front"}
	inherited := Map{"app": "other", "projectcalico.org/name": "prod"}
	l := Layers{own, nil, inherited}
	tests := []struct {
		sel  string
		want bool
	}{
		{`app == "web"`, true},
		{`app == "other"`, false},
		{`projectcalico.org/name == "prod" && tier == "front"`, true},
		{`has(missing)`, false},
		{`missing != "x"`, true},
	}
	for _, tt := range tests {
		t.Run(tt.sel, func(t *testing.T) {
			if got := MustParse(tt.sel).Matches(l); got != tt.want {
				t.Errorf("Matches = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestInspection(t *testing.T) {
	tests := []struct {
		sel        string
		keys       []string
		global     bool
		all        bool
		comparison int
	}{
		{``, nil, false, true, 0},
		{`all()`, nil, false, true, 0},
		{`global()`, nil, true, false, 0},
		{`!global() || b == "1"`, []string{"b"}, true, false, 1},
		{`b == "1" && (a in {"x"} || has(c)) && b != "2" && !d contains "q"`, []string{"a", "b", "c", "d"}, false, false, 3},
	}
	for _, tt := range tests {
		t.Run(tt.sel, func(t *testing.T) {
			sel := MustParse(tt.sel)
			if diff := cmp.Diff(tt.keys, sel.LabelKeys()); diff != "" {
				t.Errorf("LabelKeys (-want +got):\n%s", diff)
			}
			if sel.HasGlobal() != tt.global {
				t.Errorf("HasGlobal = %v, want %v", sel.HasGlobal(), tt.global)
			}
			if sel.IsAll() != tt.all {
				t.Errorf("IsAll = %v, want %v", sel.IsAll(), tt.all)
			}
			n := 0
			Walk(sel.Root(), func(n2 Node) bool {
				if _, ok := n2.(*Compare); ok {
					n++
				}
				return true
			})
			if n != tt.comparison {
				t.Errorf("Walk found %d comparisons, want %d", n, tt.comparison)
			}
		})
	}
}

func TestWalkSkipsChildren(t *testing.T) {
	sel := MustParse(`a == "1" && !(b == "2" || c == "3")`)
	var seen []string
	Walk(sel.Root(), func(n Node) bool {
		switch n := n.(type) {
		case *Compare:
			seen = append(seen, n.Key)
		case *Not:
			return false
		}
		return true
	})
	if diff := cmp.Diff([]string{"a"}, seen); diff != "" {
		t.Errorf("Walk visited (-want +got):\n%s", diff)
	}
}

func TestNew(t *testing.T) {
	a := MustParse(`x == "1" && y == "2"`)
	b := MustParse(`tier in {"b", "a"}`)
	got, err := New(&And{Terms: []Node{a.Root(), b.Root(), &Not{X: &Has{Key: "z"}}}})
	if err != nil {
		t.Fatal(err)
	}
	const want = `(x == "1" && y == "2" && tier in {"a", "b"} && !has(z))`
	if got.String() != want {
		t.Errorf("New(...) = %s, want %s", got, want)
	}
	if !got.Equal(MustParse(want)) || got.Hash() != MustParse(want).Hash() {
		t.Errorf("New(...) is not equal to the parse of its canonical form")
	}
	bad := []struct {
		name string
		n    Node
	}{
		{"nil", nil},
		{"nil term", &And{Terms: []Node{&Has{Key: "a"}, nil}}},
		{"nil not", &Not{}},
		{"typed nil", &Not{X: (*Has)(nil)}},
		{"typed nil term", &Or{Terms: []Node{&Has{Key: "a"}, (*Compare)(nil)}}},
		{"typed nil root", (*And)(nil)},
		{"empty group", &Or{}},
		{"bad key", &Has{Key: "a b"}},
		{"both quotes", &Compare{Key: "a", Op: OpEqual, Value: `'"`}},
		{"no operator", &Compare{Key: "a", Value: "x"}},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			if sel, err := New(tt.n); err == nil {
				t.Errorf("New = %s, want an error", sel)
			}
		})
	}
}

func TestHash(t *testing.T) {
	h := MustParse(`app == "web"`).Hash()
	if len(h) != HashLen {
		t.Errorf("len(Hash) = %d, want %d", len(h), HashLen)
	}
	for _, c := range h {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			t.Errorf("Hash %q has %q, want lower-case hex only", h, c)
		}
	}
	if h != MustParse(`  app=='web'`).Hash() {
		t.Error("equivalent spellings hash differently")
	}
	if h == MustParse(`app == "db"`).Hash() {
		t.Error("different selectors hash the same")
	}
}

// TestCanonicalGolden pins the canonical form and hash of every selector in
// testdata/canonical.txt: hashes name dataplane sets, so they must never change silently.
func TestCanonicalGolden(t *testing.T) {
	in, err := os.ReadFile("testdata/canonical.txt")
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	b.WriteString("# Generated by TestCanonicalGolden -update from canonical.txt: input, canonical form, hash.\n")
	for _, line := range strings.Split(string(in), "\n") {
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			continue
		}
		sel, err := Parse(line)
		if err != nil {
			t.Fatalf("testdata/canonical.txt: %v", err)
		}
		fmt.Fprintf(&b, "\n%s\n=> %s\n=> %s\n", line, sel, sel.Hash())
	}
	const golden = "testdata/canonical.golden"
	if *update {
		if err := os.WriteFile(golden, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), b.String()); diff != "" {
		t.Errorf("%s differs (-want +got; run with -update if intended):\n%s", golden, diff)
	}
}

func TestParseErrorTextLong(t *testing.T) {
	long := strings.Repeat("a", 300) + " =="
	_, err := Parse(long)
	want := `invalid selector "` + strings.Repeat("a", maxQuoted) + `"... (303 bytes): expected a quoted value at offset 303`
	if err == nil || err.Error() != want {
		t.Fatalf("Parse error = %v, want %s", err, want)
	}
}

// Label keys are at most 512 characters, as Calico's tokenizer has them, in comparisons
// and in has() alike; the error points at the key.
func TestKeyLength(t *testing.T) {
	long := strings.Repeat("k", MaxKeyLength)
	for _, ok := range []string{long + ` == "v"`, "has(" + long + ")"} {
		if _, err := Parse(ok); err != nil {
			t.Errorf("%d-character key: %v", MaxKeyLength, err)
		}
	}
	for _, bad := range []string{long + `x == "v"`, "has(" + long + "x)", `a == "b" && ` + long + `x in {"c"}`} {
		_, err := Parse(bad)
		var pe *ParseError
		if !errors.As(err, &pe) || !strings.Contains(pe.Msg, "label key of 513 characters (at most 512)") {
			t.Errorf("%.20s...: err %v, want a key-length error", bad, err)
		}
	}
}
