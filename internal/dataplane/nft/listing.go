package nft

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"syscall"

	"sigs.k8s.io/knftables"
)

// Listing is the kernel's table as a full sync reads it, in one pass: every chain with
// its hook and a fingerprint of each rule, every named set and map with its elements in
// the canonical text form of Set.Elements (key parts and value parts joined with " . ").
//
// A rule's fingerprint is opaque: for the real kernel it hashes the rule's expressions
// as netlink returns them (without counter values and with anonymous set names
// dropped), for knftables.Fake its text and comment. The Applier learns which
// fingerprint each rendered rule has from a listing right after the transaction that
// wrote it (ruleMemo); a chain whose rules are all known and equal is left alone.
type Listing struct {
	// Exists is false when the table does not exist (everything is then created).
	Exists bool
	Chains map[string]*ListedChain
	Sets   map[string]*ListedSet
}

// ListedChain is one chain of the kernel's table.
type ListedChain struct {
	// Hook is the base chain's hookKey ("" for a regular chain).
	Hook string
	// Known is false when the rules could not be listed (the chain is then refilled).
	Known bool
	Rules []string
}

// hookKey is the comparable form of a chain's hook: type, hook and numeric priority
// ("" for a regular chain, "?" when the priority does not parse, which never equals a
// listed hook, so the chain is declared again).
func hookKey(h *Hook) string {
	if h == nil {
		return ""
	}
	prio, err := knftables.ParsePriority(knftables.InetFamily, strings.ReplaceAll(string(h.Priority), " ", ""))
	if err != nil {
		return "?"
	}
	return fmt.Sprintf("%s/%s/%d", h.Type, h.Hook, prio)
}

// ListedSet is one named set or map of the kernel's table.
type ListedSet struct {
	Map bool
	// Known is false when the elements could not be read in canonical form (an element
	// type the listing does not decode); the set is then flushed and refilled.
	Known bool
	// Elements maps each element's key to its value ("" for set elements).
	Elements map[string]string
}

// tableLister is implemented by the real kernel's knftables.Interface (netlink).
type tableLister interface {
	// listTable lists the table; set elements are read and decoded only for the sets
	// want has under the same name and kind (the others are deleted anyway).
	listTable(ctx context.Context, want *Table) (*Listing, error)
	// listRules lists the rule fingerprints of the named chains.
	listRules(ctx context.Context, chains []string) (map[string][]string, error)
	// generation returns the nftables generation of the network namespace: the kernel
	// increments it with every committed transaction (any table), so an unchanged
	// generation proves that nothing changed.
	generation(ctx context.Context) (uint32, error)
}

// generation returns nft's generation, if it has one (the kernel).
func generation(ctx context.Context, nft knftables.Interface) (uint32, bool) {
	if l, ok := nft.(tableLister); ok {
		g, err := l.generation(ctx)
		return g, err == nil
	}
	return 0, false
}

// nextGen is the generation after g (the kernel skips 0 when it wraps).
func nextGen(g uint32) uint32 {
	if g++; g == 0 {
		g = 1
	}
	return g
}

// listTable lists nft's table: through netlink for the kernel, from the fake's content
// for knftables.Fake, and by names only (every set unknown, no rule fingerprints) for
// any other implementation.
func listTable(ctx context.Context, nft knftables.Interface, want *Table) (*Listing, error) {
	switch nft := nft.(type) {
	case tableLister:
		return nft.listTable(ctx, want)
	case *knftables.Fake:
		return listFake(nft), nil
	}
	return listNames(ctx, nft)
}

// listRules lists the rule fingerprints of the named chains (nil when nft cannot).
func listRules(ctx context.Context, nft knftables.Interface, chains []string) (map[string][]string, error) {
	switch nft := nft.(type) {
	case tableLister:
		return nft.listRules(ctx, chains)
	case *knftables.Fake:
		out := map[string][]string{}
		l := listFake(nft)
		for _, name := range chains {
			if c := l.Chains[name]; c != nil {
				out[name] = c.Rules
			}
		}
		return out, nil
	}
	return nil, nil
}

func newListing() *Listing {
	return &Listing{Chains: map[string]*ListedChain{}, Sets: map[string]*ListedSet{}}
}

// listFake reads knftables.Fake's table.
func listFake(f *knftables.Fake) *Listing {
	l := newListing()
	if f.Table == nil {
		return l
	}
	l.Exists = true
	for name, c := range f.Table.Chains {
		lc := &ListedChain{Known: true}
		if c.Hook != nil && c.Type != nil && c.Priority != nil {
			lc.Hook = hookKey(&Hook{Type: *c.Type, Hook: *c.Hook, Priority: *c.Priority})
		}
		for _, r := range c.Rules {
			comment := ""
			if r.Comment != nil {
				comment = *r.Comment
			}
			lc.Rules = append(lc.Rules, fakeRuleFP(r.Rule, comment))
		}
		l.Chains[name] = lc
	}
	for name, s := range f.Table.Sets {
		l.Sets[name] = fakeElements(s.Elements, false)
	}
	for name, m := range f.Table.Maps {
		l.Sets[name] = fakeElements(m.Elements, true)
	}
	return l
}

func fakeElements(els []*knftables.Element, isMap bool) *ListedSet {
	s := &ListedSet{Map: isMap, Known: true, Elements: make(map[string]string, len(els))}
	for _, e := range els {
		s.Elements[strings.Join(e.Key, " . ")] = strings.Join(e.Value, " . ")
	}
	return s
}

// fakeRuleFP is the fingerprint of a rule in knftables.Fake.
func fakeRuleFP(text, comment string) string {
	sum := sha256.Sum256([]byte(text + "\x00" + comment))
	return string(sum[:16])
}

// listNames lists object names only: every chain and set is then rewritten.
func listNames(ctx context.Context, nft knftables.Interface) (*Listing, error) {
	all, err := nft.ListAll(ctx)
	if err != nil {
		if knftables.IsNotFound(err) || errors.Is(err, syscall.ENOENT) {
			return newListing(), nil
		}
		return nil, fmt.Errorf("list nftables table: %w", err)
	}
	l := newListing()
	l.Exists = true
	for _, name := range all["chain"] {
		l.Chains[name] = &ListedChain{Hook: "!"} // hook unknown: declared again
	}
	for typ, isMap := range map[string]bool{"set": false, "map": true} {
		for _, name := range all[typ] {
			if !strings.HasPrefix(name, "__") { // anonymous sets belong to rules
				l.Sets[name] = &ListedSet{Map: isMap}
			}
		}
	}
	return l, nil
}

// ruleMemo maps a rendered rule to the fingerprint the listing gives it.
type ruleMemo map[Rule]string

// learn records the fingerprints of want's rules from a listing of their chains taken
// right after the transaction that wrote them, with no other transaction committed in
// between (the Applier checks the generation). A chain whose rule count differs is
// skipped (its rules stay unknown, so it is rewritten next time).
func (m ruleMemo) learn(want *Table, listed map[string][]string) {
	for name, fps := range listed {
		c := want.Chains[name]
		if c == nil || len(c.Rules) != len(fps) {
			continue
		}
		for i, r := range c.Rules {
			m[r] = fps[i]
		}
	}
}

// prune keeps the entries of want's rules once the memo holds more than twice as many.
func (m ruleMemo) prune(want *Table) ruleMemo {
	n := 0
	for _, c := range want.Chains {
		n += len(c.Rules)
	}
	if len(m) <= 2*n+64 {
		return m
	}
	out := make(ruleMemo, n)
	for _, c := range want.Chains {
		for _, r := range c.Rules {
			if fp, ok := m[r]; ok {
				out[r] = fp
			}
		}
	}
	return out
}

// sameRules reports whether the listed chain holds exactly c's rules by the memo.
func (m ruleMemo) sameRules(c *Chain, lc *ListedChain) bool {
	if !lc.Known || len(c.Rules) != len(lc.Rules) {
		return false
	}
	for i, r := range c.Rules {
		if fp, ok := m[r]; !ok || fp != lc.Rules[i] {
			return false
		}
	}
	return true
}
