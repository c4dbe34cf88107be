package route

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"

	"github.com/trellisnet/trellis/internal/model"
)

// Decision is the outcome of a peer's BGP filters for one route.
type Decision int

// Decisions. NoMatch means no rule matched: the route gets the behaviour it would have
// without filters (a learned route is installed when an IPPool covers it; our own
// prefixes are advertised).
const (
	NoMatch Decision = iota
	Accept
	Reject
)

func (d Decision) String() string {
	switch d {
	case Accept:
		return "accept"
	case Reject:
		return "reject"
	}
	return "no-match"
}

// FilterRule is one parsed BGPFilter rule. Every condition that is set must hold.
type FilterRule struct {
	Filter string // the BGPFilter's name
	V6     bool   // from exportV6/importV6: matches only IPv6 routes
	// CIDR, when valid, is compared with the route's prefix by Op; MinLen and MaxLen bound
	// the prefix length for In and NotIn.
	CIDR           netip.Prefix
	Op             model.BGPFilterMatchOperator
	MinLen, MaxLen int
	// RemoteOnly: the rule matches only routes learned from BGP peers.
	RemoteOnly bool
	// Interface, when set, matches routes through a matching interface. Trellis's
	// advertised and learned routes have none, so such a rule never matches.
	Interface string
	Action    model.BGPFilterAction
}

// PeerFilter is the import and export rules of one peer, the rules of its BGPPeer's
// spec.filters concatenated in order.
type PeerFilter struct {
	Peer   netip.Addr
	Import []FilterRule
	Export []FilterRule
}

// Decide runs rules in order on prefix p (remote: learned from a BGP peer) and returns
// the action of the first rule that matches, or NoMatch.
func Decide(rules []FilterRule, p netip.Prefix, remote bool) Decision {
	for _, r := range rules {
		if r.matches(p, remote) {
			if r.Action == model.BGPFilterAccept {
				return Accept
			}
			return Reject
		}
	}
	return NoMatch
}

func (r FilterRule) matches(p netip.Prefix, remote bool) bool {
	if r.V6 == p.Addr().Is4() || r.Interface != "" || (r.RemoteOnly && !remote) {
		return false
	}
	if !r.CIDR.IsValid() {
		return true
	}
	in := r.CIDR.Bits() <= p.Bits() && r.CIDR.Contains(p.Addr())
	inRange := in && p.Bits() >= r.MinLen && p.Bits() <= r.MaxLen
	switch r.Op {
	case model.BGPFilterEqual:
		return p == r.CIDR
	case model.BGPFilterNotEqual:
		return p != r.CIDR
	case model.BGPFilterIn:
		return inRange
	case model.BGPFilterNotIn:
		return !inRange
	}
	return false
}

func (r FilterRule) String() string {
	var b strings.Builder
	b.WriteString(strings.ToLower(string(r.Action)))
	fam := "v4"
	if r.V6 {
		fam = "v6"
	}
	b.WriteString(" " + fam)
	if r.CIDR.IsValid() {
		fmt.Fprintf(&b, " %s %s", strings.ToLower(string(r.Op)), r.CIDR)
		if r.Op == model.BGPFilterIn || r.Op == model.BGPFilterNotIn {
			fmt.Fprintf(&b, " len %d-%d", r.MinLen, r.MaxLen)
		}
	}
	if r.RemoteOnly {
		b.WriteString(" remote-peers")
	}
	if r.Interface != "" {
		b.WriteString(" interface " + r.Interface)
	}
	return b.String() + " filter " + r.Filter
}

func (f PeerFilter) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "  filter peer %s\n", f.Peer)
	for _, r := range f.Import {
		fmt.Fprintf(&b, "    import %s\n", r)
	}
	for _, r := range f.Export {
		fmt.Fprintf(&b, "    export %s\n", r)
	}
	return b.String()
}

// parseFilters turns BGPFilters into rule lists by name. A filter with an unusable rule is
// kept out (a peer naming it then rejects everything: fail closed) and reported.
func parseFilters(in []*model.BGPFilter, prob *problems) map[string]*PeerFilter {
	out := map[string]*PeerFilter{}
	for _, f := range in {
		pf := &PeerFilter{}
		ok := true
		for _, l := range []struct {
			name   string
			rules  []model.BGPFilterRule
			v6     bool
			export bool
		}{{"importV4", f.Spec.ImportV4, false, false}, {"importV6", f.Spec.ImportV6, true, false},
			{"exportV4", f.Spec.ExportV4, false, true}, {"exportV6", f.Spec.ExportV6, true, true}} {
			for i, mr := range l.rules {
				r, err := parseRule(f.Name, mr, l.v6)
				if err != nil {
					prob.add("BGPFilter/"+f.Name, fmt.Sprintf("spec.%s[%d]: %v: filter unusable", l.name, i, err))
					ok = false
					continue
				}
				if l.export {
					pf.Export = append(pf.Export, r)
				} else {
					pf.Import = append(pf.Import, r)
				}
			}
		}
		if ok {
			out[f.Name] = pf
		}
	}
	return out
}

func parseRule(filter string, mr model.BGPFilterRule, v6 bool) (FilterRule, error) {
	r := FilterRule{Filter: filter, V6: v6, Op: mr.MatchOperator, Action: mr.Action,
		RemoteOnly: mr.Source == model.BGPFilterSourceRemotePeers, Interface: mr.Interface}
	if mr.Action != model.BGPFilterAccept && mr.Action != model.BGPFilterReject {
		return r, fmt.Errorf("unknown action %q", mr.Action)
	}
	if mr.Source != "" && !r.RemoteOnly {
		return r, fmt.Errorf("unknown source %q", mr.Source)
	}
	if mr.CIDR == "" {
		return r, nil
	}
	pf, err := netip.ParsePrefix(mr.CIDR)
	if err != nil || pf.Addr().Is6() != v6 {
		return r, fmt.Errorf("invalid cidr %q", mr.CIDR)
	}
	r.CIDR = pf.Masked()
	r.MinLen, r.MaxLen = r.CIDR.Bits(), r.CIDR.Addr().BitLen()
	if pl := mr.PrefixLength; pl != nil {
		if pl.Min != nil {
			r.MinLen = int(*pl.Min)
		}
		if pl.Max != nil {
			r.MaxLen = int(*pl.Max)
		}
	}
	switch r.Op {
	case model.BGPFilterEqual, model.BGPFilterNotEqual, model.BGPFilterIn, model.BGPFilterNotIn:
	default:
		return r, fmt.Errorf("unknown matchOperator %q", r.Op)
	}
	return r, nil
}

// rejectAll is the fail-closed rule set of a peer naming a missing or unusable filter.
func rejectAll(name string) []FilterRule {
	return []FilterRule{{Filter: name, Action: model.BGPFilterReject},
		{Filter: name, V6: true, Action: model.BGPFilterReject}}
}

// peerFilters builds, for each node's speaker, the filters of its peers from the BGPPeer
// that created each session (Peer.Source "bgppeer/NAME"), sorted by peer address.
func peerFilters(sp *Speaker, peers map[string]*model.BGPPeer, filters map[string]*PeerFilter, prob *problems) []PeerFilter {
	if sp == nil {
		return nil
	}
	var out []PeerFilter
	for _, p := range sp.Peers {
		name, ok := strings.CutPrefix(p.Source, "bgppeer/")
		bp := peers[name]
		if !ok || bp == nil || len(bp.Spec.Filters) == 0 {
			continue
		}
		pf := PeerFilter{Peer: p.Address}
		for _, fn := range bp.Spec.Filters {
			f := filters[fn]
			if f == nil {
				prob.add("BGPPeer/"+bp.Name, fmt.Sprintf("spec.filters: BGPFilter %q is missing or unusable: all routes rejected", fn))
				pf.Import = append(pf.Import, rejectAll(fn)...)
				pf.Export = append(pf.Export, rejectAll(fn)...)
				continue
			}
			pf.Import = append(pf.Import, f.Import...)
			pf.Export = append(pf.Export, f.Export...)
		}
		out = append(out, pf)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Peer.Less(out[j].Peer) })
	return out
}
