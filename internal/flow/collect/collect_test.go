package collect

import (
	"net/netip"
	"testing"
	"time"

	"github.com/trellisnet/trellis/internal/dataplane/nft"
	"github.com/trellisnet/trellis/internal/flow"
	"github.com/trellisnet/trellis/internal/flow/nflog"
	"github.com/trellisnet/trellis/internal/policy"
)

type names map[netip.Addr][2]string

func (n names) Lookup(ip netip.Addr) (string, string, bool) {
	v, ok := n[ip]
	return v[0], v[1], ok
}

var (
	web = netip.MustParseAddr("10.65.0.2")
	db  = netip.MustParseAddr("10.65.0.3")
	ext = netip.MustParseAddr("192.0.2.9")
	t0  = time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
)

// state: db's ingress has tier default with policy prod/db allowing tcp 5432 (rule 0)
// and denying udp (rule 1), and ends in a deny.
func state() *policy.State {
	id := policy.PolicyID{Kind: policy.PolicyNamespaced, Namespace: "prod", Name: "db"}
	return &policy.State{
		Endpoints: []policy.Endpoint{{Kind: policy.KindWorkload, Name: "prod/db", Namespace: "prod", Interface: "trldb",
			Addrs: []netip.Prefix{netip.PrefixFrom(db, 32)},
			Ingress: policy.Chain{Tiers: []policy.TierChain{{Name: "default", Policies: []policy.PolicyID{id}, End: policy.ActionDeny}},
				Final: policy.ActionDeny},
			Egress: policy.Chain{Final: policy.ActionAllow}}},
		Policies: []policy.Policy{{ID: id, Tier: "default", Ingress: []policy.Rule{
			{Index: 0, Action: policy.ActionAllow, Protocol: "tcp", Destination: policy.Match{Ports: []policy.PortRange{{First: 5432, Last: 5432}}}},
			{Index: 1, Action: policy.ActionDeny, Protocol: "udp"}}}},
	}
}

// prefixOf finds the prefix of the rule matching want in the dictionary.
func prefixOf(t *testing.T, rules map[string]nft.FlowRule, want func(nft.FlowRule) bool) string {
	t.Helper()
	for p, fr := range rules {
		if want(fr) {
			return p
		}
	}
	t.Fatal("no such flow rule")
	return ""
}

func TestObserveAttributesAndAggregates(t *testing.T) {
	st := state()
	rules := nft.FlowRules(st)
	c := New(Config{Node: "node1", Counters: true}, names{web: {"prod", "web"}, db: {"prod", "db"}}, t0)
	c.Update(rules, st, nil)
	allow := prefixOf(t, rules, func(fr nft.FlowRule) bool { return fr.Kind == nft.FlowPolicy && fr.Rule == 0 && fr.Ingress })
	deny := prefixOf(t, rules, func(fr nft.FlowRule) bool { return fr.Kind == nft.FlowPolicy && fr.Rule == 1 })
	eot := prefixOf(t, rules, func(fr nft.FlowRule) bool { return fr.Kind == nft.FlowEndOfTier })
	for i := range 3 {
		c.Observe(nflog.Packet{Prefix: allow, Src: web, Dst: db, Proto: "tcp", SrcPort: uint16(40000 + i), DstPort: 5432, Len: 60})
	}
	c.Observe(nflog.Packet{Prefix: deny, Src: ext, Dst: db, Proto: "udp", SrcPort: 5000, DstPort: 53, Len: 40})
	c.Observe(nflog.Packet{Prefix: deny, Src: ext, Dst: db, Proto: "udp", SrcPort: 5000, DstPort: 53, Len: 40})
	c.Observe(nflog.Packet{Prefix: eot, Src: web, Dst: db, Proto: "tcp", SrcPort: 40100, DstPort: 22, Len: 60})
	if c.Observe(nflog.Packet{Prefix: "tz0000000000", Src: web, Dst: db, Proto: "tcp"}) {
		t.Error("an unknown prefix made a flow")
	}
	c.Counters([]ConnCounters{
		{web, db, "tcp", 40000, 5432, 4, 400},
		{web, db, "tcp", 40001, 5432, 6, 600},
		{web, db, "tcp", 49999, 5432, 99, 9999}, // never logged: ignored
	})
	// The next dump: 40000 grew, 40001 is gone (missed once: still remembered).
	c.Counters([]ConnCounters{{web, db, "tcp", 40000, 5432, 10, 1200}})
	flows := c.Flush(t0.Add(15 * time.Second))
	byPort := map[int]flow.Flow{}
	for _, f := range flows {
		byPort[f.Destination.Port] = f
	}
	if len(flows) != 3 {
		t.Fatalf("%d flows, want 3 (the counters of a connection go to its flow's key): %+v", len(flows), flows)
	}
	a := byPort[5432]
	want := flow.PolicyHit{Tier: "default", Namespace: "prod", Name: "db", Kind: "NetworkPolicy", Rule: 0, Action: "allow"}
	if a.Action != flow.ActionAllow || a.Reporter != flow.ReporterDestination || a.Connections != 3 || a.Packets != 16 || a.Bytes != 1800 ||
		a.Source.Name != "web" || a.Destination.Name != "db" || a.Node != "node1" || len(a.Policies) != 1 || a.Policies[0] != want {
		t.Errorf("allowed flow: %+v", a)
	}
	d := byPort[53]
	if d.Action != flow.ActionDeny || d.Connections != 2 || d.Packets != 2 || d.Bytes != 80 || d.Source.Name != "" || d.Source.IP != ext.String() ||
		d.Policies[0].Rule != 1 || d.Policies[0].Action != "deny" {
		t.Errorf("denied flow: %+v", d)
	}
	e := byPort[22]
	if e.Action != flow.ActionDeny || e.Policies[0].Rule != -1 || e.Policies[0].Name != "db" || e.Policies[0].Tier != "default" {
		t.Errorf("end-of-tier flow: %+v", e)
	}
	if s := c.Stats(); s.Observed != 6 || s.UnknownPrefix != 1 || s.Counted != 3 || c.Waiting() != 2 {
		t.Errorf("stats %+v, waiting %d; want 6 observed, 1 unknown, 3 counter reports, 2 waiting (40002 missed two dumps)", s, c.Waiting())
	}
	// Two more dumps without them: every connection has ended and is forgotten.
	c.Counters(nil)
	c.Counters(nil)
	if c.Waiting() != 0 {
		t.Errorf("%d connections remembered after two dumps without them", c.Waiting())
	}
}

// TestBounds: a flood of distinct connections costs at most MaxKeys flows and MaxConns
// waiting connections; the rest is counted.
func TestBounds(t *testing.T) {
	st := state()
	rules := nft.FlowRules(st)
	c := New(Config{MaxKeys: 10, MaxConns: 100, Counters: true}, nil, t0)
	c.Update(rules, st, nil)
	allow := prefixOf(t, rules, func(fr nft.FlowRule) bool { return fr.Kind == nft.FlowPolicy && fr.Rule == 0 && fr.Ingress })
	for i := range 5000 {
		src := netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)})
		c.Observe(nflog.Packet{Prefix: allow, Src: src, Dst: db, Proto: "tcp", SrcPort: 40000, DstPort: 5432})
	}
	s := c.Stats()
	if c.Waiting() != 100 || s.DroppedConns != 4900 || s.DroppedFlows != 4990 || len(c.Flush(t0)) != 10 {
		t.Errorf("waiting %d, stats %+v; want 100 waiting, 4,900 connections and 4,990 flows dropped", c.Waiting(), s)
	}
}

// TestPendingFromStagedView: a staged policy that would deny an allowed connection shows
// as a pending deny on its flow; a connection no staged policy decides has none.
func TestPendingFromStagedView(t *testing.T) {
	st := state()
	staged := state()
	lock := policy.PolicyID{Kind: policy.PolicyStaged, Namespace: "prod", Name: "db-lockdown"}
	staged.Policies = append(staged.Policies, policy.Policy{ID: lock, Tier: "default", Ingress: []policy.Rule{
		{Index: 0, Action: policy.ActionDeny, Protocol: "tcp", Destination: policy.Match{Ports: []policy.PortRange{{First: 5432, Last: 5432}}}}}})
	tier := &staged.Endpoints[0].Ingress.Tiers[0]
	tier.Policies = append([]policy.PolicyID{lock}, tier.Policies...)
	rules := nft.FlowRules(st)
	c := New(Config{}, nil, t0)
	c.Update(rules, st, staged)
	allow := prefixOf(t, rules, func(fr nft.FlowRule) bool { return fr.Kind == nft.FlowPolicy && fr.Rule == 0 && fr.Ingress })
	eot := prefixOf(t, rules, func(fr nft.FlowRule) bool { return fr.Kind == nft.FlowEndOfTier })
	c.Observe(nflog.Packet{Prefix: allow, Src: web, Dst: db, Proto: "tcp", SrcPort: 40000, DstPort: 5432})
	c.Observe(nflog.Packet{Prefix: eot, Src: web, Dst: db, Proto: "tcp", SrcPort: 40001, DstPort: 22})
	for _, f := range c.Flush(t0.Add(time.Second)) {
		switch f.Destination.Port {
		case 5432:
			want := flow.PolicyHit{Tier: "default", Namespace: "prod", Name: "db-lockdown", Kind: "StagedNetworkPolicy", Rule: 0, Action: "deny"}
			if f.Action != flow.ActionAllow || len(f.Pending) != 1 || f.Pending[0] != want {
				t.Errorf("allowed flow to 5432: pending %+v, want %+v", f.Pending, want)
			}
		case 22:
			if len(f.Pending) != 0 {
				t.Errorf("flow to 22 (no staged policy decides it): pending %+v", f.Pending)
			}
		}
	}
}
