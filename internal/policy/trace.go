package policy

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// Packet is what Trace evaluates: the first packet of a connection.
type Packet struct {
	Src, Dst netip.Addr
	// Proto is tcp, udp, sctp or icmp (icmpv6 is used for IPv6 addresses).
	Proto string
	// Port is the destination port (ignored for ICMP, which is traced as an echo request).
	Port uint16
	// SrcPort is the source port; 0 (unknown) matches no source port rule.
	SrcPort uint16
}

// Reasons a decision was reached.
const (
	ReasonRule      = "rule"
	ReasonEndOfTier = "end of tier"
	ReasonProfile   = "profile"
	ReasonDefault   = "default deny"
	ReasonNoPolicy  = "no policy"
	ReasonSelf      = "same endpoint"
	ReasonFailsafe  = "failsafe"
)

// Decision is the outcome of one side (the source's egress or the destination's ingress).
type Decision struct {
	// Endpoint is "workload/ns/pod" or "host/name"; "" when the address is no local endpoint
	// (then nothing is enforced on that side: ReasonNoPolicy, allow).
	Endpoint string
	Verdict  Action
	Reason   string
	Tier     string
	// Policy is the deciding policy (ReasonRule); zero otherwise.
	Policy PolicyID
	// Profile is the deciding profile (ReasonProfile).
	Profile string
	// Rule is the deciding rule's index, -1 when no rule decided; RuleName its name, when
	// the source rule has one (ClusterNetworkPolicy).
	Rule     int
	RuleName string
	// Logged lists the Log rules that matched on the way ("policy rule N").
	Logged []string
	// Passed lists what passed the packet on to the next tier ("tier T: policy rule N",
	// or "tier T: default action" for a tier with defaultAction Pass).
	Passed []string
}

// Result is a trace: allow only when both sides allow.
type Result struct {
	Verdict Action
	Egress  Decision
	Ingress Decision
}

// String is a short human explanation of a decision.
func (d Decision) String() string {
	where := d.Endpoint
	if where == "" {
		where = "(not an endpoint)"
	}
	var why string
	switch d.Reason {
	case ReasonRule:
		why = fmt.Sprintf("tier %s policy %s %s", d.Tier, d.Policy.Short(), ruleRef(d.Rule, d.RuleName))
	case ReasonEndOfTier:
		why = "end of tier " + d.Tier
	case ReasonProfile:
		why = fmt.Sprintf("profile %s rule %d", d.Profile, d.Rule)
	default:
		why = d.Reason
	}
	return fmt.Sprintf("%s %s: %s", where, d.Verdict, why)
}

// FindEndpoint returns the local endpoint owning addr, if any (workloads before hosts).
func (s *State) FindEndpoint(addr netip.Addr) (*Endpoint, bool) {
	for i := range s.Endpoints {
		for _, p := range s.Endpoints[i].Addrs {
			if p.Contains(addr) {
				return &s.Endpoints[i], true
			}
		}
	}
	return nil, false
}

// Trace decides a packet as the calculated state would: the source endpoint's egress chain and
// the destination endpoint's ingress chain. A pod talking to itself is allowed.
func Trace(s *State, p Packet) Result {
	if p.Proto == "icmp" && p.Src.Is6() {
		p.Proto = "icmpv6"
	}
	src, srcOK := s.FindEndpoint(p.Src)
	dst, dstOK := s.FindEndpoint(p.Dst)
	var r Result
	if srcOK && dstOK && src == dst {
		d := Decision{Endpoint: endpointRef(src), Verdict: ActionAllow, Reason: ReasonSelf, Rule: -1}
		return Result{Verdict: ActionAllow, Egress: d, Ingress: d}
	}
	r.Egress = Decision{Verdict: ActionAllow, Reason: ReasonNoPolicy, Rule: -1}
	if srcOK {
		r.Egress = s.evalEndpoint(src, p, false)
	}
	r.Ingress = Decision{Verdict: ActionAllow, Reason: ReasonNoPolicy, Rule: -1}
	if dstOK {
		r.Ingress = s.evalEndpoint(dst, p, true)
	}
	r.Verdict = ActionDeny
	if r.Egress.Verdict == ActionAllow && r.Ingress.Verdict == ActionAllow {
		r.Verdict = ActionAllow
	}
	return r
}

// ruleRef is "rule N", or `rule N "name"` for a named rule.
func ruleRef(index int, name string) string {
	if name == "" {
		return fmt.Sprintf("rule %d", index)
	}
	return fmt.Sprintf("rule %d %q", index, name)
}

func endpointRef(e *Endpoint) string { return string(e.Kind) + "/" + e.Name }

func (s *State) evalEndpoint(e *Endpoint, p Packet, ingress bool) Decision {
	d := Decision{Endpoint: endpointRef(e), Rule: -1}
	if e.Kind == KindHost && s.failsafe(p, ingress) {
		d.Verdict, d.Reason = ActionAllow, ReasonFailsafe
		return d
	}
	ch := &e.Egress
	if ingress {
		ch = &e.Ingress
	}
	s.evalChain(ch, p, ingress, &d)
	return d
}

func (s *State) failsafe(p Packet, ingress bool) bool {
	list := s.Failsafe.Outbound
	remote := p.Dst
	if ingress {
		list, remote = s.Failsafe.Inbound, p.Src
	}
	for _, f := range list {
		if f.Proto != p.Proto || f.Port != p.Port {
			continue
		}
		if f.Net == "" {
			return true
		}
		if n, err := ParseNet(f.Net); err == nil && n.Contains(remote) {
			return true
		}
	}
	return false
}

func (s *State) evalChain(ch *Chain, p Packet, ingress bool, d *Decision) {
tiers:
	for _, t := range ch.Tiers {
		for _, id := range t.Policies {
			pol, ok := s.Policy(id)
			if !ok {
				continue
			}
			rules := pol.Egress
			if ingress {
				rules = pol.Ingress
			}
			for _, r := range rules {
				if !s.ruleMatches(&r, p) {
					continue
				}
				switch r.Action {
				case ActionLog:
					d.Logged = append(d.Logged, id.Short()+" "+ruleRef(r.Index, r.Name))
					continue
				case ActionPass:
					d.Passed = append(d.Passed, fmt.Sprintf("tier %s: %s %s", t.Name, id.Short(), ruleRef(r.Index, r.Name)))
					continue tiers
				}
				d.Verdict, d.Reason, d.Tier, d.Policy, d.Rule, d.RuleName = r.Action, ReasonRule, t.Name, id, r.Index, r.Name
				return
			}
		}
		if t.End == ActionDeny {
			d.Verdict, d.Reason, d.Tier = ActionDeny, ReasonEndOfTier, t.Name
			return
		}
		if t.End == ActionPass {
			d.Passed = append(d.Passed, fmt.Sprintf("tier %s: default action", t.Name))
		}
	}
	for _, name := range ch.Profiles {
		prof, ok := s.Profile(name)
		if !ok {
			continue
		}
		rules := prof.Egress
		if ingress {
			rules = prof.Ingress
		}
		for _, r := range rules {
			if !s.ruleMatches(&r, p) {
				continue
			}
			if r.Action == ActionAllow || r.Action == ActionDeny {
				d.Verdict, d.Reason, d.Profile, d.Rule = r.Action, ReasonProfile, name, r.Index
				return
			}
		}
	}
	d.Verdict, d.Reason = ch.Final, ReasonDefault
	if d.Verdict == ActionNone {
		d.Verdict, d.Reason = ActionAllow, ReasonNoPolicy
	}
}

func (s *State) ruleMatches(r *Rule, p Packet) bool {
	if r.IPVersion == 4 && !p.Src.Is4() || r.IPVersion == 6 && !p.Src.Is6() {
		return false
	}
	if r.Protocol != "" && r.Protocol != p.Proto {
		return false
	}
	if r.NotProtocol != "" && r.NotProtocol == p.Proto {
		return false
	}
	icmp := p.Proto == "icmp" || p.Proto == "icmpv6"
	echo := 8
	if p.Proto == "icmpv6" {
		echo = 128
	}
	if r.ICMP != nil && (!icmp || r.ICMP.Type != echo || (r.ICMP.HasCode && r.ICMP.Code != 0)) {
		return false
	}
	if r.NotICMP != nil && icmp && r.NotICMP.Type == echo && (!r.NotICMP.HasCode || r.NotICMP.Code == 0) {
		return false
	}
	return s.sideMatches(&r.Source, p.Src, p.SrcPort, p.Proto) && s.sideMatches(&r.Destination, p.Dst, p.Port, p.Proto)
}

func portsApply(proto string) bool {
	return proto == "tcp" || proto == "udp" || proto == "sctp" || proto == "udplite"
}

func (s *State) sideMatches(m *Match, addr netip.Addr, port uint16, proto string) bool {
	if len(m.Nets) > 0 && !slices.ContainsFunc(m.Nets, func(n netip.Prefix) bool { return n.Contains(addr) }) {
		return false
	}
	if slices.ContainsFunc(m.NotNets, func(n netip.Prefix) bool { return n.Contains(addr) }) {
		return false
	}
	for _, id := range m.IPSets {
		if !s.inSet(id, addr, "", 0) {
			return false
		}
	}
	for _, id := range m.NotIPSets {
		if s.inSet(id, addr, "", 0) {
			return false
		}
	}
	if len(m.Ports) > 0 || len(m.NamedPortSets) > 0 {
		if !portsApply(proto) || port == 0 {
			return false
		}
		ok := slices.ContainsFunc(m.Ports, func(r PortRange) bool { return r.Contains(port) }) ||
			slices.ContainsFunc(m.NamedPortSets, func(id string) bool { return s.inSet(id, addr, proto, port) })
		if !ok {
			return false
		}
	}
	if len(m.NotPorts) > 0 || len(m.NotNamedPortSets) > 0 {
		if !portsApply(proto) {
			return false
		}
		if slices.ContainsFunc(m.NotPorts, func(r PortRange) bool { return r.Contains(port) }) ||
			slices.ContainsFunc(m.NotNamedPortSets, func(id string) bool { return s.inSet(id, addr, proto, port) }) {
			return false
		}
	}
	return true
}

func (s *State) inSet(id string, addr netip.Addr, proto string, port uint16) bool {
	set, ok := s.IPSet(id)
	if !ok {
		return false
	}
	for _, m := range set.Members {
		if !m.Prefix.Contains(addr) {
			continue
		}
		if set.Kind == SetNets || (m.Proto == proto && m.Port == port) {
			return true
		}
	}
	return false
}

// Explain renders a result as text, one line per side and the verdict.
func (r Result) Explain() string {
	var b strings.Builder
	side := func(label string, d Decision) {
		fmt.Fprintf(&b, "%s %s\n", label, d)
		for _, l := range d.Logged {
			fmt.Fprintf(&b, "  logged by %s\n", l)
		}
		for _, p := range d.Passed {
			fmt.Fprintf(&b, "  passed by %s\n", p)
		}
	}
	side("egress ", r.Egress)
	side("ingress", r.Ingress)
	fmt.Fprintf(&b, "verdict: %s\n", r.Verdict)
	return b.String()
}
