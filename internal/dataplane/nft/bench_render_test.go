package nft

import (
	"fmt"
	"net/netip"
	"testing"

	"sigs.k8s.io/knftables"

	"github.com/trellisnet/trellis/internal/policy"
)

// agentShapeState mirrors bench/agent: nPol namespaced policies, policy i selecting
// app i%50 and allowing TCP port 1000+i%500 from role i%20 (a selector set of
// nEp/20 addresses); 100 local endpoints, endpoint j having app j%50. variant changes
// one policy's port.
func agentShapeState(nPol, nEp int, variant int) *policy.State {
	st := &policy.State{}
	for r := range 20 {
		s := policy.IPSet{ID: fmt.Sprintf("role%02d", r), Kind: policy.SetNets}
		for j := r; j < nEp; j += 20 {
			a := netip.AddrFrom4([4]byte{10, 67, byte(j / 250), byte(j%250 + 1)})
			s.Members = append(s.Members, policy.Member{Prefix: netip.PrefixFrom(a, 32)})
		}
		st.IPSets = append(st.IPSets, s)
	}
	for i := range nPol {
		port := uint16(1000 + i%500)
		if i == 0 {
			port += uint16(variant)
		}
		st.Policies = append(st.Policies, policy.Policy{ID: pid(fmt.Sprintf("p%05d", i)), Ingress: []policy.Rule{{
			Action: policy.ActionAllow, Protocol: "tcp", Source: policy.Match{IPSets: []string{fmt.Sprintf("role%02d", i%20)}},
			Destination: policy.Match{Ports: []policy.PortRange{{First: port, Last: port}}}}}})
	}
	for j := range 100 {
		ep := policy.Endpoint{Kind: policy.KindWorkload, Name: fmt.Sprintf("ns/w%05d", j), Interface: fmt.Sprintf("trlx%d", j),
			Ingress: policy.Chain{Tiers: []policy.TierChain{{Name: "default", End: policy.ActionDeny}}, Final: policy.ActionDeny},
			Egress:  policy.Chain{Final: policy.ActionAllow}}
		for i := j % 50; i < nPol; i += 50 {
			ep.Ingress.Tiers[0].Policies = append(ep.Ingress.Tiers[0].Policies, pid(fmt.Sprintf("p%05d", i)))
		}
		st.Endpoints = append(st.Endpoints, ep)
	}
	return sortState(st)
}

// BenchmarkRenderPlan measures rendering a state and planning the partial sync from the
// previous one (no kernel): the CPU part of one agent sync with one policy changed.
func BenchmarkRenderPlan(b *testing.B) {
	states := [2]*policy.State{agentShapeState(1000, 10000, 0), agentShapeState(1000, 10000, 1)}
	f := knftables.NewFake(knftables.InetFamily, "trellis")
	prev := Render(Config{}, states[1])
	var ops int
	for i := 0; b.Loop(); i++ {
		t := Render(Config{}, states[i%2])
		tx := f.NewTransaction()
		PlanPartial(tx, prev, t)
		ops = tx.NumOperations()
		prev = t
	}
	st := prev.Stats()
	b.ReportMetric(float64(ops), "ops/tx")
	b.ReportMetric(float64(st.Elements), "elements")
	b.ReportMetric(float64(st.Sets), "sets")
}

// BenchmarkRendererSync measures the Renderer as the agent uses it between syncs: the
// sync benchmark's state (bench/nft: nPol policies, 100 local endpoints) alternating
// between two variants that differ in one policy, one set member and one endpoint's
// policy order, and the partial plan from the previous table.
func BenchmarkRendererSync(b *testing.B) {
	for _, nPol := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("policies=%d", nPol), func(b *testing.B) {
			_, ops := renderAlternating(b, [2]*policy.State{benchState(nPol, 100, false, netip.Addr{}, 0), benchState(nPol, 100, false, netip.Addr{}, 1)})
			b.ReportMetric(float64(ops), "ops/tx")
		})
	}
}

// benchState has nPol policies in one tier and nEp workload endpoints. Policy i selects
// endpoint i%nEp, or every endpoint when allSelect is set; it allows TCP to portHTTP from
// its own selector set (ten addresses nobody uses) and denies UDP from a net. When
// allow is valid, a last policy allows TCP from it (so probes walk every policy first).
// variant changes one policy, one set member and one endpoint's policy order: a typical
// small update for partial syncs.
func benchState(nPol, nEp int, allSelect bool, allow netip.Addr, variant int) *policy.State {
	return benchStateRules(nPol, nEp, allSelect, allow, variant, true)
}

// benchStateRules is benchState; withDeny false leaves out the UDP deny rule, so every
// policy is allow-only (mergeable).
func benchStateRules(nPol, nEp int, allSelect bool, allow netip.Addr, variant int, withDeny bool) *policy.State {
	st := &policy.State{}
	eps := make([]policy.Endpoint, nEp)
	for i := range eps {
		eps[i] = policy.Endpoint{Kind: policy.KindWorkload, Name: fmt.Sprintf("bench/pod%05d", i), Interface: fmt.Sprintf("trlb%d", i),
			Ingress: policy.Chain{Tiers: []policy.TierChain{{Name: "default", End: policy.ActionDeny}}, Final: policy.ActionDeny},
			Egress:  policy.Chain{Profiles: []string{"open"}, Final: policy.ActionDeny}}
	}
	for i := range nPol {
		id := pid(fmt.Sprintf("pol%05d", i))
		set := fmt.Sprintf("set%05d", i)
		port := uint16(portHTTP)
		if i == 0 && variant%2 == 1 {
			port++
		}
		rules := []policy.Rule{{Index: 0, Action: policy.ActionAllow, Protocol: "tcp", Source: policy.Match{IPSets: []string{set}},
			Destination: policy.Match{Ports: []policy.PortRange{{First: port, Last: port}}}}}
		if withDeny {
			rules = append(rules, policy.Rule{Index: 1, Action: policy.ActionDeny, Protocol: "udp",
				Source: policy.Match{Nets: []netip.Prefix{netip.MustParsePrefix("10.200.0.0/16")}}})
		}
		st.Policies = append(st.Policies, policy.Policy{ID: id, Ingress: rules})
		s := policy.IPSet{ID: set, Kind: policy.SetNets}
		for j := range 10 {
			a := benchAddr(i, j)
			if i == 0 && j == 0 && variant%2 == 1 {
				a = netip.MustParseAddr("10.99.99.99")
			}
			s.Members = append(s.Members, policy.Member{Prefix: netip.PrefixFrom(a, 32)})
		}
		st.IPSets = append(st.IPSets, s)
		if allSelect {
			for e := range eps {
				eps[e].Ingress.Tiers[0].Policies = append(eps[e].Ingress.Tiers[0].Policies, id)
			}
		} else {
			e := &eps[i%nEp]
			e.Ingress.Tiers[0].Policies = append(e.Ingress.Tiers[0].Policies, id)
		}
	}
	if variant%2 == 1 && len(eps[0].Ingress.Tiers[0].Policies) > 1 {
		ps := eps[0].Ingress.Tiers[0].Policies
		ps[0], ps[1] = ps[1], ps[0]
	}
	if allow.IsValid() {
		id := pid("zz-allow-client")
		st.Policies = append(st.Policies, policy.Policy{ID: id, Ingress: []policy.Rule{{Action: policy.ActionAllow, Protocol: "tcp",
			Source:      policy.Match{Nets: []netip.Prefix{netip.PrefixFrom(allow, 32)}},
			Destination: policy.Match{Ports: []policy.PortRange{{First: portHTTP, Last: portHTTP}}}}}})
		for e := range eps {
			eps[e].Ingress.Tiers[0].Policies = append(eps[e].Ingress.Tiers[0].Policies, id)
		}
	}
	st.Endpoints = eps
	st.Profiles = []policy.Profile{{Name: "open", Egress: []policy.Rule{{Action: policy.ActionAllow}}}}
	return sortState(st)
}

// benchAddr is member j of policy i's set: distinct addresses in 10.100.0.0/14.
func benchAddr(i, j int) netip.Addr {
	k := i*10 + j
	return netip.AddrFrom4([4]byte{10, byte(100 + k>>16), byte(k >> 8), byte(k)})
}

// renderAlternating renders the two states in turn with one Renderer, planning each as a
// partial sync from the previous table, for as long as the benchmark loops. It returns the
// last table and the operations of the last transaction.
func renderAlternating(b *testing.B, states [2]*policy.State) (*Table, int) {
	f := knftables.NewFake(knftables.InetFamily, "trellis")
	rr := NewRenderer(Config{})
	prev := rr.Render(states[1])
	var ops int
	for i := 0; b.Loop(); i++ {
		t := rr.Render(states[i%2])
		tx := f.NewTransaction()
		PlanPartial(tx, prev, t)
		ops = tx.NumOperations()
		prev = t
	}
	return prev, ops
}

// BenchmarkFlowRules: the flow-log prefix dictionary the agent builds after every sync
// with flow logs on, at the sync benchmark's 10k policies and 100 endpoints.
func BenchmarkFlowRules(b *testing.B) {
	st := benchState(10000, 100, false, netip.Addr{}, 0)
	b.ReportAllocs()
	for b.Loop() {
		FlowRules(st)
	}
}
