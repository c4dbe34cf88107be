package nft

import (
	"fmt"
	"math/rand/v2"
	"net/netip"

	"github.com/trellisnet/trellis/internal/policy"
)

// randomState draws a state from a small universe, so consecutive draws share, change,
// add and remove endpoints, policies, profiles, sets and elements.
func randomState(rng *rand.Rand) *policy.State {
	st := &policy.State{}
	pols := map[string]bool{}
	profs := map[string]bool{}
	sets := map[string]bool{}
	named := map[string]bool{}
	chain := func() policy.Chain {
		var c policy.Chain
		for t := range rng.IntN(3) {
			tc := policy.TierChain{Name: fmt.Sprintf("tier%d", t), End: policy.ActionDeny}
			if rng.IntN(3) == 0 {
				tc.End = policy.ActionPass
			}
			for _, p := range rng.Perm(5)[:rng.IntN(4)] {
				name := fmt.Sprintf("pol%d", p)
				pols[name] = true
				tc.Policies = append(tc.Policies, pid(name))
			}
			c.Tiers = append(c.Tiers, tc)
		}
		for _, p := range rng.Perm(3)[:rng.IntN(3)] {
			name := fmt.Sprintf("prof%d", p)
			profs[name] = true
			c.Profiles = append(c.Profiles, name)
		}
		c.Final = []policy.Action{policy.ActionDeny, policy.ActionAllow}[rng.IntN(2)]
		return c
	}
	for _, i := range rng.Perm(6)[:rng.IntN(6)] {
		st.Endpoints = append(st.Endpoints, policy.Endpoint{
			Kind: policy.KindWorkload, Name: fmt.Sprintf("ns/pod%d", i), Interface: fmt.Sprintf("trlp%d", i),
			Ingress: chain(), Egress: chain(),
		})
	}
	rules := func() []policy.Rule {
		var out []policy.Rule
		for i := range rng.IntN(4) {
			r := policy.Rule{Index: i, Action: []policy.Action{policy.ActionAllow, policy.ActionDeny, policy.ActionLog, policy.ActionPass}[rng.IntN(4)]}
			r.Protocol = []string{"", "tcp", "udp", "icmp", "icmpv6"}[rng.IntN(5)]
			if r.Protocol == "tcp" || r.Protocol == "udp" {
				switch rng.IntN(4) {
				case 3:
					r.Destination.Ports = []policy.PortRange{{First: 443, Last: 443}, {First: 8443, Last: 8443}}
				case 0:
					r.Destination.Ports = []policy.PortRange{{First: 80, Last: 80}, {First: uint16(8000 + rng.IntN(3)), Last: 8100}}
				case 1:
					id := fmt.Sprintf("np%d", rng.IntN(2))
					named[id] = true
					r.Destination.NamedPortSets = []string{id}
				}
			}
			if r.Protocol == "icmp" && rng.IntN(2) == 0 {
				r.ICMP = &policy.ICMPMatch{Type: 8}
			}
			switch rng.IntN(4) {
			case 0:
				id := fmt.Sprintf("set%d", rng.IntN(4))
				sets[id] = true
				r.Source.IPSets = []string{id}
			case 1:
				id := fmt.Sprintf("set%d", rng.IntN(4))
				sets[id] = true
				r.Source.NotIPSets = []string{id}
			case 2:
				r.Source.Nets = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8:1::/48"),
					netip.MustParsePrefix("192.0.2.0/24")}[:1+rng.IntN(3)]
			}
			switch rng.IntN(8) {
			case 0:
				r.IPVersion = 4 + 2*rng.IntN(2)
			case 1:
				if r.Protocol == "" {
					r.NotProtocol = "udp"
				}
			case 2:
				if r.Protocol == "icmp" {
					r.NotICMP = &policy.ICMPMatch{Type: 3, Code: 1, HasCode: true}
				}
			case 3:
				if r.Protocol == "tcp" {
					r.Destination.NotPorts = []policy.PortRange{{First: 22, Last: 22}}
					id := fmt.Sprintf("np%d", rng.IntN(2))
					named[id] = true
					r.Destination.NotNamedPortSets = []string{id}
				}
			case 4:
				r.Destination.NotNets = []netip.Prefix{netip.MustParsePrefix("10.3.0.0/16"), netip.MustParsePrefix("10.3.1.0/24")}
			case 5:
				if r.Action == policy.ActionLog {
					r.LogPrefix = "custom \"quoted\" prefix"
				}
			}
			out = append(out, r)
		}
		return out
	}
	for name := range pols {
		st.Policies = append(st.Policies, policy.Policy{ID: pid(name), Ingress: rules(), Egress: rules()})
	}
	for name := range profs {
		st.Profiles = append(st.Profiles, policy.Profile{Name: name, Ingress: rules(), Egress: rules()})
	}
	pool := []string{"10.1.0.0/16", "10.1.2.0/24", "10.2.0.1/32", "10.3.0.0/24", "2001:db8::1/128", "2001:db8:2::/64", "192.0.2.0/24"}
	for id := range sets {
		s := policy.IPSet{ID: id, Kind: policy.SetNets, Expr: id}
		for _, i := range rng.Perm(len(pool))[:rng.IntN(len(pool))] {
			s.Members = append(s.Members, policy.Member{Prefix: netip.MustParsePrefix(pool[i])})
		}
		st.IPSets = append(st.IPSets, s)
	}
	for id := range named {
		s := policy.IPSet{ID: id, Kind: policy.SetNamedPort, Expr: id}
		for i := range rng.IntN(4) {
			s.Members = append(s.Members,
				policy.Member{Prefix: netip.MustParsePrefix(fmt.Sprintf("10.9.0.%d/32", i)), Proto: "tcp", Port: uint16(8080 + rng.IntN(2))},
				policy.Member{Prefix: netip.MustParsePrefix(fmt.Sprintf("2001:db8:9::%d/128", i)), Proto: "udp", Port: 53})
		}
		st.IPSets = append(st.IPSets, s)
	}
	return sortState(st)
}

func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 7)) }

// mergeState draws a state whose policies are mostly mergeable (allow rules from or to
// one selector set or nets of single addresses, on single ports), mixed with some that
// are not (deny, pass, port ranges, a network, source ports), in one tier, so that runs
// of every length form in both directions.
func mergeState(rng *rand.Rand) *policy.State {
	st := &policy.State{}
	pool := []string{"10.5.0.1/32", "10.5.0.2/32", "10.5.0.3/32", "2001:db8:5::1/128", "2001:db8:5::2/128", "10.6.0.0/24"}
	for s := range 4 {
		set := policy.IPSet{ID: fmt.Sprintf("mset%d", s), Kind: policy.SetNets}
		for _, i := range rng.Perm(len(pool))[:1+rng.IntN(3)] {
			if i == len(pool)-1 && rng.IntN(2) == 0 {
				continue // the network only sometimes
			}
			set.Members = append(set.Members, policy.Member{Prefix: netip.MustParsePrefix(pool[i])})
		}
		st.IPSets = append(st.IPSets, set)
	}
	port := func() []policy.PortRange {
		ports := []uint16{80, 443, 8080}
		p := ports[rng.IntN(len(ports))]
		if rng.IntN(8) == 0 {
			return []policy.PortRange{{First: 8000, Last: 8100}}
		}
		return []policy.PortRange{{First: p, Last: p}}
	}
	rule := func(i int, ingress bool) policy.Rule {
		r := policy.Rule{Index: i, Action: policy.ActionAllow, Protocol: []string{"tcp", "udp"}[rng.IntN(2)]}
		switch rng.IntN(10) {
		case 0:
			r.Action = policy.ActionDeny
		case 1:
			r.Action = policy.ActionPass
		}
		var peer policy.Match
		if rng.IntN(4) == 0 {
			peer.Nets = []netip.Prefix{netip.MustParsePrefix(pool[rng.IntN(len(pool))])}
		} else {
			peer.IPSets = []string{fmt.Sprintf("mset%d", rng.IntN(4))}
		}
		if ingress {
			r.Source, r.Destination.Ports = peer, port()
			if rng.IntN(10) == 0 {
				r.Source.Ports = port() // source ports: not mergeable
			}
		} else {
			r.Destination, r.Destination.Ports = peer, port()
			if rng.IntN(6) == 0 {
				r.Source.Ports, r.Destination.Ports = port(), nil // source ports only
			}
		}
		return r
	}
	var ids []policy.PolicyID
	for p := range 12 {
		pol := policy.Policy{ID: pid(fmt.Sprintf("mpol%02d", p))}
		for i := range 1 + rng.IntN(2) {
			pol.Ingress = append(pol.Ingress, rule(i, true))
			pol.Egress = append(pol.Egress, rule(i, false))
		}
		st.Policies = append(st.Policies, pol)
		ids = append(ids, pol.ID)
	}
	for e := range 3 {
		chain := func() policy.Chain {
			var ps []policy.PolicyID
			for _, i := range rng.Perm(len(ids))[:4+rng.IntN(8)] {
				ps = append(ps, ids[i])
			}
			return policy.Chain{Tiers: []policy.TierChain{{Name: "default", End: policy.ActionDeny, Policies: ps}}, Final: policy.ActionDeny}
		}
		st.Endpoints = append(st.Endpoints, policy.Endpoint{Kind: policy.KindWorkload, Name: fmt.Sprintf("ns/m%d", e),
			Interface: fmt.Sprintf("trlm%d", e), Ingress: chain(), Egress: chain()})
	}
	return sortState(st)
}
