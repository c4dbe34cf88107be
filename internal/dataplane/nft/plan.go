package nft

import (
	"strings"

	"sigs.k8s.io/knftables"
)

// PlanFull writes into tx a reconciliation of the kernel's table, as listed in have, to
// want, without flushing or deleting the table, and returns the chains whose rules it
// wrote. Only what differs is written: missing objects are declared (a set or map the
// kernel has is never declared again: the kernel finds a set by walking the table's
// sets by name, so every command naming a set costs time proportional to their
// number); missing set elements are added, elements whose value differs are replaced,
// and a set with elements it should not have (or whose elements could not be read) is
// flushed and refilled; a chain is flushed and refilled unless memo shows that the
// kernel holds exactly its rules; objects that are not desired are deleted after
// everything that could reference them was replaced. The transaction is atomic, so the
// packet path never sees a partial state. A kernel that already equals want gets an
// empty transaction.
func PlanFull(tx *knftables.Transaction, want *Table, have *Listing, memo map[Rule]string) []string {
	return planFull(tx, want, have, memo, false)
}

func planFull(tx *knftables.Transaction, want *Table, have *Listing, memo ruleMemo, batch bool) []string {
	if !have.Exists {
		tx.Add(&knftables.Table{})
	}
	for _, name := range sortedKeys(want.Sets) {
		if s := want.Sets[name]; have.set(s) == nil {
			tx.Add(s.object())
		}
	}
	for _, name := range sortedKeys(want.Chains) {
		c, lc := want.Chains[name], have.Chains[name]
		if lc == nil || lc.Hook != hookKey(c.Hook) {
			tx.Add(c.object())
		}
	}
	for _, name := range sortedKeys(want.Sets) {
		if s := want.Sets[name]; !s.Verdict() {
			syncElements(tx, s, have.set(s), batch)
		}
	}
	var written []string
	for _, name := range sortedKeys(want.Chains) {
		c, lc := want.Chains[name], have.Chains[name]
		if lc != nil && memo.sameRules(c, lc) {
			continue
		}
		if lc != nil {
			tx.Flush(c.object())
		}
		addRules(tx, c)
		written = append(written, name)
	}
	for _, name := range sortedKeys(want.Sets) {
		if s := want.Sets[name]; s.Verdict() {
			syncElements(tx, s, have.set(s), batch)
		}
	}
	var extraChains, extraSets, extraMaps []string
	for _, name := range sortedKeys(have.Chains) {
		if want.Chains[name] == nil {
			extraChains = append(extraChains, name)
		}
	}
	for _, name := range sortedKeys(have.Sets) {
		if ls, s := have.Sets[name], want.Sets[name]; s == nil || s.Map != ls.Map {
			if ls.Map {
				extraMaps = append(extraMaps, name)
			} else {
				extraSets = append(extraSets, name)
			}
		}
	}
	removeStale(tx, extraChains, extraSets, extraMaps)
	return written
}

// set returns the listed set or map named like s and of its kind, or nil.
func (l *Listing) set(s *Set) *ListedSet {
	if ls := l.Sets[s.Name]; ls != nil && ls.Map == s.Map {
		return ls
	}
	return nil
}

// syncElements makes the listed set ls (nil: just declared) hold exactly s's elements.
func syncElements(tx *knftables.Transaction, s *Set, ls *ListedSet, batch bool) {
	if s.Dynamic {
		return // the packet path owns its elements
	}
	if ls == nil || !ls.Known {
		fill(tx, s, ls != nil, batch)
		return
	}
	for k := range ls.Elements {
		if _, ok := s.Elements[k]; !ok {
			fill(tx, s, true, batch) // an extra element: its listed key is not ours to name
			return
		}
	}
	var add []string
	for _, k := range sortedKeys(s.Elements) {
		e := s.Elements[k]
		v, ok := ls.Elements[k]
		if ok && v == strings.Join(e.Value, " . ") {
			continue
		}
		if ok {
			tx.Delete(s.element(Element{Key: e.Key})) // a map element with another value
		}
		add = append(add, k)
	}
	addElements(tx, s, add, batch)
}

// PlanPartial writes into tx the changes that turn old (what was last applied) into want:
// new objects are declared, changed chains are flushed and refilled, set and map elements
// are added and deleted individually, and objects no longer wanted are deleted last.
func PlanPartial(tx *knftables.Transaction, old, want *Table) {
	planPartial(tx, old, want, false)
}

func planPartial(tx *knftables.Transaction, old, want *Table, batch bool) {
	declare(tx, want, old)
	for _, name := range sortedKeys(want.Sets) {
		if s := want.Sets[name]; !s.Verdict() {
			updateElements(tx, old.Sets[name], s, batch)
		}
	}
	for _, name := range sortedKeys(want.Chains) {
		c, prev := want.Chains[name], old.Chains[name]
		switch {
		case prev == c:
			// The same object (a Renderer reuses unchanged ones): nothing to compare.
		case prev == nil:
			addRules(tx, c)
		case !prev.equal(c):
			if c.Hook != nil && (prev.Hook == nil || *prev.Hook != *c.Hook) {
				tx.Add(c.object())
			}
			tx.Flush(c.object())
			addRules(tx, c)
		}
	}
	for _, name := range sortedKeys(want.Sets) {
		if s := want.Sets[name]; s.Verdict() {
			updateElements(tx, old.Sets[name], s, batch)
		}
	}
	var staleChains, staleSets, staleMaps []string
	for _, name := range sortedKeys(old.Chains) {
		if want.Chains[name] == nil {
			staleChains = append(staleChains, name)
		}
	}
	for _, name := range sortedKeys(old.Sets) {
		if want.Sets[name] == nil {
			if old.Sets[name].Map {
				staleMaps = append(staleMaps, name)
			} else {
				staleSets = append(staleSets, name)
			}
		}
	}
	removeStale(tx, staleChains, staleSets, staleMaps)
}

// declare adds every set, map and chain of want that old does not have (all of them
// when old is nil; "add" of an existing identical object is a no-op in nft).
func declare(tx *knftables.Transaction, want, old *Table) {
	for _, name := range sortedKeys(want.Sets) {
		if old == nil || old.Sets[name] == nil {
			tx.Add(want.Sets[name].object())
		}
	}
	for _, name := range sortedKeys(want.Chains) {
		if old == nil || old.Chains[name] == nil {
			tx.Add(want.Chains[name].object())
		}
	}
}

func fill(tx *knftables.Transaction, s *Set, existed, batch bool) {
	if s.Dynamic {
		return // the packet path owns its elements
	}
	if existed {
		tx.Flush(s.object())
	}
	addElements(tx, s, sortedKeys(s.Elements), batch)
}

func addRules(tx *knftables.Transaction, c *Chain) {
	for _, r := range c.Rules {
		tx.Add(r.object(c.Name))
	}
}

func updateElements(tx *knftables.Transaction, prev, s *Set, batch bool) {
	if prev == s {
		return // the same object: unchanged
	}
	if prev == nil {
		fill(tx, s, false, batch)
		return
	}
	var del, add []string
	for _, k := range sortedKeys(prev.Elements) {
		e, ok := s.Elements[k]
		if !ok || !e.equal(prev.Elements[k]) {
			del = append(del, k)
		}
	}
	for _, k := range sortedKeys(s.Elements) {
		e := s.Elements[k]
		if p, ok := prev.Elements[k]; !ok || !p.equal(e) {
			add = append(add, k)
		}
	}
	if batch && !s.Map {
		for _, k := range batches(del) {
			tx.Delete(s.element(Element{Key: []string{k}}))
		}
	} else {
		for _, k := range del {
			tx.Delete(s.element(prev.Elements[k]))
		}
	}
	addElements(tx, s, add, batch)
}

// addElements adds s's elements with the given keys: one command each, or, when batch
// is set and s is a set, one command per batchSize elements ("{ k1, k2, ... }"). nft
// then looks the set up once per command instead of once per element, which is what
// makes big transactions slow when a table has many sets (measured: 10k sets of ten
// elements load in 3.4 s batched, 13.8 s one by one). knftables.Fake cannot parse
// element lists, so the Applier batches only for other implementations.
func addElements(tx *knftables.Transaction, s *Set, keys []string, batch bool) {
	if batch && !s.Map {
		for _, k := range batches(keys) {
			tx.Add(s.element(Element{Key: []string{k}}))
		}
		return
	}
	for _, k := range keys {
		tx.Add(s.element(s.Elements[k]))
	}
}

// batchSize is the most elements one batched element command carries.
const batchSize = 1024

// batches joins keys into comma-separated lists of at most batchSize keys.
func batches(keys []string) []string {
	var out []string
	for len(keys) > 0 {
		n := min(len(keys), batchSize)
		out = append(out, strings.Join(keys[:n], ", "))
		keys = keys[n:]
	}
	return out
}

// removeStale flushes stale chains (dropping their references to other objects), then
// deletes stale sets and maps (dropping map references to chains), then the chains.
func removeStale(tx *knftables.Transaction, chains, sets, maps []string) {
	for _, name := range chains {
		tx.Flush(&knftables.Chain{Name: name})
	}
	for _, name := range sets {
		tx.Delete(&knftables.Set{Name: name})
	}
	for _, name := range maps {
		tx.Delete(&knftables.Map{Name: name})
	}
	for _, name := range chains {
		tx.Delete(&knftables.Chain{Name: name})
	}
}
