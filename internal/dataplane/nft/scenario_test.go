package nft

import (
	"net/netip"
	"sort"

	"github.com/trellisnet/trellis/internal/policy"
)

// testPod is what a scenario needs to know about a pod.
type testPod struct {
	Name  string
	Iface string
	V4    netip.Addr
	V6    netip.Addr
}

func hostPrefixes(p testPod) []netip.Prefix {
	return []netip.Prefix{netip.PrefixFrom(p.V4, 32), netip.PrefixFrom(p.V6, 128)}
}

func pid(name string) policy.PolicyID {
	return policy.PolicyID{Kind: policy.PolicyGlobal, Name: name}
}

// sortState puts a hand-built state in the order policy.State promises.
func sortState(st *policy.State) *policy.State {
	sort.Slice(st.Endpoints, func(i, j int) bool { return st.Endpoints[i].Name < st.Endpoints[j].Name })
	sort.Slice(st.Policies, func(i, j int) bool { return st.Policies[i].ID.Less(st.Policies[j].ID) })
	sort.Slice(st.Profiles, func(i, j int) bool { return st.Profiles[i].Name < st.Profiles[j].Name })
	sort.Slice(st.IPSets, func(i, j int) bool { return st.IPSets[i].ID < st.IPSets[j].ID })
	return st
}

const (
	portHTTP  = 7001 // allowed from A through a named port
	portOther = 7002 // no rule allows it
)

// connectivityState is the policy of the connectivity table: pods a, b, c are clients,
// s the server; pod "x" exists in the topology but not in the state (its interface must
// be dropped). Tiers:
//
//	security (end deny): deny-b-udp: deny udp from {b}; pass-ab: pass from {a,b}
//	default  (end deny): allow-b-other: allow tcp to port 7002 from {b} (mergeable);
//	                     allow-a: allow tcp to named port http from {a}, allow icmp from {a};
//	                     allow-udp: log, allow udp
//
// Clients have only the profile "open" (allow everything both ways).
func connectivityState(a, b, c, s testPod) *policy.State {
	open := policy.Profile{Name: "open",
		Ingress: []policy.Rule{{Action: policy.ActionAllow}},
		Egress:  []policy.Rule{{Action: policy.ActionAllow}}}
	client := func(p testPod) policy.Endpoint {
		return policy.Endpoint{Kind: policy.KindWorkload, Name: "default/" + p.Name, Namespace: "default", Interface: p.Iface,
			Addrs:   hostPrefixes(p),
			Ingress: policy.Chain{Profiles: []string{"open"}, Final: policy.ActionDeny},
			Egress:  policy.Chain{Profiles: []string{"open"}, Final: policy.ActionDeny}}
	}
	server := policy.Endpoint{Kind: policy.KindWorkload, Name: "default/" + s.Name, Namespace: "default", Interface: s.Iface,
		Addrs: hostPrefixes(s),
		Ingress: policy.Chain{Tiers: []policy.TierChain{
			{Name: "security", Policies: []policy.PolicyID{pid("deny-b-udp"), pid("pass-ab")}, End: policy.ActionDeny},
			{Name: "default", Policies: []policy.PolicyID{pid("allow-b-other"), pid("allow-a"), pid("allow-udp")}, End: policy.ActionDeny},
		}, Profiles: []string{"open"}, Final: policy.ActionDeny},
		Egress: policy.Chain{Profiles: []string{"open"}, Final: policy.ActionDeny}}
	member := func(ps ...testPod) []policy.Member {
		var m []policy.Member
		for _, p := range ps {
			for _, pr := range hostPrefixes(p) {
				m = append(m, policy.Member{Prefix: pr})
			}
		}
		return m
	}
	sel := func(ids ...string) policy.Match { return policy.Match{IPSets: ids} }
	return sortState(&policy.State{
		Endpoints: []policy.Endpoint{client(a), client(b), client(c), server},
		Policies: []policy.Policy{
			{ID: pid("deny-b-udp"), Tier: "security", Ingress: []policy.Rule{{Action: policy.ActionDeny, Protocol: "udp", Source: sel("set-b")}}},
			{ID: pid("pass-ab"), Tier: "security", Ingress: []policy.Rule{{Action: policy.ActionPass, Source: sel("set-ab")}}},
			{ID: pid("allow-a"), Tier: "default", Ingress: []policy.Rule{
				{Index: 0, Action: policy.ActionAllow, Protocol: "tcp", Source: sel("set-a"),
					Destination: policy.Match{NamedPortSets: []string{"np-http"}}},
				{Index: 1, Action: policy.ActionAllow, Protocol: "icmp", Source: sel("set-a")},
				{Index: 2, Action: policy.ActionAllow, Protocol: "icmpv6", Source: sel("set-a")},
			}},
			{ID: pid("allow-b-other"), Tier: "default", Ingress: []policy.Rule{
				{Action: policy.ActionAllow, Protocol: "tcp", Source: sel("set-b"), Destination: policy.Match{Ports: []policy.PortRange{{First: portOther, Last: portOther}}}},
			}},
			{ID: pid("allow-udp"), Tier: "default", Ingress: []policy.Rule{
				{Index: 0, Action: policy.ActionLog, Protocol: "udp"},
				{Index: 1, Action: policy.ActionAllow, Protocol: "udp", Destination: policy.Match{Ports: []policy.PortRange{{First: 1, Last: 65535}}}},
			}},
		},
		Profiles: []policy.Profile{open},
		IPSets: []policy.IPSet{
			{ID: "set-a", Kind: policy.SetNets, Expr: "app == 'a'", Members: member(a)},
			{ID: "set-ab", Kind: policy.SetNets, Expr: "app in {'a','b'}", Members: member(a, b)},
			{ID: "set-b", Kind: policy.SetNets, Expr: "app == 'b'", Members: member(b)},
			{ID: "np-http", Kind: policy.SetNamedPort, Expr: "app == 's' port tcp:http", Members: []policy.Member{
				{Prefix: netip.PrefixFrom(s.V4, 32), Proto: "tcp", Port: portHTTP},
				{Prefix: netip.PrefixFrom(s.V6, 128), Proto: "tcp", Port: portHTTP},
			}},
		},
	})
}
