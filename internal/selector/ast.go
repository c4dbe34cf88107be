package selector

import "strings"

// Node is one node of a selector's syntax tree. The concrete types are *All, *Global, *Has,
// *Compare, *In, *Not, *And and *Or; other packages inspect a tree with a type switch or
// with Walk. Nodes reachable from a parsed *Selector are shared and must not be modified.
type Node interface {
	// match evaluates the node against a label set.
	match(l Labels) bool
	// write appends the node's canonical text to b.
	write(b *strings.Builder)
}

// All is all(): it matches every label set. The empty selector parses to All.
type All struct{}

// Global is global(). In a namespaceSelector it means "objects that are not namespaced";
// the policy engine finds it with Walk. Plain evaluation treats it as matching everything.
type Global struct{}

// Has is has(Key): the label is present, whatever its value.
type Has struct {
	Key string
}

// Op is a comparison operator of a Compare node.
type Op uint8

// Comparison operators. Only OpNotEqual is true when the label is absent.
const (
	OpEqual      Op = iota + 1 // ==
	OpNotEqual                 // !=
	OpContains                 // contains
	OpStartsWith               // starts with, startswith
	OpEndsWith                 // ends with, endswith
)

// String is the operator's canonical spelling.
func (o Op) String() string {
	switch o {
	case OpEqual:
		return "=="
	case OpNotEqual:
		return "!="
	case OpContains:
		return "contains"
	case OpStartsWith:
		return "starts with"
	case OpEndsWith:
		return "ends with"
	}
	return "?"
}

// Compare compares the value of label Key with Value.
type Compare struct {
	Key   string
	Op    Op
	Value string
}

// In is `Key in {Values}` or, with Negate, `Key not in {Values}`. Values are sorted and
// free of duplicates. A `not in` term is true when the label is absent.
type In struct {
	Key    string
	Values []string
	Negate bool
}

// Not negates X.
type Not struct {
	X Node
}

// And is true when every term is. A parsed And has at least two terms, none of them an And.
type And struct {
	Terms []Node
}

// Or is true when any term is. A parsed Or has at least two terms, none of them an Or.
type Or struct {
	Terms []Node
}

// Walk calls fn for n and then, if fn returns true, for each of n's children in order,
// depth first. A nil n is ignored.
func Walk(n Node, fn func(Node) bool) {
	if n == nil || !fn(n) {
		return
	}
	switch n := n.(type) {
	case *Not:
		Walk(n.X, fn)
	case *And:
		for _, t := range n.Terms {
			Walk(t, fn)
		}
	case *Or:
		for _, t := range n.Terms {
			Walk(t, fn)
		}
	}
}

// depth is the number of Not, And and Or nodes on the longest path from n to a leaf.
func depth(n Node) int {
	var terms []Node
	switch n := n.(type) {
	case *Not:
		return 1 + depth(n.X)
	case *And:
		terms = n.Terms
	case *Or:
		terms = n.Terms
	default:
		return 0
	}
	d := 0
	for _, t := range terms {
		d = max(d, depth(t))
	}
	return 1 + d
}
