package policy

import (
	"fmt"
	"io"
	"net/netip"
	"sort"
	"strconv"
	"strings"
)

// This file defines the OUTPUT of the calculation: the desired policy state of one node, which
// the nftables renderer consumes. It is a plain value: every slice is sorted (or ordered where
// order is the meaning, e.g. tiers and rules), so two states compare equal with go-cmp exactly
// (with cmpopts.EquateComparable(netip.Prefix{}, netip.Addr{})) exactly when they mean the
// same thing, and String gives a byte-stable canonical text used by goldens,
// logs and trace.

// Action is what a rule, a tier end or a chain end does with a packet.
type Action string

// Actions. Log logs and continues with the next rule; Pass skips to the next tier; None means
// "no decision at this stage" (a pre-DNAT, untracked or forward chain with nothing to apply).
const (
	ActionAllow Action = "allow"
	ActionDeny  Action = "deny"
	ActionLog   Action = "log"
	ActionPass  Action = "pass"
	ActionNone  Action = "none"
)

// EndpointKind tells workload endpoints from host endpoints.
type EndpointKind string

// Endpoint kinds.
const (
	KindWorkload EndpointKind = "workload"
	KindHost     EndpointKind = "host"
)

// State is the desired policy state of one node (or of a whole cluster for offline trace).
type State struct {
	// Endpoints are the local enforcement points, sorted by Kind then Name.
	Endpoints []Endpoint
	// Policies are every policy referenced by an endpoint chain, sorted by ID.
	Policies []Policy
	// Profiles are every profile referenced by an endpoint chain, sorted by Name.
	Profiles []Profile
	// IPSets are every set referenced by a rule of a listed policy or profile, sorted by ID.
	IPSets []IPSet
	// Failsafe are the host-endpoint failsafe ports (FelixConfiguration or Calico's defaults).
	// They are applied before any policy on every host endpoint chain (normal, preDNAT and
	// untracked) and never on workload endpoints.
	Failsafe Failsafe
}

// Endpoint is one local enforcement point: a workload (pod) interface or a host interface.
type Endpoint struct {
	Kind EndpointKind
	// Name is "namespace/pod" for workloads (the WorkloadEndpoint's pod, or its own name when it
	// has none) and the HostEndpoint name for hosts.
	Name      string
	Namespace string
	Node      string
	// Interface is the host-side interface name ("" for a host endpoint matched by address,
	// "*" for an all-interfaces host endpoint).
	Interface string
	// Addrs are the endpoint's addresses (workload ipNetworks, host expectedIPs), sorted.
	Addrs []netip.Prefix
	// Ingress is traffic to the endpoint (to the pod; into the host through the interface),
	// Egress traffic from it. For a host endpoint these are the "normal" chains, applied to
	// traffic that ends or starts in the host itself.
	Ingress Chain
	Egress  Chain
	// Host endpoint variants; nil on workload endpoints and when nothing applies.
	PreDNATIngress   *Chain // preDNAT policies (ingress only)
	UntrackedIngress *Chain // doNotTrack policies
	UntrackedEgress  *Chain
	ForwardIngress   *Chain // applyOnForward policies, traffic forwarded through the host
	ForwardEgress    *Chain
}

// Chain is the ordered decision procedure for one endpoint and direction: the tiers in order,
// then (if every tier passed or none applied) the profiles in order, then Final.
type Chain struct {
	Tiers []TierChain
	// Profiles are profile names, in the endpoint's order; evaluated after the tiers.
	Profiles []string
	// Final is the action when nothing above decided: deny for workload and host normal chains,
	// none for preDNAT/untracked chains, allow for a forward chain with no policy.
	Final Action
}

// TierChain is one tier applied to an endpoint: the enforced policies of the tier that select
// the endpoint for the direction, in evaluation order, and the end-of-tier action.
type TierChain struct {
	Name     string
	Policies []PolicyID
	// End is deny, or pass when the tier's defaultAction is Pass.
	End Action
}

// PolicyKind distinguishes the policy resources.
type PolicyKind string

// Policy kinds, ordered as ties are broken.
const (
	PolicyGlobal     PolicyKind = "GlobalNetworkPolicy"
	PolicyKubernetes PolicyKind = "KubernetesNetworkPolicy"
	PolicyNamespaced PolicyKind = "NetworkPolicy"
)

// PolicyID names a policy. Namespace is empty for global policies.
type PolicyID struct {
	Kind      PolicyKind
	Namespace string
	Name      string
}

// String is "Kind/namespace/name" or "Kind/name".
func (id PolicyID) String() string {
	if id.Namespace == "" {
		return string(id.Kind) + "/" + id.Name
	}
	return string(id.Kind) + "/" + id.Namespace + "/" + id.Name
}

// Short is "namespace/name" or "name", the form trace prints.
func (id PolicyID) Short() string {
	if id.Namespace == "" {
		return id.Name
	}
	return id.Namespace + "/" + id.Name
}

// Less orders IDs by kind, namespace and name.
func (id PolicyID) Less(o PolicyID) bool {
	if id.Kind != o.Kind {
		return id.Kind < o.Kind
	}
	if id.Namespace != o.Namespace {
		return id.Namespace < o.Namespace
	}
	return id.Name < o.Name
}

// Policy is a compiled policy: its rules, with selectors replaced by IP set references.
type Policy struct {
	ID      PolicyID
	Tier    string
	Ingress []Rule
	Egress  []Rule
}

// Profile is a compiled profile (kns.<ns>, ksa.<ns>.<sa> or a user Profile).
type Profile struct {
	Name    string
	Ingress []Rule
	Egress  []Rule
}

// Rule is one compiled rule. Every non-empty field must match for the rule to apply.
type Rule struct {
	// Index is the rule's position in the source policy direction (counters, trace); Name is
	// the source rule's name, when it has one (ClusterNetworkPolicy).
	Index  int
	Name   string
	Action Action
	// IPVersion is 4, 6 or 0 (both).
	IPVersion int
	// Protocol and NotProtocol are lower-case names (tcp, udp, sctp, icmp, icmpv6, udplite) or
	// decimal numbers; "" means unset.
	Protocol    string
	NotProtocol string
	ICMP        *ICMPMatch
	NotICMP     *ICMPMatch
	Source      Match
	Destination Match
	// LogPrefix is set on log rules ("" lets the renderer choose its default).
	LogPrefix string
}

// ICMPMatch matches an ICMP type and optionally a code.
type ICMPMatch struct {
	Type    int
	Code    int
	HasCode bool
}

// PortRange is an inclusive port range; a single port has First == Last.
type PortRange struct {
	First, Last uint16
}

// Match is one side (source or destination) of a rule.
type Match struct {
	// Nets: the address must be in one of them (when non-empty). NotNets: in none.
	Nets    []netip.Prefix
	NotNets []netip.Prefix
	// IPSets: the address must be a member of every listed set (selector sets, already
	// AND-ed by Felix with the rule's namespace scope). NotIPSets: of none.
	IPSets    []string
	NotIPSets []string
	// Ports and NamedPortSets together: when either is non-empty, the port must be in one of
	// the ranges or (address, protocol, port) in one of the named-port sets.
	Ports         []PortRange
	NamedPortSets []string
	// NotPorts and NotNamedPortSets: the port must be in none of them.
	NotPorts         []PortRange
	NotNamedPortSets []string
}

// IsZero reports whether the match matches everything.
func (m *Match) IsZero() bool {
	return len(m.Nets) == 0 && len(m.NotNets) == 0 && len(m.IPSets) == 0 && len(m.NotIPSets) == 0 &&
		len(m.Ports) == 0 && len(m.NamedPortSets) == 0 && len(m.NotPorts) == 0 && len(m.NotNamedPortSets) == 0
}

// IPSetKind tells address sets from named-port sets.
type IPSetKind string

// IP set kinds.
const (
	SetNets      IPSetKind = "nets"
	SetNamedPort IPSetKind = "namedport"
)

// IPSet is a set of addresses (selector membership) or of (address, protocol, port) (named
// port). ID is a short hash of Expr; the renderer uses it for dataplane names.
type IPSet struct {
	ID   string
	Kind IPSetKind
	// Expr is the canonical expression the set was formed from: a selector expression, and
	// for named ports `<selector> port <proto>:<name>`.
	Expr string
	// Members are sorted: IPv4 before IPv6, then by prefix, protocol and port. Nets sets
	// have Proto "" and Port 0; named-port sets have full-length prefixes. The slice may be
	// shared by successive States of one Calculator: treat it as read-only.
	Members []Member
}

// Member is one element of an IP set.
type Member struct {
	Prefix netip.Prefix
	Proto  string
	Port   uint16
}

// V4 returns the IPv4 members.
func (s *IPSet) V4() []Member { return s.family(true) }

// V6 returns the IPv6 members.
func (s *IPSet) V6() []Member { return s.family(false) }

func (s *IPSet) family(v4 bool) []Member {
	var out []Member
	for _, m := range s.Members {
		if m.Prefix.Addr().Is4() == v4 {
			out = append(out, m)
		}
	}
	return out
}

// Failsafe holds host-endpoint failsafe ports.
type Failsafe struct {
	Inbound  []ProtoPort
	Outbound []ProtoPort
}

// ProtoPort is a protocol and port, with an optional remote net ("" = any).
type ProtoPort struct {
	Proto string
	Port  uint16
	Net   string
}

// DefaultFailsafe returns Calico's default failsafe ports.
func DefaultFailsafe() Failsafe {
	in := []ProtoPort{{"tcp", 22, ""}, {"udp", 68, ""}, {"tcp", 179, ""}, {"tcp", 2379, ""}, {"tcp", 2380, ""},
		{"tcp", 5473, ""}, {"tcp", 6443, ""}, {"tcp", 6666, ""}, {"tcp", 6667, ""}}
	out := []ProtoPort{{"udp", 53, ""}, {"udp", 67, ""}, {"tcp", 179, ""}, {"tcp", 2379, ""}, {"tcp", 2380, ""},
		{"tcp", 5473, ""}, {"tcp", 6443, ""}, {"tcp", 6666, ""}, {"tcp", 6667, ""}}
	return Failsafe{Inbound: in, Outbound: out}
}

// Endpoint looks up an endpoint by kind and name.
func (s *State) Endpoint(kind EndpointKind, name string) (*Endpoint, bool) {
	i := sort.Search(len(s.Endpoints), func(i int) bool {
		e := &s.Endpoints[i]
		return e.Kind > kind || (e.Kind == kind && e.Name >= name)
	})
	if i < len(s.Endpoints) && s.Endpoints[i].Kind == kind && s.Endpoints[i].Name == name {
		return &s.Endpoints[i], true
	}
	return nil, false
}

// Policy looks up a policy by ID.
func (s *State) Policy(id PolicyID) (*Policy, bool) {
	i := sort.Search(len(s.Policies), func(i int) bool { return !s.Policies[i].ID.Less(id) })
	if i < len(s.Policies) && s.Policies[i].ID == id {
		return &s.Policies[i], true
	}
	return nil, false
}

// Profile looks up a profile by name.
func (s *State) Profile(name string) (*Profile, bool) {
	i := sort.Search(len(s.Profiles), func(i int) bool { return s.Profiles[i].Name >= name })
	if i < len(s.Profiles) && s.Profiles[i].Name == name {
		return &s.Profiles[i], true
	}
	return nil, false
}

// IPSet looks up a set by ID.
func (s *State) IPSet(id string) (*IPSet, bool) {
	i := sort.Search(len(s.IPSets), func(i int) bool { return s.IPSets[i].ID >= id })
	if i < len(s.IPSets) && s.IPSets[i].ID == id {
		return &s.IPSets[i], true
	}
	return nil, false
}

// String is the canonical text form.
func (s *State) String() string {
	var b strings.Builder
	s.write(&b)
	return b.String()
}

// WriteTo writes the canonical text form.
func (s *State) WriteTo(w io.Writer) (int64, error) {
	n, err := io.WriteString(w, s.String())
	return int64(n), err
}

func (s *State) write(b *strings.Builder) {
	if len(s.Failsafe.Inbound)+len(s.Failsafe.Outbound) > 0 {
		fmt.Fprintf(b, "failsafe in=%s out=%s\n", protoPorts(s.Failsafe.Inbound), protoPorts(s.Failsafe.Outbound))
	}
	for i := range s.Endpoints {
		s.Endpoints[i].write(b)
	}
	for i := range s.Policies {
		p := &s.Policies[i]
		fmt.Fprintf(b, "policy %s tier=%s\n", p.ID, p.Tier)
		writeRules(b, "ingress", p.Ingress)
		writeRules(b, "egress", p.Egress)
	}
	for i := range s.Profiles {
		p := &s.Profiles[i]
		fmt.Fprintf(b, "profile %s\n", p.Name)
		writeRules(b, "ingress", p.Ingress)
		writeRules(b, "egress", p.Egress)
	}
	for i := range s.IPSets {
		st := &s.IPSets[i]
		fmt.Fprintf(b, "ipset %s %s %s\n", st.ID, st.Kind, st.Expr)
		for _, m := range st.Members {
			fmt.Fprintf(b, "  %s\n", m)
		}
	}
}

func protoPorts(ps []ProtoPort) string {
	var parts []string
	for _, p := range ps {
		s := p.Proto + ":" + strconv.Itoa(int(p.Port))
		if p.Net != "" {
			s += "@" + p.Net
		}
		parts = append(parts, s)
	}
	return "[" + strings.Join(parts, ",") + "]"
}

// String is "prefix" or "addr,proto:port".
func (m Member) String() string {
	if m.Proto == "" {
		return m.Prefix.String()
	}
	return m.Prefix.Addr().String() + "," + m.Proto + ":" + strconv.Itoa(int(m.Port))
}

func (e *Endpoint) write(b *strings.Builder) {
	fmt.Fprintf(b, "endpoint %s %s node=%s iface=%s addrs=%s\n", e.Kind, e.Name, e.Node, e.Interface, prefixes(e.Addrs))
	e.Ingress.write(b, "ingress")
	e.Egress.write(b, "egress")
	for _, v := range []struct {
		name string
		c    *Chain
	}{{"prednat-ingress", e.PreDNATIngress}, {"untracked-ingress", e.UntrackedIngress},
		{"untracked-egress", e.UntrackedEgress}, {"forward-ingress", e.ForwardIngress}, {"forward-egress", e.ForwardEgress}} {
		if v.c != nil {
			v.c.write(b, v.name)
		}
	}
}

func (c *Chain) write(b *strings.Builder, dir string) {
	fmt.Fprintf(b, "  %s:\n", dir)
	for _, t := range c.Tiers {
		ids := make([]string, len(t.Policies))
		for i, id := range t.Policies {
			ids[i] = id.String()
		}
		fmt.Fprintf(b, "    tier %s end=%s: %s\n", t.Name, t.End, strings.Join(ids, " "))
	}
	if len(c.Profiles) > 0 {
		fmt.Fprintf(b, "    profiles: %s\n", strings.Join(c.Profiles, " "))
	}
	fmt.Fprintf(b, "    final: %s\n", c.Final)
}

func writeRules(b *strings.Builder, dir string, rules []Rule) {
	for _, r := range rules {
		fmt.Fprintf(b, "  %s[%d] %s\n", dir, r.Index, r.String())
	}
}

// String is the canonical one-line form of a rule.
func (r Rule) String() string {
	parts := []string{string(r.Action)}
	if r.IPVersion != 0 {
		parts = append(parts, "ipv"+strconv.Itoa(r.IPVersion))
	}
	if r.Protocol != "" {
		parts = append(parts, "proto="+r.Protocol)
	}
	if r.NotProtocol != "" {
		parts = append(parts, "!proto="+r.NotProtocol)
	}
	if r.ICMP != nil {
		parts = append(parts, "icmp="+r.ICMP.String())
	}
	if r.NotICMP != nil {
		parts = append(parts, "!icmp="+r.NotICMP.String())
	}
	if !r.Source.IsZero() {
		parts = append(parts, "src{"+r.Source.String()+"}")
	}
	if !r.Destination.IsZero() {
		parts = append(parts, "dst{"+r.Destination.String()+"}")
	}
	if r.LogPrefix != "" {
		parts = append(parts, "prefix="+strconv.Quote(r.LogPrefix))
	}
	if r.Name != "" {
		parts = append(parts, "name="+strconv.Quote(r.Name))
	}
	return strings.Join(parts, " ")
}

// String is "type" or "type/code".
func (m *ICMPMatch) String() string {
	if m.HasCode {
		return strconv.Itoa(m.Type) + "/" + strconv.Itoa(m.Code)
	}
	return strconv.Itoa(m.Type)
}

// String is the canonical form of a match, fields in a fixed order.
func (m *Match) String() string {
	var parts []string
	add := func(name string, vals []string) {
		if len(vals) > 0 {
			parts = append(parts, name+"="+strings.Join(vals, ","))
		}
	}
	add("nets", prefixStrings(m.Nets))
	add("!nets", prefixStrings(m.NotNets))
	add("sets", m.IPSets)
	add("!sets", m.NotIPSets)
	add("ports", portStrings(m.Ports))
	add("namedports", m.NamedPortSets)
	add("!ports", portStrings(m.NotPorts))
	add("!namedports", m.NotNamedPortSets)
	return strings.Join(parts, " ")
}

func prefixes(ps []netip.Prefix) string {
	return "[" + strings.Join(prefixStrings(ps), ",") + "]"
}

func prefixStrings(ps []netip.Prefix) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.String()
	}
	return out
}

func portStrings(ps []PortRange) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.String()
	}
	return out
}

// String is "80" or "80-90".
func (p PortRange) String() string {
	if p.First == p.Last {
		return strconv.Itoa(int(p.First))
	}
	return strconv.Itoa(int(p.First)) + "-" + strconv.Itoa(int(p.Last))
}

// Contains reports whether port is in the range.
func (p PortRange) Contains(port uint16) bool { return port >= p.First && port <= p.Last }

// comparePrefix orders prefixes: IPv4 before IPv6, then address, then length.
func comparePrefix(a, b netip.Prefix) int {
	if c := a.Addr().Compare(b.Addr()); c != 0 {
		return c
	}
	return a.Bits() - b.Bits()
}

func compareMember(a, b Member) int {
	if c := comparePrefix(a.Prefix, b.Prefix); c != 0 {
		return c
	}
	if a.Proto != b.Proto {
		return strings.Compare(a.Proto, b.Proto)
	}
	return int(a.Port) - int(b.Port)
}
