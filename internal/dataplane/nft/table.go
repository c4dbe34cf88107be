package nft

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"sigs.k8s.io/knftables"
)

// Table is the complete desired content of the owned nftables table.
type Table struct {
	Chains map[string]*Chain
	Sets   map[string]*Set
}

// NewTable returns an empty table.
func NewTable() *Table {
	return &Table{Chains: map[string]*Chain{}, Sets: map[string]*Set{}}
}

// Chain is a chain with its rules in order. Hook is nil for a regular chain.
type Chain struct {
	Name  string
	Hook  *Hook
	Rules []Rule
}

// Hook attaches a base chain.
type Hook struct {
	Type     knftables.BaseChainType
	Hook     knftables.BaseChainHook
	Priority knftables.BaseChainPriority
}

// Rule is one rule in nft syntax and its comment (used to attribute counters).
type Rule struct {
	Text    string
	Comment string
}

// Set is a named set or, when Map is true, a map.
type Set struct {
	Name     string
	Map      bool
	Type     string
	Interval bool
	// Dynamic sets are filled by the packet path (`update @set`), each element living for
	// Timeout: syncs declare them but never flush or fill them, so what packets recorded
	// (session affinity) survives every sync, full ones included.
	Dynamic bool
	Timeout time.Duration
	// Elements by canonical key (the key parts joined with " . ").
	Elements map[string]Element
}

// Element is a set or map element; Value is nil for set elements.
type Element struct {
	Key   []string
	Value []string
}

// Verdict reports whether the set is a verdict map (its elements reference chains).
func (s *Set) Verdict() bool { return s.Map && strings.HasSuffix(s.Type, ": verdict") }

// AddElement adds an element keyed by its key parts.
func (s *Set) AddElement(key, value []string) {
	if s.Elements == nil {
		s.Elements = map[string]Element{}
	}
	s.Elements[strings.Join(key, " . ")] = Element{Key: key, Value: value}
}

func (c *Chain) equal(o *Chain) bool {
	if (c.Hook == nil) != (o.Hook == nil) || (c.Hook != nil && *c.Hook != *o.Hook) {
		return false
	}
	return slices.Equal(c.Rules, o.Rules)
}

func (s *Set) sameDecl(o *Set) bool {
	return s.Map == o.Map && s.Type == o.Type && s.Interval == o.Interval && s.Dynamic == o.Dynamic && s.Timeout == o.Timeout
}

func (e Element) equal(o Element) bool {
	return slices.Equal(e.Key, o.Key) && slices.Equal(e.Value, o.Value)
}

// Stats counts a table's objects.
type Stats struct {
	Chains, Rules, Sets, Elements int
}

// Stats counts the table's objects.
func (t *Table) Stats() Stats {
	var s Stats
	s.Chains = len(t.Chains)
	for _, c := range t.Chains {
		s.Rules += len(c.Rules)
	}
	s.Sets = len(t.Sets)
	for _, st := range t.Sets {
		s.Elements += len(st.Elements)
	}
	return s
}

// String is a canonical, byte-stable text form (goldens, logs).
func (t *Table) String() string {
	var b strings.Builder
	for _, name := range sortedKeys(t.Sets) {
		s := t.Sets[name]
		kind := "set"
		if s.Map {
			kind = "map"
		}
		flags := ""
		if s.Interval {
			flags = " interval"
		}
		if s.Dynamic {
			flags += fmt.Sprintf(" dynamic timeout %ds", int64(s.Timeout/time.Second))
		}
		fmt.Fprintf(&b, "%s %s { type %s%s }\n", kind, name, s.Type, flags)
		for _, k := range sortedKeys(s.Elements) {
			e := s.Elements[k]
			if e.Value != nil {
				fmt.Fprintf(&b, "  %s : %s\n", k, strings.Join(e.Value, " . "))
			} else {
				fmt.Fprintf(&b, "  %s\n", k)
			}
		}
	}
	for _, name := range sortedKeys(t.Chains) {
		c := t.Chains[name]
		if c.Hook != nil {
			fmt.Fprintf(&b, "chain %s { type %s hook %s priority %s }\n", name, c.Hook.Type, c.Hook.Hook, c.Hook.Priority)
		} else {
			fmt.Fprintf(&b, "chain %s\n", name)
		}
		for _, r := range c.Rules {
			if r.Comment != "" {
				fmt.Fprintf(&b, "  %s  # %s\n", r.Text, r.Comment)
			} else {
				fmt.Fprintf(&b, "  %s\n", r.Text)
			}
		}
	}
	return b.String()
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// knftables object constructors.

func (c *Chain) object() *knftables.Chain {
	ch := &knftables.Chain{Name: c.Name}
	if c.Hook != nil {
		ch.Type = knftables.PtrTo(c.Hook.Type)
		ch.Hook = knftables.PtrTo(c.Hook.Hook)
		ch.Priority = knftables.PtrTo(c.Hook.Priority)
	}
	return ch
}

func (r Rule) object(chain string) *knftables.Rule {
	kr := &knftables.Rule{Chain: chain, Rule: r.Text}
	if r.Comment != "" {
		kr.Comment = knftables.PtrTo(r.Comment)
	}
	return kr
}

func (s *Set) object() knftables.Object {
	var flags []knftables.SetFlag
	if s.Interval {
		flags = []knftables.SetFlag{knftables.IntervalFlag}
	}
	var timeout *time.Duration
	if s.Dynamic {
		flags = append(flags, knftables.DynamicFlag, knftables.TimeoutFlag)
		t := s.Timeout
		timeout = &t
	}
	if s.Map {
		return &knftables.Map{Name: s.Name, Type: s.Type, Flags: flags, Timeout: timeout}
	}
	return &knftables.Set{Name: s.Name, Type: s.Type, Flags: flags, Timeout: timeout}
}

func (s *Set) element(e Element) *knftables.Element {
	el := &knftables.Element{Key: e.Key, Value: e.Value}
	if s.Map {
		el.Map = s.Name
	} else {
		el.Set = s.Name
	}
	return el
}
