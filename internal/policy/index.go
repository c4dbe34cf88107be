package policy

import (
	"net/netip"

	"github.com/trellisnet/trellis/internal/selector"
)

// member is one selectable thing: an endpoint or a network set.
type member struct {
	key   string // "w/ns/pod", "h/name", "n/ns/name", "g/name"
	id    identity
	addrs []netip.Prefix
	ports []NamedPort
	terms []term // the index terms the member carries (derived from id.labels)
	in    map[*exprEntry]struct{}
	ep    *EndpointInput // nil for network sets
}

// exprEntry is one live expression with its members.
type exprEntry struct {
	x       *selExpr
	id      string
	refs    int
	term    term
	indexed bool
	members map[*member]struct{}
}

// labelIndex keeps the membership of every live expression over every member incrementally.
// An inverted index on label terms limits the work of a member change to the expressions
// that could match it (plus those it was in), and the work of a new expression to the
// members that carry its required term.
type labelIndex struct {
	exprs     map[string]*exprEntry
	byTerm    map[term]map[*exprEntry]struct{}
	unindexed map[*exprEntry]struct{}
	members   map[string]*member
	// byLabel holds the members carrying each label=value; keyValues counts, per label key,
	// the members carrying each value (an any-value term is the union of its values).
	byLabel   map[term]map[*member]struct{}
	keyValues map[string]map[string]int
	scratch   map[*exprEntry]struct{}
	// evals counts expression evaluations (tests check the index limits them).
	evals uint64
	// onChange is called for every membership change.
	onChange func(e *exprEntry, m *member, added bool)
}

func newLabelIndex(onChange func(*exprEntry, *member, bool)) *labelIndex {
	return &labelIndex{
		exprs:     map[string]*exprEntry{},
		byTerm:    map[term]map[*exprEntry]struct{}{},
		unindexed: map[*exprEntry]struct{}{},
		members:   map[string]*member{},
		byLabel:   map[term]map[*member]struct{}{},
		keyValues: map[string]map[string]int{},
		scratch:   map[*exprEntry]struct{}{},
		onChange:  onChange,
	}
}

// acquire returns the live entry for x, creating and populating it on first use.
func (ix *labelIndex) acquire(x *selExpr) *exprEntry {
	if e, ok := ix.exprs[x.key]; ok {
		e.refs++
		return e
	}
	e := &exprEntry{x: x, id: setID("s-", x.key), refs: 1, members: map[*member]struct{}{}}
	best := 0
	for _, t := range x.indexTerms() {
		if n := ix.population(t); !e.indexed || n < best {
			e.term, e.indexed, best = t, true, n
		}
	}
	ix.exprs[x.key] = e
	if e.indexed {
		addTo(ix.byTerm, e.term, e)
		if e.term.any {
			for v := range ix.keyValues[e.term.key] {
				for m := range ix.byLabel[term{key: e.term.key, value: v}] {
					ix.eval(e, m)
				}
			}
		} else {
			for m := range ix.byLabel[e.term] {
				ix.eval(e, m)
			}
		}
	} else {
		ix.unindexed[e] = struct{}{}
		for _, m := range ix.members {
			ix.eval(e, m)
		}
	}
	return e
}

// release drops one reference; the last one removes the entry.
func (ix *labelIndex) release(e *exprEntry) {
	e.refs--
	if e.refs > 0 {
		return
	}
	for m := range e.members {
		delete(m.in, e)
		ix.onChange(e, m, false)
	}
	delete(ix.exprs, e.x.key)
	if e.indexed {
		removeFrom(ix.byTerm, e.term, e)
	} else {
		delete(ix.unindexed, e)
	}
}

// population is the number of members carrying t.
func (ix *labelIndex) population(t term) int {
	if !t.any {
		return len(ix.byLabel[t])
	}
	n := 0
	for _, c := range ix.keyValues[t.key] {
		n += c
	}
	return n
}

func (ix *labelIndex) eval(e *exprEntry, m *member) {
	_, was := e.members[m]
	ix.evals++
	now := e.x.matches(&m.id)
	switch {
	case now && !was:
		e.members[m] = struct{}{}
		m.in[e] = struct{}{}
		ix.onChange(e, m, true)
	case !now && was:
		delete(e.members, m)
		delete(m.in, e)
		ix.onChange(e, m, false)
	}
}

// upsert adds or replaces a member and re-evaluates only the candidate expressions.
func (ix *labelIndex) upsert(key string, id identity, addrs []netip.Prefix, ports []NamedPort, ep *EndpointInput) *member {
	m, ok := ix.members[key]
	if !ok {
		m = &member{key: key, in: map[*exprEntry]struct{}{}}
		ix.members[key] = m
	}
	ix.unlabel(m)
	m.id, m.addrs, m.ports, m.ep = id, addrs, ports, ep
	m.terms = m.terms[:0]
	for k, v := range id.labels {
		t := term{key: k, value: v}
		m.terms = append(m.terms, t)
		addTo(ix.byLabel, t, m)
		vals, ok := ix.keyValues[k]
		if !ok {
			vals = map[string]int{}
			ix.keyValues[k] = vals
		}
		vals[v]++
	}
	cands := ix.scratch
	clear(cands)
	for e := range m.in {
		cands[e] = struct{}{}
	}
	for e := range ix.unindexed {
		cands[e] = struct{}{}
	}
	for _, t := range m.terms {
		for e := range ix.byTerm[t] {
			cands[e] = struct{}{}
		}
		for e := range ix.byTerm[term{key: t.key, any: true}] {
			cands[e] = struct{}{}
		}
	}
	for e := range cands {
		ix.eval(e, m)
	}
	clear(cands)
	return m
}

// unlabel removes m from byLabel and keyValues.
func (ix *labelIndex) unlabel(m *member) {
	for _, t := range m.terms {
		removeFrom(ix.byLabel, t, m)
		if vals, ok := ix.keyValues[t.key]; ok {
			vals[t.value]--
			if vals[t.value] <= 0 {
				delete(vals, t.value)
			}
			if len(vals) == 0 {
				delete(ix.keyValues, t.key)
			}
		}
	}
	m.terms = m.terms[:0]
}

// remove deletes a member from every expression.
func (ix *labelIndex) remove(key string) {
	m, ok := ix.members[key]
	if !ok {
		return
	}
	for e := range m.in {
		delete(e.members, m)
		ix.onChange(e, m, false)
	}
	m.in = map[*exprEntry]struct{}{}
	ix.unlabel(m)
	delete(ix.members, key)
}

func addTo[K comparable, V comparable](idx map[K]map[V]struct{}, k K, v V) {
	s, ok := idx[k]
	if !ok {
		s = map[V]struct{}{}
		idx[k] = s
	}
	s[v] = struct{}{}
}

func removeFrom[K comparable, V comparable](idx map[K]map[V]struct{}, k K, v V) {
	if s, ok := idx[k]; ok {
		delete(s, v)
		if len(s) == 0 {
			delete(idx, k)
		}
	}
}

// labelsOf builds a member's merged label map: layers in priority order, first wins.
func labelsOf(layers ...map[string]string) selector.Map {
	n := 0
	for _, l := range layers {
		n += len(l)
	}
	out := make(selector.Map, n)
	for i := len(layers) - 1; i >= 0; i-- {
		for k, v := range layers[i] {
			out[k] = v
		}
	}
	return out
}
