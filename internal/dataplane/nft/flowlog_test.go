package nft

import (
	"fmt"
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
			rr := NewRenderer(cfg)
			tbl := rr.Render(sc.st)
			marks := rr.FlowMarks()
			for id, p := range marks.IDs {
				if _, ok := dict[p]; !ok {
					t.Errorf("%s/%s: flow ID %d stands for prefix %q, which is not in FlowRules", sname, cname, id, p)
				}
			}
			for _, ch := range tbl.Chains {
				for _, r := range ch.Rules {
					if i := strings.Index(r.Text, "log prefix \""); i >= 0 && strings.Contains(r.Text, " group 7 ") {
						p := r.Text[i+len(`log prefix "`):]
						p = p[:strings.IndexByte(p, '"')]
						if _, ok := dict[p]; !ok && p != FlowMarkPrefix {
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
				for i, l := range res.Logs {
					fr, isFlow := dict[l]
					if !isFlow && l != FlowMarkPrefix {
						continue // a Log rule's message, to the kernel log
					}
					// A message first names the egress allow its mark carries, then its own
					// verdict (none for the late rules).
					if p, ok := marks.Prefix(res.LogMarks[i]); ok {
						got = append(got, dict[p])
					} else if !isFlow {
						t.Errorf("%s/%s %s: a late rule logged mark 0x%08x, which names no egress allow", sname, cname, row, res.LogMarks[i])
					}
					if isFlow {
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

// TestFlowMarkLeavesNode: an egress allow's flow ID rides the packet's mark to the late
// rule of the hook it leaves by (another node, or the host itself), which logs it once;
// an egress denial is logged where it is decided.
func TestFlowMarkLeavesNode(t *testing.T) {
	a, b, c, s := testPods()
	remote := netip.MustParseAddr("10.99.0.1")
	seen := map[bool]int{}
	closed := connectivityState(a, b, c, s)
	for i := range closed.Endpoints {
		closed.Endpoints[i].Egress = policy.Chain{Final: policy.ActionDeny} // no profile: the final deny
	}
	for _, st := range []*policy.State{connectivityState(a, b, c, s), cnpState(t, map[string]testPod{"a": a, "b": b, "c": c, "s": s}), closed} {
		dict := FlowRules(st)
		rr := NewRenderer(Config{FlowLogGroup: 7})
		_, tab := applyFake(t, rr.Render(st))
		marks := rr.FlowMarks()
		for _, pod := range []testPod{a, b, c, s} {
			for _, oif := range []string{"eth0", ""} { // to another node, to the host
				for _, port := range []uint16{80, 7001} {
					res, err := tab.Trace(trace.Probe(pod.Iface, oif, pod.V4, remote, "tcp", port))
					if err != nil {
						t.Fatal(err)
					}
					want, ok := expectedFlowRule(policy.Trace(st, policy.Packet{Src: pod.V4, Dst: remote, Proto: "tcp", Port: port}).Egress, false)
					var got []FlowRule
					for i, l := range res.Logs {
						if p, ok := marks.Prefix(res.LogMarks[i]); ok {
							got = append(got, dict[p])
						}
						if fr, ok := dict[l]; ok {
							got = append(got, fr)
						}
					}
					where := fmt.Sprintf("%s -> %s:%d oif %q", pod.Name, remote, port, oif)
					if !ok {
						t.Fatalf("%s: no egress decision to expect", where)
					}
					if len(got) != 1 || got[0].Kind != want.Kind || got[0].Action != want.Action || got[0].Policy != want.Policy || got[0].Profile != want.Profile {
						t.Errorf("%s: logged %+v, want one %+v", where, got, want)
						continue
					}
					if want.Action == policy.ActionAllow {
						if n := len(res.Logs); n == 0 || res.Logs[n-1] != FlowMarkPrefix {
							t.Errorf("%s: the egress allow was logged by %v, want the late rule %q", where, res.Logs, FlowMarkPrefix)
						}
					}
					seen[want.Action == policy.ActionAllow]++
				}
			}
		}
	}
	if seen[true] == 0 || seen[false] == 0 {
		t.Errorf("probes allowed/denied at egress: %v; want both", seen)
	}
}

// TestFlowIDs: a Renderer keeps an egress allow's flow ID while a chain uses it, frees it
// when none does (reusing freed IDs last), and logs an egress allow where it is decided
// when the mark's IDs have run out.
func TestFlowIDs(t *testing.T) {
	pod := policy.Endpoint{Kind: policy.KindWorkload, Name: "ns/pod", Interface: "trlpod",
		Addrs: []netip.Prefix{netip.MustParsePrefix("10.0.0.1/32")}}
	withPolicies := func(names ...string) *policy.State {
		st := &policy.State{}
		var ids []policy.PolicyID
		for _, n := range names {
			id := policy.PolicyID{Kind: policy.PolicyGlobal, Name: n}
			ids = append(ids, id)
			st.Policies = append(st.Policies, policy.Policy{ID: id, Tier: "default",
				Egress: []policy.Rule{{Index: 0, Action: policy.ActionAllow, Protocol: "tcp",
					Destination: policy.Match{Ports: []policy.PortRange{{First: 80, Last: 80}}}}}})
		}
		ep := pod
		ep.Egress = policy.Chain{Tiers: []policy.TierChain{{Name: "default", Policies: ids, End: policy.ActionDeny}}, Final: policy.ActionDeny}
		st.Endpoints = []policy.Endpoint{ep}
		return st
	}
	prefix := func(name string) string {
		return flowPrefix(dirFrom, policy.ActionAllow, policyRuleKey("policy|GlobalNetworkPolicy/"+name, 0))
	}
	idOf := func(m FlowMarks, name string) uint32 {
		for id, p := range m.IDs {
			if p == prefix(name) {
				return id
			}
		}
		return 0
	}
	// Two mark bits: three IDs.
	rr := NewRenderer(Config{FlowLogGroup: 7, FlowMarkMask: 0x00030000, MergeRun: -1})
	rr.Render(withPolicies("p1", "p2", "p3"))
	m1 := rr.FlowMarks()
	if len(m1.IDs) != 3 || idOf(m1, "p1") == 0 || idOf(m1, "p2") == 0 || idOf(m1, "p3") == 0 {
		t.Fatalf("after p1..p3: IDs %v, want one each", m1.IDs)
	}
	rr.Render(withPolicies("p1", "p3"))
	m2 := rr.FlowMarks()
	if idOf(m2, "p1") != idOf(m1, "p1") || idOf(m2, "p3") != idOf(m1, "p3") || idOf(m2, "p2") != 0 || len(m2.IDs) != 2 {
		t.Fatalf("after removing p2: IDs %v, want p1 and p3 unchanged (%v) and p2's freed", m2.IDs, m1.IDs)
	}
	if m1.IDs[idOf(m1, "p2")] != prefix("p2") {
		t.Fatal("a snapshot changed after it was handed out")
	}
	// p4 takes p2's freed ID; p5 finds none left and is logged where it is decided.
	tbl := rr.Render(withPolicies("p1", "p3", "p4", "p5"))
	m3 := rr.FlowMarks()
	if idOf(m3, "p4") != idOf(m1, "p2") || idOf(m3, "p5") != 0 {
		t.Fatalf("after adding p4, p5: IDs %v; want p4 on p2's old ID %d and no ID for p5", m3.IDs, idOf(m1, "p2"))
	}
	var logged, marked int
	for _, ch := range tbl.Chains {
		for _, r := range ch.Rules {
			if strings.Contains(r.Text, `log prefix "`+prefix("p5")+`"`) {
				logged++
			}
			if strings.Contains(r.Text, fmt.Sprintf("meta mark set meta mark & 0x%08x | 0x%08x", 0xfffcffff|deposit(idOf(m3, "p4"), 0x00030000), deposit(idOf(m3, "p4"), 0x00030000))) {
				marked++
			}
		}
	}
	if logged != 1 || marked != 1 {
		t.Errorf("p5 logged by %d rules (want 1), p4's ID written by %d (want 1)", logged, marked)
	}
	for _, v := range []uint32{0, 1, 2, 3} {
		if got := extract(deposit(v, 0x00a50000), 0x00a50000); got != v {
			t.Errorf("extract(deposit(%d)) = %d", v, got)
		}
	}
	if d := deposit(0b101, 0x00a50000); d != 0x00210000 {
		t.Errorf("deposit(0b101, 0x00a50000) = 0x%08x", d)
	}
}

// TestFlowMarkThroughHostEndpoint: a workload's egress allow, then a host endpoint's
// forward egress allow on the interface the packet leaves by: both are logged (the host
// endpoint's chain logs the workload's flow ID before writing its own), once each.
func TestFlowMarkThroughHostEndpoint(t *testing.T) {
	w := netip.MustParseAddr("10.65.0.2")
	st := sortState(&policy.State{Endpoints: []policy.Endpoint{
		{Kind: policy.KindWorkload, Name: "ns/w", Interface: "trlw", Addrs: []netip.Prefix{netip.PrefixFrom(w, 32)},
			Ingress: policy.Chain{Final: policy.ActionAllow}, Egress: policy.Chain{Final: policy.ActionAllow}},
		{Kind: policy.KindHost, Name: "hep0", Interface: "eth0",
			Ingress: policy.Chain{Final: policy.ActionAllow}, Egress: policy.Chain{Final: policy.ActionAllow},
			ForwardIngress: &policy.Chain{Final: policy.ActionAllow}, ForwardEgress: &policy.Chain{Final: policy.ActionAllow}},
	}})
	dict := FlowRules(st)
	rr := NewRenderer(Config{FlowLogGroup: 7})
	_, tab := applyFake(t, rr.Render(st))
	marks := rr.FlowMarks()
	res, err := tab.Trace(trace.Probe("trlw", "eth0", w, netip.MustParseAddr("192.0.2.1"), "tcp", 443))
	if err != nil {
		t.Fatal(err)
	}
	egress := 0
	for i, l := range res.Logs {
		if p, ok := marks.Prefix(res.LogMarks[i]); ok && !dict[p].Ingress && dict[p].Kind == FlowFinal {
			egress++
		}
		if fr, ok := dict[l]; ok && !fr.Ingress {
			egress++
		}
	}
	if res.Verdict != trace.Accept || egress != 2 {
		t.Errorf("verdict %s, %d egress allows logged (%v), want accept and two: the workload's and the host endpoint's\n%v",
			res.Verdict, egress, res.Logs, res.Steps)
	}
}

// TestCheckFlowMarkMask: the default mask is usable; one on Trellis's own mark bits or
// narrower than 4 bits is refused, saying why.
func TestCheckFlowMarkMask(t *testing.T) {
	for _, tc := range []struct {
		mask uint32
		want string // "" when usable
	}{
		{DefaultFlowMarkMask, ""},
		{0x0000f000, ""},
		{0x00f00000, "0x00500000"},
		{0x07000000, "3 bits"},
		{0, "0 bits"},
	} {
		err := CheckFlowMarkMask(tc.mask)
		if (err == nil) != (tc.want == "") || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("CheckFlowMarkMask(0x%08x) = %v, want %q", tc.mask, err, tc.want)
		}
	}
	if got := (Config{}).withDefaults().FlowMarkMask; got != 0xffaf0000 {
		t.Errorf("default FlowMarkMask 0x%08x, want 0xffaf0000", got)
	}
}
