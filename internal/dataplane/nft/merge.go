package nft

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/trellisnet/trellis/internal/policy"
)

// Merging keeps the per-packet cost flat when many policies apply to an endpoint.
//
// A run of consecutive policies in one tier whose rules for the direction are all plain
// Allow rules (protocol tcp, udp or sctp; peer addresses from one selector set or from
// nets, all single addresses; single destination ports, no source ports; nothing
// negated, no match on the endpoint's own address) allows a packet exactly when its
// (peer address, protocol, destination port) is in the union of the rules' products. That union is a hash set of exact tuples: intervals are
// left out on purpose, because the kernel rejects concatenated interval elements whose
// ends fall inside one another, which unions of CIDRs and ranges produce. Allow rules have no side effect and order among them does not matter, so
// the run becomes one lookup in a concatenated set holding that union, and a packet
// does O(1) work however many policies the run has. The set is named after the run's
// policy IDs, so endpoints with the same run share it; set membership changes reach it
// through the ordinary element diff.

// mergeableRun returns how many policies from the start of ids are mergeable, and
// whether they are to be merged: the run is at least the configured minimum long and
// merging pays (mergePays).
func (r *renderer) mergeableRun(dir direction, ctx chainCtx, ids []policy.PolicyID) (n int, merge bool) {
	if r.cfg.MergeRun < 0 || ctx.untracked {
		return 0, false
	}
	for _, id := range ids {
		key := dir.short + "|" + id.String()
		ok, seen := r.mergeable[key]
		if !seen {
			var p *policy.Policy
			p, ok = r.st.Policy(id)
			ok = ok && r.mergeablePolicy(p, dir)
			r.mergeable[key] = ok
		}
		if !ok {
			break
		}
		n++
	}
	return n, n >= r.cfg.MergeRun && r.mergePays(dir, ids[:n])
}

// mergeGrowth is how many times more elements a merged set may hold than the sets and
// nets its policies' rules use on their own.
const mergeGrowth = 2

// mergePays reports whether merging the run costs at most mergeGrowth times the
// elements its rules need unmerged. A merged set holds the cross product of each rule's
// peer addresses and ports, and one set exists per distinct run, while selector sets
// are shared by every rule and endpoint naming them: many policies allowing a few
// ports from the same large selector would multiply the kernel's elements (and every
// sync's work) for a per-packet saving that a handful of jumps does not need.
func (r *renderer) mergePays(dir direction, ids []policy.PolicyID) bool {
	merged, plain := 0, 0
	seen := map[string]bool{}
	for _, id := range ids {
		p, _ := r.st.Policy(id)
		rules := dirRules(p.Ingress, p.Egress, dir)
		for _, rule := range rules {
			peer := mergePeer(rule, dir)
			for _, fam := range []int{4, 6} {
				if rule.IPVersion != 0 && rule.IPVersion != fam {
					continue
				}
				n := len(r.peerPrefixes(peer, fam))
				merged += n * len(rule.Destination.Ports)
				switch {
				case len(peer.IPSets) == 1:
					if k := fmt.Sprint(fam, "|", peer.IPSets[0]); !seen[k] {
						seen[k] = true
						plain += n
					}
				default:
					plain += n
				}
			}
		}
	}
	return merged <= mergeGrowth*plain
}

func (r *renderer) mergeablePolicy(p *policy.Policy, dir direction) bool {
	rules := dirRules(p.Ingress, p.Egress, dir)
	for _, rule := range rules {
		if !r.mergeableRule(rule, dir) {
			return false
		}
	}
	return true
}

func (r *renderer) mergeableRule(rule policy.Rule, dir direction) bool {
	switch protoName(rule.Protocol) {
	case "tcp", "udp", "sctp":
	default:
		return false
	}
	if rule.Action != policy.ActionAllow || rule.NotProtocol != "" || rule.ICMP != nil || rule.NotICMP != nil {
		return false
	}
	// The merged key is (peer address . protocol . destination port): the peer side
	// may match only addresses, the endpoint's side nothing, and the ports are the
	// destination's, which is the endpoint for ingress and the peer for egress.
	peer, local := rule.Source, rule.Destination
	if !dir.ingres {
		peer, local = local, peer
	}
	if len(peer.NotNets)+len(peer.NotIPSets)+len(peer.NotPorts)+len(peer.NamedPortSets)+len(peer.NotNamedPortSets) > 0 {
		return false
	}
	if len(peer.IPSets) > 1 || (len(peer.IPSets) == 1 && len(peer.Nets) > 0) {
		return false
	}
	if len(local.Nets)+len(local.NotNets)+len(local.IPSets)+len(local.NotIPSets)+len(local.NamedPortSets)+len(local.NotNamedPortSets)+len(local.NotPorts) > 0 {
		return false
	}
	if len(rule.Source.Ports) > 0 || len(peer.IPSets)+len(peer.Nets) == 0 || len(rule.Destination.Ports) == 0 {
		return false
	}
	for _, p := range rule.Destination.Ports {
		if p.First != p.Last {
			return false
		}
	}
	for _, fam := range []int{4, 6} {
		for _, p := range r.peerPrefixes(peer, fam) {
			if !p.IsSingleIP() {
				return false
			}
		}
	}
	return true
}

// mergedRules renders a mergeable run as one rule per IP family that has elements.
func (r *renderer) mergedRules(dir direction, tier string, ids []policy.PolicyID, pass string) []Rule {
	key := dir.label + "|" + runKey(ids)
	return r.runRules(dir, ids, func(fam int) (*Set, string) {
		r.record(endpointDecl{dir: dir, fam: fam, mergeKey: key, run: ids})
		s := r.mergedSet(dir, fam, key, ids)
		if s == nil {
			return nil, ""
		}
		return s, withLog(fmt.Sprintf("meta mark & %s == 0x00000000 %s %s . meta l4proto . th dport @%s counter", pass, ipWord(fam), peerField(dir), s.Name),
			r.flowLog(dir, false, policy.ActionAllow, mergedRunKey(tier)), "accept")
	}, fmt.Sprintf("%s tier %s", dir.label, tier), "merged")
}

// runRules renders one rule per IP family of a merged or guarded run: rule gives the
// family's set (nil: no rule for that family) and the rule's text; the comment names the
// run's first and last policy.
func (r *renderer) runRules(dir direction, ids []policy.PolicyID, rule func(fam int) (*Set, string), where, how string) []Rule {
	var out []Rule
	for _, fam := range []int{4, 6} {
		s, text := rule(fam)
		if s == nil {
			continue
		}
		out = append(out, Rule{Text: text,
			Comment: trimComment(fmt.Sprintf("%s policies %s..%s (%d %s)", where, ids[0].Short(), ids[len(ids)-1].Short(), len(ids), how))})
	}
	return out
}

// dirRules picks a policy's or profile's rules of direction dir.
func dirRules(ingress, egress []policy.Rule, dir direction) []policy.Rule {
	if dir.ingres {
		return ingress
	}
	return egress
}

// runKey names a run of policies by their IDs.
func runKey(ids []policy.PolicyID) string {
	canon := make([]string, len(ids))
	for i, id := range ids {
		canon[i] = id.String()
	}
	return strings.Join(canon, ",")
}

// peerField is the packet field holding the peer's address: the source for ingress.
func peerField(dir direction) string {
	if dir.ingres {
		return "saddr"
	}
	return "daddr"
}

func ipWord(fam int) string {
	if fam == 6 {
		return "ip6"
	}
	return "ip"
}

type mergedElem struct {
	prefix netip.Prefix
	proto  string
	ports  policy.PortRange
}

func (r *renderer) mergedSet(dir direction, fam int, key string, ids []policy.PolicyID) *Set {
	name := hashName(fmt.Sprintf("m%d-", fam), "merged|"+key)
	if old := r.t.Sets[name]; old != nil {
		return old
	}
	ckey := ""
	if r.cache != nil {
		ckey = r.mergedKey(dir, name, ids)
		if s, ok := lookup(r.cache.old.sets, r.cache.next.sets, ckey); ok {
			if s != nil {
				r.t.Sets[name] = s
			}
			return s
		}
	}
	s := r.buildMergedSet(dir, fam, name, ids)
	if r.cache != nil {
		r.cache.next.sets[ckey] = s
	}
	if s != nil {
		r.t.Sets[name] = s
	}
	return s
}

// mergedKey is the cache key of a merged set: its name and the fingerprints of the run's
// policies and of the selector sets their rules name.
func (r *renderer) mergedKey(dir direction, name string, ids []policy.PolicyID) string {
	var b strings.Builder
	b.WriteString("merged|" + name)
	for _, id := range ids {
		p, _ := r.st.Policy(id)
		b.WriteString("|" + r.ruleOwnerFP("policy", id.String(), p))
		rules := dirRules(p.Ingress, p.Egress, dir)
		for _, rule := range rules {
			for _, m := range []policy.Match{rule.Source, rule.Destination} {
				for _, set := range m.IPSets {
					b.WriteString("|" + r.ipsetFP(set))
				}
			}
		}
	}
	return b.String()
}

func (r *renderer) buildMergedSet(dir direction, fam int, name string, ids []policy.PolicyID) *Set {
	var elems []mergedElem
	for _, id := range ids {
		p, _ := r.st.Policy(id)
		rules := dirRules(p.Ingress, p.Egress, dir)
		for _, rule := range rules {
			if rule.IPVersion != 0 && rule.IPVersion != fam {
				continue
			}
			for _, pr := range r.peerPrefixes(mergePeer(rule, dir), fam) {
				for _, pt := range rule.Destination.Ports {
					elems = append(elems, mergedElem{pr, protoName(rule.Protocol), pt})
				}
			}
		}
	}
	if len(elems) == 0 {
		return nil
	}
	s := &Set{Name: name, Type: addrType(fam) + " . inet_proto . inet_service"}
	for _, e := range elems {
		s.AddElement([]string{e.prefix.Addr().String(), e.proto, fmt.Sprint(e.ports.First)}, nil)
	}
	return s
}

// mergePeer is the side of a mergeable rule that names the peer's addresses: the
// source for ingress, the destination for egress.
func mergePeer(rule policy.Rule, dir direction) policy.Match {
	if dir.ingres {
		return rule.Source
	}
	return rule.Destination
}

// peerPrefixes are the peer addresses a mergeable rule allows in family fam: its nets,
// the members of its selector set, or everything.
func (r *renderer) peerPrefixes(peer policy.Match, fam int) []netip.Prefix {
	switch {
	case len(peer.Nets) > 0:
		return normalizePrefixes(peer.Nets, fam)
	case len(peer.IPSets) == 1:
		return r.setPrefixes(peer.IPSets[0], fam)
	default:
		if fam == 4 {
			return []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")}
		}
		return []netip.Prefix{netip.MustParsePrefix("::/0")}
	}
}
