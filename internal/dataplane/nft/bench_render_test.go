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
