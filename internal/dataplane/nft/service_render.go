package nft

import (
	"fmt"
	"slices"
	"time"

	"sigs.k8s.io/knftables"

	"github.com/trellisnet/trellis/internal/service"
)

// Service proxy mark bits; distinct from Config.PassMark (0x00100000).
const (
	// ServiceExternalMark marks external traffic under externalTrafficPolicy Cluster; it
	// is masqueraded when it leaves through anything but a workload interface (the
	// chosen endpoint is on another node, so the reply must come back here).
	ServiceExternalMark uint32 = 0x00400000
)

// Fixed service object names; every service object starts with "svc-", which no policy
// object does.
const (
	ChainSvcPrerouting  = "svc-prerouting"
	ChainSvcOutput      = "svc-output"
	ChainSvcPostrouting = "svc-postrouting"
	ChainSvcDispatch    = "svc-dispatch"
	ChainSvcFilterFwd   = "svc-filter-fwd"
	ChainSvcFilterIn    = "svc-filter-in"
	ChainSvcFilterOut   = "svc-filter-out"
	ChainSvcNoEndpoints = "svc-noep"
	ChainSvcReject      = "svc-reject"
	// SetSvcHairpin4 (6) hold "endpoint . endpoint" for every endpoint address: a
	// DNATed packet whose source and destination match is a pod reaching itself
	// through its service, masqueraded so that the reply comes back through the node.
	SetSvcHairpin4 = "svc-hairpin4"
	SetSvcHairpin6 = "svc-hairpin6"
	// MapSvcAddr4 (6) map address . protocol . port of ClusterIPs, externalIPs and
	// LoadBalancer IPs to the service port's chain; MapSvcNodePort4 (6) map protocol .
	// port of NodePorts (on local addresses).
	MapSvcAddr4     = "svc-addr4"
	MapSvcAddr6     = "svc-addr6"
	MapSvcNodePort4 = "svc-nodeport4"
	MapSvcNodePort6 = "svc-nodeport6"
	// MapSvcNoEP4 (6, NodePort4, NodePort6) map the same keys of service ports without
	// usable endpoints to reject or drop, in the filter hooks.
	MapSvcNoEP4         = "svc-noep4"
	MapSvcNoEP6         = "svc-noep6"
	MapSvcNoEPNodePort4 = "svc-noep-np4"
	MapSvcNoEPNodePort6 = "svc-noep-np6"
)

// RenderServices renders a node's service proxy state as a table of its own (merge it
// into the policy table with Table.Merge before applying). Pure and deterministic.
//
// Packet path: nat base chains at dstnat in prerouting (traffic arriving) and output
// (the node's own clients) jump to svc-dispatch, which does one verdict-map lookup on
// daddr . l4proto . dport (ClusterIPs, externalIPs, LoadBalancer IPs) and, for local
// destinations, one on l4proto . dport (NodePorts), so the cost of a packet does not grow
// with the number of services; only a connection's first packet goes through nat
// chains. A map element leads to the service port's chain: for the ClusterIP the
// load-balancing chain of the endpoints internalTrafficPolicy allows, for external
// addresses a chain applying externalTrafficPolicy first. A load-balancing chain sends a
// client that has affinity to its endpoint, then picks one with `numgen random` and
// DNATs (with affinity through a per-endpoint chain that records the client).
// Postrouting masquerades only DNATed packets from an endpoint to itself (hairpin) and
// marked external traffic leaving for another node. Ports without usable endpoints are not
// DNATed; filter chains (priority filter - 10, before policy) reject or drop their new
// connections through maps with the same keys.
func RenderServices(cfg Config, st *service.State) *Table {
	cfg = cfg.withDefaults()
	r := &svcRenderer{cfg: cfg, t: NewTable()}
	r.base()
	if st != nil {
		for i := range st.Ports {
			r.port(&st.Ports[i])
		}
	}
	return r.t
}

type svcRenderer struct {
	cfg Config
	t   *Table
}

func (r *svcRenderer) base() {
	wild := quote(r.cfg.IfPrefix + "*")
	hook := func(name string, typ knftables.BaseChainType, h knftables.BaseChainHook, prio knftables.BaseChainPriority, rules ...Rule) {
		r.t.Chains[name] = &Chain{Name: name, Hook: &Hook{Type: typ, Hook: h, Priority: prio}, Rules: rules}
	}
	// Traffic from outside the cluster (not from a workload interface) to a service
	// address is marked: when it is DNATed to an endpoint on another node it is
	// masqueraded, so that the reply comes back through this node (kube-proxy does the
	// same for cluster IPs reached from outside the cluster CIDR). Only DNATed packets are
	// masqueraded, so marking every packet from outside changes nothing else.
	hook(ChainSvcPrerouting, knftables.NATType, knftables.PreroutingHook, knftables.DNATPriority,
		Rule{Text: fmt.Sprintf("iifname != %s meta mark set meta mark | 0x%08x", wild, ServiceExternalMark)},
		Rule{Text: "jump " + ChainSvcDispatch})
	hook(ChainSvcOutput, knftables.NATType, knftables.OutputHook, knftables.DNATPriority, Rule{Text: "jump " + ChainSvcDispatch})
	hook(ChainSvcPostrouting, knftables.NATType, knftables.PostroutingHook, knftables.SNATPriority,
		Rule{Text: "ct status dnat ip saddr . ip daddr @" + SetSvcHairpin4 + " counter masquerade", Comment: "service hairpin masquerade"},
		Rule{Text: "ct status dnat ip6 saddr . ip6 daddr @" + SetSvcHairpin6 + " counter masquerade", Comment: "service hairpin masquerade"},
		Rule{Text: fmt.Sprintf("ct status dnat meta mark & 0x%08x == 0x%08x oifname != %s counter masquerade", ServiceExternalMark, ServiceExternalMark, wild), Comment: "service external masquerade"},
	)
	// NodePorts answer on the node's addresses but not on loopback (as with kube-proxy:
	// a DNATed packet from 127.0.0.1 could not leave the node).
	r.t.Chains[ChainSvcDispatch] = &Chain{Name: ChainSvcDispatch, Rules: []Rule{
		{Text: "ip daddr . meta l4proto . th dport vmap @" + MapSvcAddr4},
		{Text: "ip6 daddr . meta l4proto . th dport vmap @" + MapSvcAddr6},
		{Text: "ip daddr != 127.0.0.0/8 fib daddr type local meta l4proto . th dport vmap @" + MapSvcNodePort4},
		{Text: "ip6 daddr != ::1 fib daddr type local meta l4proto . th dport vmap @" + MapSvcNodePort6},
	}}
	newConn := Rule{Text: "ct state new jump " + ChainSvcNoEndpoints}
	prio := knftables.BaseChainPriority(knftables.FilterPriority + " - 10")
	hook(ChainSvcFilterFwd, knftables.FilterType, knftables.ForwardHook, prio, newConn)
	hook(ChainSvcFilterIn, knftables.FilterType, knftables.InputHook, prio, newConn)
	hook(ChainSvcFilterOut, knftables.FilterType, knftables.OutputHook, prio, newConn)
	r.t.Chains[ChainSvcNoEndpoints] = &Chain{Name: ChainSvcNoEndpoints, Rules: []Rule{
		{Text: "ip daddr . meta l4proto . th dport vmap @" + MapSvcNoEP4},
		{Text: "ip6 daddr . meta l4proto . th dport vmap @" + MapSvcNoEP6},
		{Text: "ip daddr != 127.0.0.0/8 fib daddr type local meta l4proto . th dport vmap @" + MapSvcNoEPNodePort4},
		{Text: "ip6 daddr != ::1 fib daddr type local meta l4proto . th dport vmap @" + MapSvcNoEPNodePort6},
	}}
	r.t.Chains[ChainSvcReject] = &Chain{Name: ChainSvcReject, Rules: []Rule{
		{Text: "meta l4proto tcp counter reject with tcp reset", Comment: "service without endpoints"},
		{Text: "counter reject", Comment: "service without endpoints"},
	}}
	r.fixedSets()
}

// fixedSets declares the maps and sets every service port adds elements to.
func (r *svcRenderer) fixedSets() {
	for _, m := range []struct {
		name, typ string
	}{
		{MapSvcAddr4, "ipv4_addr . inet_proto . inet_service : verdict"},
		{MapSvcAddr6, "ipv6_addr . inet_proto . inet_service : verdict"},
		{MapSvcNodePort4, "inet_proto . inet_service : verdict"},
		{MapSvcNodePort6, "inet_proto . inet_service : verdict"},
		{MapSvcNoEP4, "ipv4_addr . inet_proto . inet_service : verdict"},
		{MapSvcNoEP6, "ipv6_addr . inet_proto . inet_service : verdict"},
		{MapSvcNoEPNodePort4, "inet_proto . inet_service : verdict"},
		{MapSvcNoEPNodePort6, "inet_proto . inet_service : verdict"},
	} {
		r.t.Sets[m.name] = &Set{Name: m.name, Map: true, Type: m.typ}
	}
	r.t.Sets[SetSvcHairpin4] = &Set{Name: SetSvcHairpin4, Type: "ipv4_addr . ipv4_addr"}
	r.t.Sets[SetSvcHairpin6] = &Set{Name: SetSvcHairpin6, Type: "ipv6_addr . ipv6_addr"}
}

func svcMaps(fam int) (addr, nodePort, noEP, noEPNodePort string) {
	if fam == 4 {
		return MapSvcAddr4, MapSvcNodePort4, MapSvcNoEP4, MapSvcNoEPNodePort4
	}
	return MapSvcAddr6, MapSvcNodePort6, MapSvcNoEP6, MapSvcNoEPNodePort6
}

// port renders one service port's chains and map elements.
func (r *svcRenderer) port(p *service.Port) {
	addrMap, npMap, noEPMap, noEPNPMap := svcMaps(p.Family)
	proto := p.Protocol
	port := fmt.Sprint(p.Port)
	if p.ClusterIP.IsValid() {
		key := []string{p.ClusterIP.String(), proto, port}
		switch v := p.InternalVerdict(); v {
		case service.Forward:
			target := r.balance(p, p.InternalEndpoints(), p.InternalLocal)
			if p.External() && p.ExternalLocal && p.ExternalVerdict() != service.Reject {
				// The cluster IP of an externalTrafficPolicy Local service reached from
				// outside (advertised over BGP only by nodes with a local endpoint)
				// keeps the client address and uses local endpoints, as its other
				// external addresses do; pods and the node get the internal behaviour.
				target = r.external(p)
			}
			r.t.Sets[addrMap].AddElement(key, []string{"goto " + target})
		default:
			r.t.Sets[noEPMap].AddElement(key, []string{noEndpointVerdict(v)})
		}
	}
	if !p.External() {
		return
	}
	var extKeys [][]string
	for _, a := range append(slices.Clone(p.ExternalIPs), p.LoadBalancerIPs...) {
		extKeys = append(extKeys, []string{a.String(), proto, port})
	}
	npKey := []string{proto, fmt.Sprint(p.NodePort)}
	if v := p.ExternalVerdict(); v == service.Reject {
		for _, k := range extKeys {
			r.t.Sets[noEPMap].AddElement(k, []string{noEndpointVerdict(v)})
		}
		if p.NodePort != 0 {
			r.t.Sets[noEPNPMap].AddElement(npKey, []string{noEndpointVerdict(v)})
		}
		return
	}
	ext := r.external(p)
	for _, k := range extKeys {
		r.t.Sets[addrMap].AddElement(k, []string{"goto " + ext})
	}
	if p.NodePort != 0 {
		r.t.Sets[npMap].AddElement(npKey, []string{"goto " + ext})
	}
}

func noEndpointVerdict(v service.Verdict) string {
	if v == service.Drop {
		return "drop"
	}
	return "goto " + ChainSvcReject
}

// external renders the chain applying externalTrafficPolicy to external traffic.
func (r *svcRenderer) external(p *service.Port) string {
	name := hashName("svc-x-", "service-external|"+p.ID())
	cluster := Rule{Text: fmt.Sprintf("meta mark set meta mark | 0x%08x goto %s", ServiceExternalMark, r.balance(p, p.Cluster, false))}
	var rules []Rule
	if !p.ExternalLocal {
		rules = []Rule{cluster}
	} else {
		// Pods and the node itself are not external: pods get the internal
		// behaviour, the node's own clients the cluster-wide endpoints (masqueraded).
		switch p.InternalVerdict() {
		case service.Forward:
			rules = append(rules, Rule{Text: fmt.Sprintf("iifname %s goto %s", quote(r.cfg.IfPrefix+"*"), r.balance(p, p.InternalEndpoints(), p.InternalLocal))})
		default:
			rules = append(rules, Rule{Text: fmt.Sprintf("iifname %s %s", quote(r.cfg.IfPrefix+"*"), noEndpointVerdict(p.InternalVerdict()))})
		}
		cluster.Text = "fib saddr type local " + cluster.Text
		rules = append(rules, cluster)
		if len(p.Local) > 0 {
			rules = append(rules, Rule{Text: "goto " + r.balance(p, p.Local, true)})
		} else {
			rules = append(rules, Rule{Text: "counter drop", Comment: "service " + p.Namespace + "/" + p.Service + " has no local endpoint"})
		}
	}
	r.t.Chains[name] = &Chain{Name: name, Rules: rules}
	return name
}

// balance renders the chain spreading new connections over eps and returns its name.
func (r *svcRenderer) balance(p *service.Port, eps []service.Endpoint, local bool) string {
	which := "cluster"
	if local {
		which = "local"
	}
	name := hashName("svc-lb-", "service-balance|"+p.ID()+"|"+which)
	if r.t.Chains[name] != nil {
		return name
	}
	fam := "ip"
	if p.Family == 6 {
		fam = "ip6"
	}
	var rules []Rule
	hairpin := r.t.Sets[SetSvcHairpin4]
	if p.Family == 6 {
		hairpin = r.t.Sets[SetSvcHairpin6]
	}
	// Without affinity each choice DNATs in place; with it, each endpoint has a chain
	// that also records the client in the endpoint's affinity set.
	targets := make([]string, len(eps))
	for i, e := range eps {
		hairpin.AddElement([]string{e.Addr.String(), e.Addr.String()}, nil)
		if p.AffinitySeconds > 0 {
			targets[i] = "goto " + r.endpoint(p, e)
			rules = append(rules, Rule{Text: fmt.Sprintf("%s saddr @%s %s", fam, affinitySet(p, e), targets[i])})
		} else {
			targets[i] = dnat(p, e)
		}
	}
	// Uniform choice without a set per service (the kernel allocates anonymous set names
	// by scanning every set of the table, so one set per service makes big syncs
	// quadratic) and without a chain per endpoint (nft reads every object of the ruleset
	// before each transaction): endpoint i of n is taken with probability 1/(n-i) among
	// the rest.
	for i, t := range targets {
		if left := len(targets) - i; left > 1 {
			rules = append(rules, Rule{Text: fmt.Sprintf("numgen random mod %d == 0 %s", left, t)})
		} else {
			rules = append(rules, Rule{Text: t})
		}
	}
	r.t.Chains[name] = &Chain{Name: name, Rules: rules}
	return name
}

// dnat is the statement sending a connection to endpoint e.
func dnat(p *service.Port, e service.Endpoint) string {
	if p.Family == 6 {
		return fmt.Sprintf("meta l4proto %s dnat ip6 to %s", p.Protocol, e.AddrPort())
	}
	return fmt.Sprintf("meta l4proto %s dnat ip to %s", p.Protocol, e.AddrPort())
}

// affinitySet names an endpoint's affinity set; the timeout is part of the name because
// nft cannot change the timeout of an existing set (a new one replaces it).
func affinitySet(p *service.Port, e service.Endpoint) string {
	return hashName("svc-af-", fmt.Sprintf("service-affinity|%s|%s|%d", p.ID(), e.AddrPort(), p.AffinitySeconds))
}

// endpoint renders the chain of an endpoint of a service with session affinity:
// record the client, DNAT. It returns the chain's name.
func (r *svcRenderer) endpoint(p *service.Port, e service.Endpoint) string {
	name := hashName("svc-ep-", "service-endpoint|"+p.ID()+"|"+e.AddrPort().String())
	if r.t.Chains[name] != nil {
		return name
	}
	fam, addrType := "ip", "ipv4_addr"
	if p.Family == 6 {
		fam, addrType = "ip6", "ipv6_addr"
	}
	set := affinitySet(p, e)
	r.t.Sets[set] = &Set{Name: set, Type: addrType, Dynamic: true, Timeout: time.Duration(p.AffinitySeconds) * time.Second}
	rules := []Rule{
		{Text: fmt.Sprintf("update @%s { %s saddr }", set, fam)},
		{Text: dnat(p, e)},
	}
	r.t.Chains[name] = &Chain{Name: name, Rules: rules}
	return name
}
