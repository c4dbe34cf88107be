package nft

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/trellisnet/trellis/internal/dataplane/nft/trace"
	"github.com/trellisnet/trellis/internal/policy"
)

// expectedFlowRule is the flow rule a table must log for one side's decision of
// policy.Trace (ok false: that side logs nothing).
func expectedFlowRule(d policy.Decision, ingress bool) (FlowRule, bool) {
	fr := FlowRule{Ingress: ingress, Action: d.Verdict, Rule: -1}
	switch d.Reason {
	case policy.ReasonRule:
		fr.Kind, fr.Tier, fr.Policy, fr.Rule, fr.RuleName = FlowPolicy, d.Tier, d.Policy, d.Rule, d.RuleName
	case policy.ReasonEndOfTier:
		fr.Kind, fr.Tier = FlowEndOfTier, d.Tier
	case policy.ReasonProfile:
		fr.Kind, fr.Profile, fr.Rule = FlowProfile, d.Profile, d.Rule
	case policy.ReasonDefault:
		fr.Kind = FlowFinal
	default:
		return fr, false
	}
	return fr, true
}

// TestFlowLogAttribution checks, for the connectivity and ClusterNetworkPolicy tables
// under every render configuration, that the flow-log prefixes a packet's path logs name
// exactly what policy.Trace says decided at the source and at the destination (a merged
// run names its tier), and that every prefix the table uses is in FlowRules.
func TestFlowLogAttribution(t *testing.T) {
	a, b, c, s := testPods()
	states := map[string]struct {
		st   *policy.State
		rows []connRow
	}{
		"connectivity": {connectivityState(a, b, c, s), loadConnTable(t, "connectivity.table")},
		"cnp":          {cnpState(t, map[string]testPod{"a": a, "b": b, "c": c, "s": s}), loadConnTable(t, "cnp.table")},
	}
	peers := connPeers()
	checked := map[string]int{}
	for sname, sc := range states {
		dict := FlowRules(sc.st)
		for cname, cfg := range renderConfigs {
			cfg.FlowLogGroup = 7
			tbl := Render(cfg, sc.st)
			for _, ch := range tbl.Chains {
				for _, r := range ch.Rules {
					if i := strings.Index(r.Text, "log prefix \""); i >= 0 && strings.Contains(r.Text, " group 7 ") {
						p := r.Text[i+len(`log prefix "`):]
						p = p[:strings.IndexByte(p, '"')]
						if _, ok := dict[p]; !ok {
							t.Errorf("%s/%s: prefix %q of rule %q is not in FlowRules", sname, cname, p, r.Text)
						}
					}
				}
			}
			_, tab := applyFake(t, tbl)
			for _, row := range sc.rows {
				src, dst := peers[row.src], peers[row.dst]
				// The host has no workload interface, and x is no endpoint (its interface
				// is dropped before any policy: no policy verdict to attribute).
				if row.dst == "host" || row.src == "host" || row.src == "x" || row.dst == "x" {
					continue
				}
				from, to := src.v4, dst.v4
				if row.v6 {
					from, to = src.v6, dst.v6
				}
				res, err := tab.Trace(trace.Probe(src.iface, dst.iface, from, to, row.proto, uint16(row.port)))
				if err != nil {
					t.Fatalf("%s/%s %s: %v", sname, cname, row, err)
				}
				var got []FlowRule
				for _, l := range res.Logs {
					if fr, ok := dict[l]; ok {
						got = append(got, fr)
					}
				}
				proto := row.proto
				tr := policy.Trace(sc.st, policy.Packet{Src: from, Dst: to, Proto: proto, Port: uint16(row.port)})
				var want []FlowRule
				if fr, ok := expectedFlowRule(tr.Egress, false); ok {
					want = append(want, fr)
				}
				if tr.Egress.Verdict == policy.ActionAllow {
					if fr, ok := expectedFlowRule(tr.Ingress, true); ok {
						want = append(want, fr)
					}
				}
				if len(got) != len(want) {
					t.Errorf("%s/%s %s: logged %+v, want %+v", sname, cname, row, got, want)
					continue
				}
				for i := range want {
					if got[i].Kind == FlowMerged && want[i].Kind == FlowPolicy {
						// A merged run names its tier; the collector asks the calculation which
						// of the run's policies it was.
						want[i] = FlowRule{Ingress: want[i].Ingress, Action: want[i].Action, Kind: FlowMerged, Tier: want[i].Tier, Rule: -1}
					}
					if got[i].Kind == FlowEndOfTier {
						got[i].Policy = policy.PolicyID{} // the tier's last policy: checked below
					}
					if got[i] != want[i] {
						t.Errorf("%s/%s %s: logged %+v, want %+v", sname, cname, row, got[i], want[i])
					}
					checked[got[i].Kind]++
				}
			}
		}
	}
	t.Logf("attributions checked by kind: %v", checked)
	for _, k := range []string{FlowPolicy, FlowEndOfTier, FlowProfile, FlowMerged} {
		if checked[k] == 0 {
			t.Errorf("no %s attribution checked", k)
		}
	}
}

// TestFlowRulesEndOfTier: an end-of-tier denial names the tier's last policy selecting
// the endpoint, as Calico's flow logs do.
func TestFlowRulesEndOfTier(t *testing.T) {
	p1 := policy.PolicyID{Kind: policy.PolicyGlobal, Name: "first"}
	p2 := policy.PolicyID{Kind: policy.PolicyGlobal, Name: "last"}
	tier := policy.TierChain{Name: "security", Policies: []policy.PolicyID{p1, p2}, End: policy.ActionDeny}
	st := &policy.State{Endpoints: []policy.Endpoint{{Kind: policy.KindWorkload, Name: "ns/pod", Interface: "trlx",
		Addrs:   []netip.Prefix{netip.MustParsePrefix("10.0.0.1/32")},
		Ingress: policy.Chain{Tiers: []policy.TierChain{tier}, Final: policy.ActionDeny}}}}
	fr, ok := FlowRules(st)[flowPrefix(dirTo, policy.ActionDeny, endOfTierKey(tier))]
	if !ok || fr.Kind != FlowEndOfTier || fr.Policy != p2 || fr.Tier != "security" || fr.Rule != -1 || !fr.Ingress {
		t.Errorf("end of tier: %+v (found %v), want the tier security and its last policy %v", fr, ok, p2)
	}
}
