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
// nets, all single addresses; single local ports; nothing negated, no local address
// match) allows a packet exactly when its (peer address, protocol, local port) is in the
// union of the rules' products. That union is a hash set of exact tuples: intervals are
// left out on purpose, because the kernel rejects concatenated interval elements whose
// ends fall inside one another, which unions of CIDRs and ranges produce. Allow rules have no side effect and order among them does not matter, so
// the run becomes one lookup in a concatenated set holding that union, and a packet
// does O(1) work however many policies the run has. The set is named after the run's
// policy IDs, so endpoints with the same run share it; set membership changes reach it
// through the ordinary element diff.

// mergeableRun returns how many policies from the start of ids form a mergeable run, or
// 0 when the run is shorter than the configured minimum.
func (r *renderer) mergeableRun(dir direction, ctx chainCtx, ids []policy.PolicyID) int {
	if r.cfg.MergeRun < 0 || ctx.untracked {
		return 0
	}
	n := 0
	for _, id := range ids {
		p, ok := r.st.Policy(id)
		if !ok || !r.mergeablePolicy(p, dir) {
			break
		}
		n++
	}
	if n < r.cfg.MergeRun {
		return 0
	}
	return n
}

func (r *renderer) mergeablePolicy(p *policy.Policy, dir direction) bool {
	rules := p.Egress
	if dir.ingres {
		rules = p.Ingress
	}
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
	peer, local := rule.Source, rule.Destination
	if !dir.ingres {
		peer, local = local, peer
	}
	if len(peer.NotNets)+len(peer.NotIPSets)+len(peer.Ports)+len(peer.NotPorts)+len(peer.NamedPortSets)+len(peer.NotNamedPortSets) > 0 {
		return false
	}
	if len(peer.IPSets) > 1 || (len(peer.IPSets) == 1 && len(peer.Nets) > 0) {
		return false
	}
	if len(local.Nets)+len(local.NotNets)+len(local.IPSets)+len(local.NotIPSets)+len(local.NamedPortSets)+len(local.NotNamedPortSets)+len(local.NotPorts) > 0 {
		return false
	}
	if len(peer.IPSets)+len(peer.Nets) == 0 || len(local.Ports) == 0 {
		return false
	}
	for _, p := range local.Ports {
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
	canon := make([]string, len(ids))
	for i, id := range ids {
		canon[i] = id.String()
	}
	key := dir.label + "|" + strings.Join(canon, ",")
	peer := "saddr"
	if !dir.ingres {
		peer = "daddr"
	}
	var out []Rule
	for _, fam := range []int{4, 6} {
		s := r.mergedSet(dir, fam, key, ids)
		if s == nil {
			continue
		}
		ip := map[int]string{4: "ip", 6: "ip6"}[fam]
		out = append(out, Rule{
			Text:    fmt.Sprintf("meta mark & %s == 0x00000000 %s %s . meta l4proto . th dport @%s counter accept", pass, ip, peer, s.Name),
			Comment: trimComment(fmt.Sprintf("%s tier %s policies %s..%s (%d merged)", dir.label, tier, ids[0].Short(), ids[len(ids)-1].Short(), len(ids))),
		})
	}
	return out
}

type mergedElem struct {
	prefix netip.Prefix
	proto  string
	ports  policy.PortRange
}

func (r *renderer) mergedSet(dir direction, fam int, key string, ids []policy.PolicyID) *Set {
	var elems []mergedElem
	for _, id := range ids {
		p, _ := r.st.Policy(id)
		rules := p.Egress
		if dir.ingres {
			rules = p.Ingress
		}
		for _, rule := range rules {
			if rule.IPVersion != 0 && rule.IPVersion != fam {
				continue
			}
			peer, local := rule.Source, rule.Destination
			if !dir.ingres {
				peer, local = local, peer
			}
			for _, pr := range r.peerPrefixes(peer, fam) {
				for _, pt := range local.Ports {
					elems = append(elems, mergedElem{pr, protoName(rule.Protocol), pt})
				}
			}
		}
	}
	if len(elems) == 0 {
		return nil
	}
	s := &Set{Name: hashName(fmt.Sprintf("m%d-", fam), "merged|"+key), Type: addrType(fam) + " . inet_proto . inet_service"}
	if old := r.t.Sets[s.Name]; old != nil {
		return old
	}
	for _, e := range elems {
		s.AddElement([]string{e.prefix.Addr().String(), e.proto, fmt.Sprint(e.ports.First)}, nil)
	}
	r.t.Sets[s.Name] = s
	return s
}

// peerPrefixes are the peer addresses a mergeable rule allows in family fam: its nets,
// the members of its selector set, or everything.
func (r *renderer) peerPrefixes(peer policy.Match, fam int) []netip.Prefix {
	switch {
	case len(peer.Nets) > 0:
		return normalizePrefixes(peer.Nets, fam)
	case len(peer.IPSets) == 1:
		st, ok := r.st.IPSet(peer.IPSets[0])
		if !ok {
			return nil
		}
		var ps []netip.Prefix
		for _, m := range st.Members {
			ps = append(ps, m.Prefix)
		}
		return normalizePrefixes(ps, fam)
	default:
		if fam == 4 {
			return []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")}
		}
		return []netip.Prefix{netip.MustParsePrefix("::/0")}
	}
}
