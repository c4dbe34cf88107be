package selector

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// The round-trip property test builds random trees, prints each in two random surface
// spellings (blanks, quotes, operator spellings, redundant parentheses, unsorted sets with
// duplicates), and checks that both parse to the same canonical form, that the canonical
// form is a fixed point, and that matching agrees with refEval, an independent evaluator.

var (
	rtKeys   = []string{"a", "b", "in", "not", "has", "all", "contains", "example.com/x-1_y"}
	rtValues = []string{"", "1", "x", "xy", "yx", `say "hi"`, "it's", "a b", "&& ||"}
)

type treeGen struct{ r *rand.Rand }

func (g treeGen) pick(xs []string) string { return xs[g.r.IntN(len(xs))] }

func (g treeGen) node(depth int) Node {
	if depth > 0 && g.r.IntN(3) > 0 {
		switch g.r.IntN(3) {
		case 0:
			return &Not{X: g.node(depth - 1)}
		case 1:
			return &And{Terms: g.terms(depth - 1)}
		default:
			return &Or{Terms: g.terms(depth - 1)}
		}
	}
	key := g.pick(rtKeys)
	switch g.r.IntN(8) {
	case 0:
		if g.r.IntN(2) == 0 {
			return &All{}
		}
		return &Global{}
	case 1:
		return &Has{Key: key}
	case 2, 3:
		var vs []string
		for range g.r.IntN(4) {
			vs = append(vs, g.pick(rtValues))
		}
		return &In{Key: key, Values: vs, Negate: g.r.IntN(2) == 0}
	default:
		return &Compare{Key: key, Op: Op(1 + g.r.IntN(5)), Value: g.pick(rtValues)}
	}
}

func (g treeGen) terms(depth int) []Node {
	ts := make([]Node, 2+g.r.IntN(2))
	for i := range ts {
		ts[i] = g.node(depth)
	}
	return ts
}

// blank returns a random run of spaces and tabs, empty unless required.
func (g treeGen) blank(required bool) string {
	n := g.r.IntN(3)
	if required && n == 0 {
		n = 1
	}
	var b strings.Builder
	for range n {
		b.WriteByte(" \t"[g.r.IntN(2)])
	}
	return b.String()
}

func (g treeGen) quote(v string) string {
	switch {
	case strings.Contains(v, `"`):
		return "'" + v + "'"
	case strings.Contains(v, "'") || g.r.IntN(2) == 0:
		return `"` + v + `"`
	}
	return "'" + v + "'"
}

// surface prints n in a random valid spelling.
func (g treeGen) surface(n Node) string {
	s := g.surfaceBare(n)
	if g.r.IntN(6) == 0 {
		s = "(" + g.blank(false) + s + g.blank(false) + ")"
	}
	return s
}

func (g treeGen) surfaceBare(n Node) string {
	switch n := n.(type) {
	case *All:
		return "all(" + g.blank(false) + ")"
	case *Global:
		return "global(" + g.blank(false) + ")"
	case *Has:
		return "has(" + g.blank(false) + n.Key + g.blank(false) + ")"
	case *Compare:
		var op string
		switch n.Op {
		case OpEqual, OpNotEqual:
			return n.Key + g.blank(false) + n.Op.String() + g.blank(false) + g.quote(n.Value)
		case OpContains:
			op = "contains"
		case OpStartsWith:
			op = []string{"startswith", "starts" + g.blank(true) + "with"}[g.r.IntN(2)]
		case OpEndsWith:
			op = []string{"endswith", "ends" + g.blank(true) + "with"}[g.r.IntN(2)]
		}
		return n.Key + g.blank(true) + op + g.blank(true) + g.quote(n.Value)
	case *In:
		op := "in"
		if n.Negate {
			op = []string{"notin", "not" + g.blank(true) + "in"}[g.r.IntN(2)]
		}
		var b strings.Builder
		b.WriteString(n.Key + g.blank(true) + op + g.blank(false) + "{")
		for i, v := range n.Values {
			if i > 0 {
				b.WriteString(g.blank(false) + "," + g.blank(false))
			}
			b.WriteString(g.quote(v))
		}
		if len(n.Values) > 0 && g.r.IntN(3) == 0 {
			b.WriteString(",")
		}
		b.WriteString(g.blank(false) + "}")
		return b.String()
	case *Not:
		x := g.surface(n.X)
		switch n.X.(type) {
		case *And, *Or:
			x = "(" + x + ")"
		}
		return "!" + g.blank(false) + x
	case *And:
		return g.group(n.Terms, "&&", func(t Node) bool { _, ok := t.(*Or); return ok })
	case *Or:
		return g.group(n.Terms, "||", func(Node) bool { return false })
	}
	panic(fmt.Sprintf("unknown node %T", n))
}

func (g treeGen) group(terms []Node, op string, needParens func(Node) bool) string {
	var b strings.Builder
	for i, t := range terms {
		if i > 0 {
			b.WriteString(g.blank(false) + op + g.blank(false))
		}
		s := g.surface(t)
		if needParens(t) {
			s = "(" + s + ")"
		}
		b.WriteString(s)
	}
	return b.String()
}

func (g treeGen) labels() Map {
	m := Map{}
	for _, k := range rtKeys {
		if g.r.IntN(2) == 0 {
			m[k] = g.pick(rtValues)
		}
	}
	return m
}

// refEval is an evaluator independent of the package's: the semantics written out again.
func refEval(n Node, l Map) bool {
	switch n := n.(type) {
	case *All, *Global:
		return true
	case *Has:
		_, ok := l[n.Key]
		return ok
	case *Compare:
		v, ok := l[n.Key]
		if !ok {
			return n.Op == OpNotEqual
		}
		switch n.Op {
		case OpEqual:
			return v == n.Value
		case OpNotEqual:
			return v != n.Value
		case OpContains:
			return strings.Contains(v, n.Value)
		case OpStartsWith:
			return strings.HasPrefix(v, n.Value)
		case OpEndsWith:
			return strings.HasSuffix(v, n.Value)
		}
	case *In:
		v, ok := l[n.Key]
		if !ok {
			return n.Negate
		}
		for _, x := range n.Values {
			if x == v {
				return !n.Negate
			}
		}
		return n.Negate
	case *Not:
		return !refEval(n.X, l)
	case *And:
		for _, t := range n.Terms {
			if !refEval(t, l) {
				return false
			}
		}
		return true
	case *Or:
		for _, t := range n.Terms {
			if refEval(t, l) {
				return true
			}
		}
		return false
	}
	panic(fmt.Sprintf("unknown node %T", n))
}

func TestRoundTripProperty(t *testing.T) {
	g := treeGen{r: rand.New(rand.NewPCG(1, 2))}
	for i := range 3000 {
		tree := g.node(4)
		s1, s2 := g.surface(tree), g.surface(tree)
		sel1, err := Parse(s1)
		if err != nil {
			t.Fatalf("case %d: Parse(%q): %v", i, s1, err)
		}
		sel2, err := Parse(s2)
		if err != nil {
			t.Fatalf("case %d: Parse(%q): %v", i, s2, err)
		}
		if sel1.String() != sel2.String() {
			t.Fatalf("case %d: two spellings of one tree differ:\n%q -> %s\n%q -> %s", i, s1, sel1, s2, sel2)
		}
		again, err := Parse(sel1.String())
		if err != nil {
			t.Fatalf("case %d: canonical %q does not parse: %v", i, sel1, err)
		}
		if diff := cmp.Diff(sel1.Root(), again.Root()); diff != "" || again.String() != sel1.String() {
			t.Fatalf("case %d: canonical %q is not a fixed point (-first +again):\n%s", i, sel1, diff)
		}
		for range 8 {
			l := g.labels()
			want := refEval(tree, l)
			if got := sel1.Matches(l); got != want {
				t.Fatalf("case %d: Parse(%q).Matches(%v) = %v, reference says %v", i, s1, l, got, want)
			}
			if got := again.Matches(l); got != want {
				t.Fatalf("case %d: canonical %q.Matches(%v) = %v, reference says %v", i, again, l, got, want)
			}
		}
	}
}
