package nft

import (
	"sigs.k8s.io/knftables"
)

// Existing is what a full sync found in the kernel's table: object names by type.
type Existing struct {
	Chains map[string]bool
	Sets   map[string]bool
	Maps   map[string]bool
}

// PlanFull writes into tx a reconciliation of the kernel's table (whose object names are
// have) to want, without flushing or deleting the table: every desired object is
// (re)declared, every desired chain, set and map is flushed and refilled, and objects
// that are not desired are deleted after everything that could reference them was
// replaced. The transaction is atomic, so the packet path never sees a partial state.
func PlanFull(tx *knftables.Transaction, want *Table, have Existing) {
	tx.Add(&knftables.Table{})
	declare(tx, want, nil)
	for _, name := range sortedKeys(want.Sets) {
		if s := want.Sets[name]; !s.Verdict() {
			fill(tx, s, have.has(s))
		}
	}
	for _, name := range sortedKeys(want.Chains) {
		c := want.Chains[name]
		if have.Chains[name] {
			tx.Flush(c.object())
		}
		addRules(tx, c)
	}
	for _, name := range sortedKeys(want.Sets) {
		if s := want.Sets[name]; s.Verdict() {
			fill(tx, s, have.has(s))
		}
	}
	var extraChains, extraSets, extraMaps []string
	for _, name := range sortedKeys(have.Chains) {
		if want.Chains[name] == nil {
			extraChains = append(extraChains, name)
		}
	}
	for _, name := range sortedKeys(have.Sets) {
		if s := want.Sets[name]; s == nil || s.Map {
			extraSets = append(extraSets, name)
		}
	}
	for _, name := range sortedKeys(have.Maps) {
		if s := want.Sets[name]; s == nil || !s.Map {
			extraMaps = append(extraMaps, name)
		}
	}
	removeStale(tx, extraChains, extraSets, extraMaps)
}

func (e Existing) has(s *Set) bool {
	if s.Map {
		return e.Maps[s.Name]
	}
	return e.Sets[s.Name]
}

// PlanPartial writes into tx the changes that turn old (what was last applied) into want:
// new objects are declared, changed chains are flushed and refilled, set and map elements
// are added and deleted individually, and objects no longer wanted are deleted last.
func PlanPartial(tx *knftables.Transaction, old, want *Table) {
	declare(tx, want, old)
	for _, name := range sortedKeys(want.Sets) {
		if s := want.Sets[name]; !s.Verdict() {
			updateElements(tx, old.Sets[name], s)
		}
	}
	for _, name := range sortedKeys(want.Chains) {
		c, prev := want.Chains[name], old.Chains[name]
		switch {
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
			updateElements(tx, old.Sets[name], s)
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

func fill(tx *knftables.Transaction, s *Set, existed bool) {
	if existed {
		tx.Flush(s.object())
	}
	for _, k := range sortedKeys(s.Elements) {
		tx.Add(s.element(s.Elements[k]))
	}
}

func addRules(tx *knftables.Transaction, c *Chain) {
	for _, r := range c.Rules {
		tx.Add(r.object(c.Name))
	}
}

func updateElements(tx *knftables.Transaction, prev, s *Set) {
	if prev == nil {
		fill(tx, s, false)
		return
	}
	for _, k := range sortedKeys(prev.Elements) {
		e, ok := s.Elements[k]
		if !ok || !e.equal(prev.Elements[k]) {
			tx.Delete(s.element(prev.Elements[k]))
		}
	}
	for _, k := range sortedKeys(s.Elements) {
		e := s.Elements[k]
		if p, ok := prev.Elements[k]; !ok || !p.equal(e) {
			tx.Add(s.element(e))
		}
	}
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
