package trace

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"

	"sigs.k8s.io/knftables"
)

// Table is an nftables table parsed for evaluation. It is read-only after FromFake.
type Table struct {
	chains map[string]*chain
	sets   map[string]*set
	// base are the base chains by hook, in priority order.
	base map[string][]*chain
}

type chain struct {
	name   string
	hook   string // "" for a regular chain
	typ    string
	prio   int
	policy string // base chains: accept or drop
	rules  []*rule
}

type rule struct {
	text, comment string
	ops           []op
}

// set is a named set or verdict map.
type set struct {
	name   string
	types  []*dataType
	isMap  bool
	elems  []element
	exact  map[string]int // element index by key, for elements of exact values only
	ranged []int          // elements with an interval, prefix or mask part
}

func (s *set) lookup(vals []value) *element {
	unknown := slices.ContainsFunc(vals, func(v value) bool { return v.unknown })
	sels := make([]selector, len(s.types))
	for i, t := range s.types {
		sels[i] = selector{typ: t}
	}
	if unknown {
		return lookupIn(s.elems, sels, vals)
	}
	if len(s.exact) > 0 {
		parts := make([]string, len(vals))
		for i, v := range vals {
			parts[i] = valueKey(s.types[i], v)
		}
		if i, ok := s.exact[strings.Join(parts, " . ")]; ok {
			return &s.elems[i]
		}
	}
	for _, i := range s.ranged {
		if s.elems[i].match(sels, vals) {
			return &s.elems[i]
		}
	}
	return nil
}

// FromFake parses the table that was applied to f (its default table). Every rule must
// parse and every chain and set it names must exist with a matching type: the tracer
// never guesses what an expression it does not understand would do.
func FromFake(f *knftables.Fake) (*Table, error) {
	f.RLock()
	defer f.RUnlock()
	ft := f.Table
	if ft == nil {
		return nil, fmt.Errorf("trace: the fake has no table")
	}
	// The fake's table carries no family of its own (the fake's default applies); find
	// it among the fake's tables.
	if f.Tables[knftables.InetFamily] == nil || !slices.Contains(slices.Collect(maps.Values(f.Tables[knftables.InetFamily])), ft) {
		return nil, fmt.Errorf("trace: the fake's table is not of family inet (the only one supported)")
	}
	t := &Table{chains: map[string]*chain{}, sets: map[string]*set{}, base: map[string][]*chain{}}
	addSet := func(name, typ, typeOf string, flags []knftables.SetFlag, isMap bool, elems []*knftables.Element) error {
		s, err := newSet(name, typ, typeOf, flags, isMap)
		if err != nil {
			return err
		}
		for _, e := range elems {
			if err := s.add(e); err != nil {
				return err
			}
		}
		t.sets[name] = s
		return nil
	}
	for name, fs := range ft.Sets {
		if err := addSet(name, fs.Type, fs.TypeOf, fs.Flags, false, fs.Elements); err != nil {
			return nil, err
		}
	}
	for name, fm := range ft.Maps {
		if err := addSet(name, fm.Type, fm.TypeOf, fm.Flags, true, fm.Elements); err != nil {
			return nil, err
		}
	}
	for name, fc := range ft.Chains {
		c, err := newChain(name, fc)
		if err != nil {
			return nil, err
		}
		t.chains[name] = c
	}
	if err := t.link(); err != nil {
		return nil, err
	}
	return t, nil
}

func newChain(name string, fc *knftables.FakeChain) (*chain, error) {
	c := &chain{name: name, policy: Accept}
	if fc.Hook != nil {
		c.hook = string(*fc.Hook)
		if fc.Type != nil {
			c.typ = string(*fc.Type)
		}
		if fc.Priority == nil {
			return nil, fmt.Errorf("trace chain %s: base chain without a priority", name)
		}
		prio, err := knftables.ParsePriority(knftables.InetFamily, strings.ReplaceAll(string(*fc.Priority), " ", ""))
		if err != nil {
			return nil, fmt.Errorf("trace chain %s: %w", name, err)
		}
		c.prio = prio
		if fc.Policy != nil {
			c.policy = string(*fc.Policy)
		}
	}
	for i, kr := range fc.Rules {
		ops, err := parseRule(kr.Rule)
		if err != nil {
			return nil, fmt.Errorf("trace chain %s rule %d %q: %w", name, i, kr.Rule, err)
		}
		r := &rule{text: kr.Rule, ops: ops}
		if kr.Comment != nil {
			r.comment = *kr.Comment
		}
		c.rules = append(c.rules, r)
	}
	return c, nil
}

// newSet declares a set or map from its type ("ipv4_addr . inet_service", or for a
// map "ifname : verdict") or typeof expression ("ip saddr . th dport").
func newSet(name, typ, typeOf string, flags []knftables.SetFlag, isMap bool) (*set, error) {
	s := &set{name: name, isMap: isMap, exact: map[string]int{}}
	// A declaration may carry options after the type ("ipv4_addr ; flags
	// dynamic,timeout ; timeout 10800s"): only these two are understood.
	if head, opts, ok := strings.Cut(typ, ";"); ok {
		typ = strings.TrimSpace(head)
		for _, o := range strings.Split(opts, ";") {
			words := strings.Fields(o)
			switch {
			case len(words) == 2 && words[0] == "timeout":
			case len(words) == 2 && words[0] == "flags":
				for _, f := range strings.Split(words[1], ",") {
					flags = append(flags, knftables.SetFlag(f))
				}
			default:
				return nil, fmt.Errorf("trace set %s: declaration option %q is not supported", name, strings.TrimSpace(o))
			}
		}
	}
	decl := typ
	if decl == "" {
		decl = typeOf
	}
	key := decl
	if isMap {
		k, v, ok := strings.Cut(decl, " : ")
		if !ok || strings.TrimSpace(v) != "verdict" {
			return nil, fmt.Errorf("trace map %s: type %q is not a verdict map", name, decl)
		}
		key = k
	}
	if typ != "" {
		for _, part := range strings.Split(key, " . ") {
			dt, ok := dataTypes[strings.TrimSpace(part)]
			if !ok {
				return nil, fmt.Errorf("trace set %s: unknown data type %q", name, part)
			}
			s.types = append(s.types, dt)
		}
	} else {
		words, err := tokenize(key)
		if err != nil {
			return nil, fmt.Errorf("trace set %s: typeof %q: %w", name, key, err)
		}
		p := &parser{words: words}
		sels, err := p.selectors()
		if err != nil || p.peek() != "" {
			return nil, fmt.Errorf("trace set %s: typeof %q is not understood", name, key)
		}
		for _, sel := range sels {
			s.types = append(s.types, sel.typ)
		}
	}
	for _, f := range flags {
		switch f {
		case knftables.IntervalFlag, knftables.ConstantFlag, knftables.DynamicFlag, knftables.TimeoutFlag:
			// Dynamic sets start with the elements the table holds; a trace adds none.
		default:
			return nil, fmt.Errorf("trace set %s: flag %s is not supported", name, f)
		}
	}
	return s, nil
}

func (s *set) add(e *knftables.Element) error {
	if len(e.Key) != len(s.types) {
		return fmt.Errorf("trace set %s: element %q has %d key parts, want %d", s.name, e.Key, len(e.Key), len(s.types))
	}
	el := element{}
	exact := true
	var parts []string
	for i, k := range e.Key {
		m, err := parseMatcher(s.types[i], k)
		if err != nil {
			return fmt.Errorf("trace set %s: element %q: %w", s.name, e.Key, err)
		}
		el.key = append(el.key, m)
		key, ok := m.exactKey(s.types[i])
		exact = exact && ok
		parts = append(parts, key)
	}
	if s.isMap {
		words, err := tokenize(strings.Join(e.Value, " "))
		if err != nil {
			return fmt.Errorf("trace map %s: element %q: %w", s.name, e.Key, err)
		}
		p := &parser{words: words}
		v, err := parseVerdict(p.next(), p)
		if err != nil || p.peek() != "" {
			return fmt.Errorf("trace map %s: element %q: value %q is not a verdict", s.name, e.Key, e.Value)
		}
		el.verdict = &v
	}
	s.elems = append(s.elems, el)
	if exact {
		s.exact[strings.Join(parts, " . ")] = len(s.elems) - 1
	} else {
		s.ranged = append(s.ranged, len(s.elems)-1)
	}
	return nil
}

// link checks every reference (chains jumped to, sets looked up and their key types)
// and orders the base chains.
func (t *Table) link() error {
	checkVerdict := func(where string, v *verdict) error {
		if v != nil && v.target != "" && t.chains[v.target] == nil {
			return fmt.Errorf("trace %s: %s to a chain that does not exist", where, v)
		}
		if v != nil && v.target != "" && t.chains[v.target].hook != "" {
			return fmt.Errorf("trace %s: %s to a base chain", where, v)
		}
		return nil
	}
	checkSet := func(where, name string, sels []selector, isMap bool) error {
		s := t.sets[name]
		if s == nil {
			return fmt.Errorf("trace %s: set @%s does not exist", where, name)
		}
		if s.isMap != isMap {
			return fmt.Errorf("trace %s: @%s is a set where a map is needed, or a map where a set is", where, name)
		}
		if len(s.types) != len(sels) {
			return fmt.Errorf("trace %s: @%s has %d key parts, the lookup %d", where, name, len(s.types), len(sels))
		}
		for i, sel := range sels {
			if s.types[i] != sel.typ {
				return fmt.Errorf("trace %s: @%s key part %d is %s, %s is %s", where, name, i, s.types[i].name, sel.name, sel.typ.name)
			}
		}
		return nil
	}
	for _, s := range t.sets {
		for _, e := range s.elems {
			if err := checkVerdict("map "+s.name, e.verdict); err != nil {
				return err
			}
		}
	}
	for _, name := range sortedNames(t.chains) {
		c := t.chains[name]
		for i, r := range c.rules {
			where := fmt.Sprintf("chain %s rule %d %q", name, i, r.text)
			for _, o := range r.ops {
				var err error
				switch o := o.(type) {
				case verdictOp:
					err = checkVerdict(where, &o.v)
				case *matchOp:
					if o.setName != "" {
						err = checkSet(where, o.setName, o.sels, false)
					}
				case *updateOp:
					err = checkSet(where, o.setName, o.sels, false)
				case *vmapOp:
					if o.setName != "" {
						err = checkSet(where, o.setName, o.sels, true)
					}
					for _, e := range o.anon {
						if err == nil {
							err = checkVerdict(where, e.verdict)
						}
					}
				}
				if err != nil {
					return err
				}
			}
		}
		if c.hook != "" {
			t.base[c.hook] = append(t.base[c.hook], c)
		}
	}
	for hook, cs := range t.base {
		sort.SliceStable(cs, func(i, j int) bool { return cs[i].prio < cs[j].prio })
		for i := 1; i < len(cs); i++ {
			if cs[i].prio == cs[i-1].prio {
				return fmt.Errorf("trace: base chains %s and %s share hook %s and priority %d, so their order is undefined",
					cs[i-1].name, cs[i].name, hook, cs[i].prio)
			}
		}
	}
	return nil
}

// Trace runs p through the table's base chains along its path (prerouting, forward,
// postrouting for a forwarded packet; prerouting, input for one to the host; output,
// postrouting for one from the host), each hook's chains in priority order. An accept
// moves on to the next chain, a drop or reject ends the trace. nat chains see only
// packets in conntrack state new, and only until a nat chain of the same hook has
// translated the packet.
func (t *Table) Trace(p Packet) (Result, error) {
	if err := p.validate(); err != nil {
		return Result{}, err
	}
	var hooks []string
	switch {
	case p.IIF != "" && p.OIF != "":
		hooks = []string{"prerouting", "forward", "postrouting"}
	case p.IIF != "":
		hooks = []string{"prerouting", "input"}
	default:
		hooks = []string{"output", "postrouting"}
	}
	res := Result{Verdict: Accept}
	for _, hook := range hooks {
		translated := len(res.NAT)
		for _, c := range t.base[hook] {
			if c.typ == string(knftables.NATType) && (p.ctState() != "new" || len(res.NAT) > translated) {
				// The kernel consults a hook's nat chains only until one of them has
				// translated the connection.
				continue
			}
			v, err := t.run(c, &p, &res)
			if err != nil {
				return res, fmt.Errorf("trace %s: %w", p, err)
			}
			if v != Accept {
				res.Verdict = Drop
				return res, nil
			}
		}
	}
	return res, nil
}

func sortedNames[V any](m map[string]V) []string {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	slices.Sort(names)
	return names
}
