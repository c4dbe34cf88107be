package policy

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/trellisnet/trellis/internal/model"
)

// npEntry is a live named-port set: the (address, protocol, port) of every member of base that
// has a port called name with protocol proto.
type npEntry struct {
	base  *exprEntry
	proto string
	name  string
	key   string
	id    string
	refs  int
	// cache is the sorted member list State last built (valid when cached).
	cache  []Member
	cached bool
}

// refs records the index entries a compiled object holds, so they can be released.
type refs struct {
	exprs []*exprEntry
	nps   []*npEntry
	svcs  []*svcEntry
}

// compiler turns model rules into output rules, acquiring IP sets as it goes.
type compiler struct {
	c    *Calculator
	refs *refs
}

func (cp compiler) expr(s exprSpec) (*exprEntry, error) {
	x, err := compileExpr(s)
	if err != nil {
		return nil, err
	}
	e := cp.c.idx.acquire(x)
	cp.refs.exprs = append(cp.refs.exprs, e)
	return e, nil
}

func (cp compiler) namedPort(base *exprEntry, proto, name string) *npEntry {
	key := base.x.key + " port " + proto + ":" + name
	np, ok := cp.c.nps[key]
	if !ok {
		base.refs++ // the named-port set keeps its base alive
		np = &npEntry{base: base, proto: proto, name: name, key: key, id: setID("n-", key)}
		cp.c.nps[key] = np
		cp.c.npByID[np.id] = np
		addTo(cp.c.npByBase, base, np)
	}
	np.refs++
	cp.refs.nps = append(cp.refs.nps, np)
	return np
}

// release drops every reference held in r.
func (c *Calculator) release(r *refs) {
	for _, np := range r.nps {
		np.refs--
		if np.refs == 0 {
			delete(c.nps, np.key)
			delete(c.npByID, np.id)
			removeFrom(c.npByBase, np.base, np)
			c.idx.release(np.base)
		}
	}
	for _, e := range r.exprs {
		c.idx.release(e)
	}
	c.releaseServices(r.svcs)
	*r = refs{}
}

// rules compiles a rule list. A rule that cannot be compiled becomes an unconditional deny
// at its position (fail closed).
func (cp compiler) rules(in []model.Rule, namespace string) []Rule {
	out := make([]Rule, 0, len(in))
	for i := range in {
		r, err := cp.rule(&in[i], namespace)
		if err != nil {
			r = Rule{Action: ActionDeny}
		}
		r.Index = i
		out = append(out, r)
	}
	return out
}

func (cp compiler) rule(in *model.Rule, ns string) (Rule, error) {
	var r Rule
	switch in.Action {
	case model.Allow:
		r.Action = ActionAllow
	case model.Deny:
		r.Action = ActionDeny
	case model.Log:
		r.Action = ActionLog
	case model.Pass:
		r.Action = ActionPass
	default:
		return r, fmt.Errorf("unknown action %q", in.Action)
	}
	if in.HTTP != nil {
		// Layer-7 matches are not implemented: fail closed.
		return r, fmt.Errorf("http matches are not supported")
	}
	if in.IPVersion != nil {
		r.IPVersion = *in.IPVersion
	}
	if in.Protocol != nil {
		r.Protocol = protoName(*in.Protocol)
	}
	if in.NotProtocol != nil {
		r.NotProtocol = protoName(*in.NotProtocol)
	}
	r.ICMP = icmpMatch(in.ICMP)
	r.NotICMP = icmpMatch(in.NotICMP)
	proto := r.Protocol
	if proto == "" {
		proto = "tcp"
	}
	var err error
	if r.Source, err = cp.match(&in.Source, ns, proto); err != nil {
		return r, fmt.Errorf("source: %w", err)
	}
	if r.Destination, err = cp.match(&in.Destination, ns, proto); err != nil {
		return r, fmt.Errorf("destination: %w", err)
	}
	cp.serviceMatch(&r.Source, in.Source.Services, ns, false)
	cp.serviceMatch(&r.Destination, in.Destination.Services, ns, true)
	return r, nil
}

func (cp compiler) match(er *model.EntityRule, ns, proto string) (Match, error) {
	var m Match
	var err error
	if m.Nets, err = parseNets(er.Nets); err != nil {
		return m, err
	}
	if m.NotNets, err = parseNets(er.NotNets); err != nil {
		return m, err
	}
	var base *exprEntry
	sa := er.ServiceAccounts
	if er.Selector != "" || er.NamespaceSelector != "" || (sa != nil && (sa.Selector != "" || len(sa.Names) > 0)) {
		spec := exprSpec{sel: er.Selector, namespace: ns, nsSel: er.NamespaceSelector, hasNsSel: er.NamespaceSelector != ""}
		if sa != nil {
			spec.saSel, spec.saNames = sa.Selector, sa.Names
		}
		if base, err = cp.expr(spec); err != nil {
			return m, err
		}
		m.IPSets = []string{base.id}
	}
	if er.NotSelector != "" {
		e, err := cp.expr(exprSpec{sel: er.NotSelector})
		if err != nil {
			return m, err
		}
		m.NotIPSets = []string{e.id}
	}
	npBase := func() (*exprEntry, error) {
		if base != nil {
			return base, nil
		}
		return cp.expr(exprSpec{})
	}
	for _, p := range er.Ports {
		if p.PortName == "" {
			m.Ports = append(m.Ports, PortRange{p.MinPort, p.MaxPort})
			continue
		}
		b, err := npBase()
		if err != nil {
			return m, err
		}
		m.NamedPortSets = append(m.NamedPortSets, cp.namedPort(b, proto, p.PortName).id)
	}
	for _, p := range er.NotPorts {
		if p.PortName == "" {
			m.NotPorts = append(m.NotPorts, PortRange{p.MinPort, p.MaxPort})
			continue
		}
		b, err := npBase()
		if err != nil {
			return m, err
		}
		m.NotNamedPortSets = append(m.NotNamedPortSets, cp.namedPort(b, proto, p.PortName).id)
	}
	slices.Sort(m.NamedPortSets)
	m.NamedPortSets = slices.Compact(m.NamedPortSets)
	slices.Sort(m.NotNamedPortSets)
	m.NotNamedPortSets = slices.Compact(m.NotNamedPortSets)
	return m, nil
}

// parseNets parses CIDRs or bare addresses, masking host bits as Calico does.
func parseNets(nets []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range nets {
		p, err := ParseNet(s)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// ParseNet parses a CIDR or a bare address (a full-length prefix), masking host bits.
func ParseNet(s string) (netip.Prefix, error) {
	if !strings.Contains(s, "/") {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("parse net %q: %w", s, err)
		}
		return netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("parse net %q: %w", s, err)
	}
	return p.Masked(), nil
}

var protoNumbers = map[uint8]string{1: "icmp", 6: "tcp", 17: "udp", 58: "icmpv6", 132: "sctp", 136: "udplite"}

// protoName normalises a protocol: known numbers become names, names are lower-cased.
func protoName(p model.Protocol) string {
	if p.IsNum {
		if n, ok := protoNumbers[p.Num]; ok {
			return n
		}
		return strconv.Itoa(int(p.Num))
	}
	return strings.ToLower(p.Str)
}

func icmpMatch(f *model.ICMPFields) *ICMPMatch {
	if f == nil || f.Type == nil {
		return nil
	}
	m := &ICMPMatch{Type: *f.Type}
	if f.Code != nil {
		m.Code, m.HasCode = *f.Code, true
	}
	return m
}

// effectiveTypes applies Calico's default for an empty types list: ingress unless the policy
// has only egress rules, egress when it has egress rules. A converted ClusterNetworkPolicy
// lists the directions it has rules for, and none when it has no rules.
func effectiveTypes(p *PolicyInput) (ingress, egress bool) {
	if len(p.Types) == 0 && p.ID.Kind == PolicyCluster {
		return false, false // a ClusterNetworkPolicy without rules applies in no direction
	}
	if len(p.Types) == 0 {
		return len(p.Ingress) > 0 || len(p.Egress) == 0, len(p.Egress) > 0
	}
	for _, t := range p.Types {
		switch t {
		case model.PolicyTypeIngress:
			ingress = true
		case model.PolicyTypeEgress:
			egress = true
		}
	}
	return ingress, egress
}

// netipHost is the full-length prefix of p's address.
func netipHost(p netip.Prefix) netip.Prefix {
	return netip.PrefixFrom(p.Addr(), p.Addr().BitLen())
}
