package nft

import (
	"fmt"
	"net/netip"

	"github.com/trellisnet/trellis/internal/policy"
)

// Guards keep the per-packet cost flat for runs that merging cannot take: policies with
// Deny, Pass or Log rules, port ranges, several ports of a selector, or anything else
// merge.go leaves alone.
//
// A rule whose peer side requires an address (nets, or membership of a selector set)
// can match only packets whose peer address is one of those. When every rule of every
// policy of a run of consecutive policies in a tier does, the union of those addresses
// is a superset of what the whole run can match: a packet whose peer is outside it
// passes through the run untouched. The endpoint chain then holds one rule per family
//
//	meta mark & PASS == 0 ip saddr @guard jump guard-chain
//
// and the guard chain holds the run's policy jumps, unchanged. A packet outside the
// union pays one interval-set lookup for the whole run instead of one jump per policy;
// a packet inside it takes the jumps as before. Verdicts need no care: accept and drop
// end the packet's way through the hook from any depth, Pass sets the mark that the
// remaining jumps (in the guard chain and after it) test, and a chain that runs out
// returns to the rule after the guard. The guard set and chain are named after the
// run, so endpoints with the same run share them, and the guard set follows the peer
// sets' members through the ordinary element diff.

// guardableRun returns how many policies from the start of ids a guard can cover (0
// when guards are off).
func (r *renderer) guardableRun(dir direction, ids []policy.PolicyID) int {
	if r.cfg.MergeRun < 0 {
		return 0
	}
	n := 0
	for _, id := range ids {
		key := "g" + dir.short + "|" + id.String()
		ok, seen := r.mergeable[key]
		if !seen {
			p, exists := r.st.Policy(id)
			ok = exists && guardablePolicy(p, dir)
			r.mergeable[key] = ok
		}
		if !ok {
			break
		}
		n++
	}
	return n
}

func guardablePolicy(p *policy.Policy, dir direction) bool {
	rules := dirRules(p.Ingress, p.Egress, dir)
	for _, rule := range rules {
		peer := mergePeer(rule, dir)
		switch {
		case len(peer.Nets) > 0:
			for _, n := range peer.Nets {
				if n.Bits() == 0 {
					return false // the guard would hold everything
				}
			}
		case len(peer.IPSets) == 0:
			return false
		}
	}
	return true
}

// guardPrefixes are the family-fam addresses rule's peer side requires: its nets (the
// address must be in one of them), else its first selector set (the address must be in
// every one, so in the first).
func (r *renderer) guardPrefixes(rule policy.Rule, dir direction, fam int) []netip.Prefix {
	if rule.IPVersion != 0 && rule.IPVersion != fam {
		return nil
	}
	peer := mergePeer(rule, dir)
	if len(peer.Nets) > 0 {
		return normalizePrefixes(peer.Nets, fam)
	}
	return r.setPrefixes(peer.IPSets[0], fam)
}

// guardRules renders a guarded run: its guard chain, and a rule per family whose guard
// set has elements (a family without any cannot match the run at all).
func (r *renderer) guardRules(ctx chainCtx, dir direction, tier string, ids []policy.PolicyID, pass string) []Rule {
	key := fmt.Sprint(dir.label, "|", ctx.untracked, "|", tier, "|", runKey(ids))
	chain := r.guardChain(dir, ctx.untracked, tier, key, ids)
	r.record(endpointDecl{dir: dir, untracked: ctx.untracked, tier: tier, guardKey: key, run: ids})
	return r.runRules(dir, ids, func(fam int) (*Set, string) {
		r.record(endpointDecl{dir: dir, fam: fam, guardKey: key, run: ids})
		s := r.guardSet(dir, fam, key, ids)
		if s == nil {
			return nil, ""
		}
		return s, fmt.Sprintf("meta mark & %s == 0x00000000 %s %s @%s jump %s", pass, ipWord(fam), peerField(dir), s.Name, chain)
	}, fmt.Sprintf("%s tier %s", dir.label, tier), "guarded")
}

// guardChain declares the chain of a guarded run's policy jumps (and the policy chains
// they jump to) and returns its name.
func (r *renderer) guardChain(dir direction, untracked bool, tier, key string, ids []policy.PolicyID) string {
	name := hashName("gu-"+dir.short+"-", "guard|"+key)
	if r.t.Chains[name] != nil {
		return name
	}
	// The policy chains are declared first, so that a cached guard chain declares them
	// too; its rules depend only on the names, which follow from the IDs.
	for _, id := range ids {
		r.policyChain(dir, id, untracked)
	}
	pass := fmt.Sprintf("0x%08x", r.cfg.PassMark)
	ctx := chainCtx{untracked: untracked}
	r.t.Chains[name] = r.cachedChain(name, name, func() []Rule {
		rules := make([]Rule, 0, len(ids))
		for _, id := range ids {
			rules = append(rules, r.policyJump(ctx, dir, tier, id, pass))
		}
		return rules
	})
	return name
}

// guardSet declares the family-fam guard set of a run (nil when no rule of the run can
// match that family).
func (r *renderer) guardSet(dir direction, fam int, key string, ids []policy.PolicyID) *Set {
	build := func() *Set {
		var ps []netip.Prefix
		for _, id := range ids {
			p, _ := r.st.Policy(id)
			rules := dirRules(p.Ingress, p.Egress, dir)
			for _, rule := range rules {
				ps = append(ps, r.guardPrefixes(rule, dir, fam)...)
			}
		}
		ps = normalizePrefixes(ps, fam)
		if len(ps) == 0 {
			return nil
		}
		interval := false
		for _, p := range ps {
			interval = interval || !p.IsSingleIP()
		}
		pre := fmt.Sprintf("g%d-", fam)
		if interval {
			pre = fmt.Sprintf("g%di-", fam)
		}
		s := &Set{Name: hashName(pre, "guard|"+key), Type: addrType(fam), Interval: interval}
		for _, p := range ps {
			s.AddElement([]string{prefixString(p)}, nil)
		}
		return s
	}
	memo := fmt.Sprint(fam, "|", key)
	if s, ok := r.guards[memo]; ok {
		return s
	}
	var s *Set
	if r.cache != nil {
		ckey := r.mergedKey(dir, "guard|"+memo, ids)
		var hit bool
		if s, hit = lookup(r.cache.old.sets, r.cache.next.sets, ckey); !hit {
			s = build()
			r.cache.next.sets[ckey] = s
		}
	} else {
		s = build()
	}
	r.guards[memo] = s
	if s != nil {
		r.t.Sets[s.Name] = s
	}
	return s
}
