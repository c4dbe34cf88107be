package nft

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/trellisnet/trellis/internal/policy"
)

// ruleTexts renders one policy rule as nft rules: one per IP family that can match, and
// per alternative of source and destination port matches (numeric ports, or one of
// the named-port sets). Each ends with a counter, the flow-log statement log (when not
// "") and the action's verdict.
func (r *renderer) ruleTexts(rule policy.Rule, label, log string, untracked bool) []string {
	action := r.action(rule, label)
	if untracked && rule.Action == policy.ActionAllow {
		action = "notrack accept"
	}
	var out []string
	fams := []int{0}
	if familySpecific(rule) {
		fams = []int{4, 6}
	}
	for _, fam := range fams {
		base, ok := r.matchFamily(rule, fam)
		if !ok {
			continue
		}
		srcAlts, ok1 := r.portAlternatives(rule.Source, fam, "saddr", "sport")
		dstAlts, ok2 := r.portAlternatives(rule.Destination, fam, "daddr", "dport")
		if !ok1 || !ok2 {
			continue
		}
		for _, s := range srcAlts {
			for _, d := range dstAlts {
				parts := append([]string{}, base...)
				for _, p := range []string{s, d} {
					if p != "" {
						parts = append(parts, p)
					}
				}
				if fam != 0 && !mentionsFamily(parts, fam) {
					// Only the other family's variant says which family it is for.
					parts = append([]string{map[int]string{4: "meta nfproto ipv4", 6: "meta nfproto ipv6"}[fam]}, parts...)
				}
				parts = append(parts, "counter")
				if log != "" {
					parts = append(parts, log)
				}
				parts = append(parts, action)
				out = append(out, strings.Join(parts, " "))
			}
		}
	}
	return out
}

// mentionsFamily reports whether one of the parts matches only packets of family fam.
func mentionsFamily(parts []string, fam int) bool {
	marker := map[int]string{4: "ip ", 6: "ip6 "}[fam]
	for _, p := range parts {
		if strings.HasPrefix(p, marker) || strings.Contains(p, " "+marker) {
			return true
		}
	}
	return false
}

func (r *renderer) action(rule policy.Rule, label string) string {
	switch rule.Action {
	case policy.ActionAllow:
		return "accept"
	case policy.ActionLog:
		prefix := rule.LogPrefix
		if prefix == "" {
			prefix = r.cfg.LogPrefix + " " + label
		}
		prefix = strings.ReplaceAll(prefix, `"`, "'")
		if len(prefix) > 127 {
			prefix = prefix[:127]
		}
		return fmt.Sprintf("log prefix %q", prefix)
	case policy.ActionPass:
		return fmt.Sprintf("meta mark set meta mark | 0x%08x return", r.cfg.PassMark)
	default: // deny, and anything unknown fails closed
		return "drop"
	}
}

// familySpecific reports whether a rule needs one nft rule per IP family (it matches
// addresses, or ICMP fields without saying which ICMP).
func familySpecific(rule policy.Rule) bool {
	if rule.IPVersion != 0 {
		return true
	}
	for _, m := range []*policy.Match{&rule.Source, &rule.Destination} {
		if len(m.Nets)+len(m.NotNets)+len(m.IPSets)+len(m.NotIPSets)+len(m.NamedPortSets)+len(m.NotNamedPortSets) > 0 {
			return true
		}
	}
	proto := protoName(rule.Protocol)
	return (rule.ICMP != nil || rule.NotICMP != nil) && proto != "icmp" && proto != "ipv6-icmp"
}

// matchFamily renders the matches other than ports for family fam (0: a rule without
// family-specific matches); ok is false when the rule cannot match packets of fam.
func (r *renderer) matchFamily(rule policy.Rule, fam int) (parts []string, ok bool) {
	if rule.IPVersion != 0 && rule.IPVersion != fam {
		return nil, false
	}
	ip := "ip"
	if fam == 6 {
		ip = "ip6"
	}
	proto := protoName(rule.Protocol)
	switch {
	case proto == "icmp" && fam == 6, proto == "ipv6-icmp" && fam == 4:
		return nil, false
	case proto != "":
		parts = append(parts, "meta l4proto "+proto)
	}
	if np := protoName(rule.NotProtocol); np != "" {
		parts = append(parts, "meta l4proto != "+np)
	}
	icmp := "icmp"
	if fam == 6 || (fam == 0 && proto == "ipv6-icmp") {
		icmp = "icmpv6"
	}
	if m := rule.ICMP; m != nil {
		if proto == "" {
			parts = append(parts, "meta l4proto "+map[int]string{4: "icmp", 6: "ipv6-icmp"}[fam])
		}
		parts = append(parts, fmt.Sprintf("%s type %d", icmp, m.Type))
		if m.HasCode {
			parts = append(parts, fmt.Sprintf("%s code %d", icmp, m.Code))
		}
	}
	if m := rule.NotICMP; m != nil {
		if m.HasCode {
			parts = append(parts, fmt.Sprintf("%s type . %s code != { %d . %d }", icmp, icmp, m.Type, m.Code))
		} else {
			parts = append(parts, fmt.Sprintf("%s type != %d", icmp, m.Type))
		}
	}
	for _, side := range []struct {
		m    *policy.Match
		addr string
	}{{&rule.Source, "saddr"}, {&rule.Destination, "daddr"}} {
		sp, ok := r.matchAddrs(side.m, fam, ip+" "+side.addr)
		if !ok {
			return nil, false
		}
		parts = append(parts, sp...)
	}
	return parts, true
}

func (r *renderer) matchAddrs(m *policy.Match, fam int, field string) ([]string, bool) {
	var parts []string
	if len(m.Nets) > 0 {
		nets := normalizePrefixes(m.Nets, fam)
		if len(nets) == 0 {
			return nil, false
		}
		parts = append(parts, field+" "+prefixList(nets))
	}
	if nets := normalizePrefixes(m.NotNets, fam); len(nets) > 0 {
		parts = append(parts, field+" != "+prefixList(nets))
	}
	for _, id := range m.IPSets {
		name := r.setFor(id, fam, false)
		if name == "" {
			return nil, false // empty for this family: cannot match
		}
		parts = append(parts, field+" @"+name)
	}
	for _, id := range m.NotIPSets {
		if name := r.setFor(id, fam, false); name != "" {
			parts = append(parts, field+" != @"+name)
		}
	}
	return parts, true
}

// portAlternatives returns the OR-ed port matches of one side (each becomes its own nft
// rule) with the negated ones appended to each; [""] when the side has no port match;
// ok is false when the side has port matches but none can match in family fam.
func (r *renderer) portAlternatives(m policy.Match, fam int, addr, port string) (alts []string, ok bool) {
	ip := "ip"
	if fam == 6 {
		ip = "ip6"
	}
	tuple := fmt.Sprintf("%s %s . meta l4proto . th %s", ip, addr, port)
	invalidOnly := len(m.Ports) > 0 && len(validRanges(m.Ports)) == 0
	m.Ports, m.NotPorts = validRanges(m.Ports), validRanges(m.NotPorts)
	var not []string
	if len(m.NotPorts) > 0 {
		not = append(not, "th "+port+" != "+portList(m.NotPorts))
	}
	for _, id := range m.NotNamedPortSets {
		if name := r.setFor(id, fam, true); name != "" {
			not = append(not, tuple+" != @"+name)
		}
	}
	if len(m.Ports) > 0 {
		alts = append(alts, "th "+port+" "+portList(m.Ports))
	}
	for _, id := range m.NamedPortSets {
		if name := r.setFor(id, fam, true); name != "" {
			alts = append(alts, tuple+" @"+name)
		}
	}
	if len(alts) == 0 {
		if len(m.Ports)+len(m.NamedPortSets) > 0 || invalidOnly {
			return nil, false
		}
		alts = []string{""}
	}
	if len(not) > 0 {
		for i, a := range alts {
			alts[i] = strings.TrimSpace(a + " " + strings.Join(not, " "))
		}
	}
	return alts, true
}

// validRanges drops ranges with First > Last (they match nothing).
func validRanges(ps []policy.PortRange) []policy.PortRange {
	var out []policy.PortRange
	for _, p := range ps {
		if p.First <= p.Last {
			out = append(out, p)
		}
	}
	return out
}

func prefixList(ps []netip.Prefix) string {
	if len(ps) == 1 {
		return prefixString(ps[0])
	}
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = prefixString(p)
	}
	return "{ " + strings.Join(s, ", ") + " }"
}

func portList(ps []policy.PortRange) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = fmt.Sprint(p.First)
		if p.Last != p.First {
			s[i] += fmt.Sprintf("-%d", p.Last)
		}
	}
	if len(s) == 1 {
		return s[0]
	}
	return "{ " + strings.Join(s, ", ") + " }"
}

// protoName maps Calico protocol names to nft's; numbers pass through.
func protoName(p string) string {
	switch strings.ToLower(p) {
	case "":
		return ""
	case "icmpv6":
		return "ipv6-icmp"
	case "udplite":
		return "136"
	default:
		return strings.ToLower(p)
	}
}
