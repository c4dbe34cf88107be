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
	// ownTerm is a term every member must carry that is not a namespace label (nsindex.go).
	ownTerm    term
	hasOwnTerm bool
	members    map[*member]struct{}
	// keys are the labels the expression's result depends on.
	keys []string
	// cache is the sorted member list State last built (valid when cached).
	cache  []Member
	cached bool
}

// labelIndex keeps the membership of every live expression over every member incrementally.
// An inverted index on label terms limits the work of a member change to the expressions
// that could match it (plus those it was in), and the work of a new expression to the
// members that carry its required term.
type labelIndex struct {
	exprs     map[string]*exprEntry
	byID      map[string]*exprEntry
	byTerm    map[term]map[*exprEntry]struct{}
	unindexed map[*exprEntry]struct{}
	members   map[string]*member
	// byLabel holds the members carrying each label=value; keyValues counts, per label key,
	// the members carrying each value (an any-value term is the union of its values).
	byLabel   map[term]map[*member]struct{}
	keyValues map[string]map[string]int
	scratch   map[*exprEntry]struct{}
	// nsKeyUsers holds the expressions depending on each pcns.* key (nsindex.go).
	nsKeyUsers map[string]map[*exprEntry]struct{}
	// evals counts expression evaluations (tests check the index limits them).
	evals uint64
	// onChange is called for every membership change.
	onChange func(e *exprEntry, m *member, added bool)
}

func newLabelIndex(onChange func(*exprEntry, *member, bool)) *labelIndex {
	return &labelIndex{
		exprs:      map[string]*exprEntry{},
		byID:       map[string]*exprEntry{},
		byTerm:     map[term]map[*exprEntry]struct{}{},
		unindexed:  map[*exprEntry]struct{}{},
		members:    map[string]*member{},
		byLabel:    map[term]map[*member]struct{}{},
		keyValues:  map[string]map[string]int{},
		scratch:    map[*exprEntry]struct{}{},
		onChange:   onChange,
		nsKeyUsers: map[string]map[*exprEntry]struct{}{},
	}
}

// acquire returns the live entry for x, creating and populating it on first use.
func (ix *labelIndex) acquire(x *selExpr) *exprEntry {
	if e, ok := ix.exprs[x.key]; ok {
		e.refs++
		return e
	}
	e := &exprEntry{x: x, id: setID("s-", x.key), refs: 1, members: map[*member]struct{}{}, keys: x.labelKeys()}
	best := 0
	for _, t := range x.indexTerms() {
		if n := ix.population(t); !e.indexed || n < best {
			e.term, e.indexed, best = t, true, n
		}
		if isOwnTerm(t) && (!e.hasOwnTerm || e.ownTerm.any && !t.any) {
			e.ownTerm, e.hasOwnTerm = t, true
		}
	}
	ix.exprs[x.key] = e
	ix.byID[e.id] = e
	ix.fileNSKeys(e, true)
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
	delete(ix.byID, e.id)
	ix.fileNSKeys(e, false)
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

// upsert adds or replaces a member and re-evaluates only the candidate expressions: those
// the member was in, those filed under a label it carries (or unindexed), and of these only
// the ones that refer to a label whose value changed.
func (ix *labelIndex) upsert(key string, id identity, addrs []netip.Prefix, ports []NamedPort, ep *EndpointInput) *member {
	m, existed := ix.members[key]
	if !existed {
		m = &member{key: key, in: map[*exprEntry]struct{}{}}
		ix.members[key] = m
	}
	old := m.id.labels
	var changed map[string]bool // nil: evaluate every candidate
	if existed && m.id.namespace == id.namespace && m.id.sa == id.sa {
		changed = map[string]bool{}
		for k, v := range old {
			if nv, ok := id.labels[k]; !ok || nv != v {
				changed[k] = true
				ix.dropLabel(m, k, v)
			}
		}
		for k, v := range id.labels {
			if ov, ok := old[k]; !ok || ov != v {
				changed[k] = true
				ix.addLabel(m, k, v)
			}
		}
	} else {
		for k, v := range old {
			ix.dropLabel(m, k, v)
		}
		for k, v := range id.labels {
			ix.addLabel(m, k, v)
		}
	}
	m.id, m.addrs, m.ports, m.ep = id, addrs, ports, ep
	if changed != nil && len(changed) == 0 {
		return m
	}
	cands := ix.scratch
	clear(cands)
	add := func(e *exprEntry) {
		if changed == nil || e.dependsOn(changed) {
			cands[e] = struct{}{}
		}
	}
	for e := range m.in {
		add(e)
	}
	for e := range ix.unindexed {
		add(e)
	}
	for k, v := range id.labels {
		for e := range ix.byTerm[term{key: k, value: v}] {
			add(e)
		}
		for e := range ix.byTerm[term{key: k, any: true}] {
			add(e)
		}
	}
	for e := range cands {
		ix.eval(e, m)
	}
	clear(cands)
	return m
}

func (e *exprEntry) dependsOn(changed map[string]bool) bool {
	for _, k := range e.keys {
		if changed[k] {
			return true
		}
	}
	return false
}

func (ix *labelIndex) addLabel(m *member, k, v string) {
	addTo(ix.byLabel, term{key: k, value: v}, m)
	vals, ok := ix.keyValues[k]
	if !ok {
		vals = map[string]int{}
		ix.keyValues[k] = vals
	}
	vals[v]++
}

func (ix *labelIndex) dropLabel(m *member, k, v string) {
	removeFrom(ix.byLabel, term{key: k, value: v}, m)
	if vals, ok := ix.keyValues[k]; ok {
		vals[v]--
		if vals[v] <= 0 {
			delete(vals, v)
		}
		if len(vals) == 0 {
			delete(ix.keyValues, k)
		}
	}
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
	for k, v := range m.id.labels {
		ix.dropLabel(m, k, v)
	}
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
