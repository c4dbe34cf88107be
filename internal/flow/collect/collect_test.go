package collect

import (
	"fmt"
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
	c := New(Config{Node: "node1", Counters: true}, names{web: {"prod", "web"}, db: {"prod", "db"}}, nil, t0)
	c.Update(rules, nft.FlowMarks{}, st, nil)
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
		{Src: web, Dst: db, Proto: "tcp", SrcPort: 40000, DstPort: 5432, Packets: 4, Bytes: 400},
		{Src: web, Dst: db, Proto: "tcp", SrcPort: 40001, DstPort: 5432, Packets: 6, Bytes: 600},
		{Src: web, Dst: db, Proto: "tcp", SrcPort: 49999, DstPort: 5432, Packets: 99, Bytes: 9999}, // never logged: ignored
	}, t0)
	// The next dump: 40000 grew, 40001 is gone (missed once: still remembered).
	c.Counters([]ConnCounters{{Src: web, Dst: db, Proto: "tcp", SrcPort: 40000, DstPort: 5432, Packets: 10, Bytes: 1200}}, t0)
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
	c.Counters(nil, t0)
	c.Counters(nil, t0)
	if c.Waiting() != 0 {
		t.Errorf("%d connections remembered after two dumps without them", c.Waiting())
	}
}

// TestBounds: a flood of distinct connections costs at most MaxKeys flows and MaxConns
// waiting connections; the rest is counted.
func TestBounds(t *testing.T) {
	st := state()
	rules := nft.FlowRules(st)
	c := New(Config{MaxKeys: 10, MaxConns: 100, Counters: true}, nil, nil, t0)
	c.Update(rules, nft.FlowMarks{}, st, nil)
	allow := prefixOf(t, rules, func(fr nft.FlowRule) bool { return fr.Kind == nft.FlowPolicy && fr.Rule == 0 && fr.Ingress })
	for i := range 5000 {
		src := netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)})
		c.Observe(nflog.Packet{Prefix: allow, Src: src, Dst: db, Proto: "tcp", SrcPort: 40000, DstPort: 5432})
	}
	c.Counters(nil, t0) // the remembered connections have ended: aggregated without counters
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
	c := New(Config{}, nil, nil, t0)
	c.Update(rules, nft.FlowMarks{}, st, staged)
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

// TestObserveMarkNamesEgress: a message whose mark carries a flow ID records the egress
// allow it names (reported by the source) before its own verdict; the late rules' prefix
// records only that; an ID no table has is counted unknown.
func TestObserveMarkNamesEgress(t *testing.T) {
	st := state()
	rules := nft.FlowRules(st)
	rr := nft.NewRenderer(nft.Config{FlowLogGroup: 7})
	rr.Render(st)
	marks := rr.FlowMarks()
	if len(marks.IDs) != 1 {
		t.Fatalf("flow IDs %v, want one: db's final egress allow", marks.IDs)
	}
	var mark uint32
	for id := range marks.IDs {
		mark = marks.Mark(id) | 0x00100000 // another bit of the mark is no part of the ID
	}
	c := New(Config{Node: "node1"}, names{web: {"prod", "web"}, db: {"prod", "db"}}, nil, t0)
	c.Update(rules, marks, st, nil)
	allow := prefixOf(t, rules, func(fr nft.FlowRule) bool { return fr.Kind == nft.FlowPolicy && fr.Rule == 0 && fr.Ingress })
	c.Observe(nflog.Packet{Prefix: allow, Mark: mark, Src: db, Dst: db, Proto: "tcp", SrcPort: 40000, DstPort: 5432})
	c.Observe(nflog.Packet{Prefix: nft.FlowMarkPrefix, Mark: mark, Src: db, Dst: ext, Proto: "tcp", SrcPort: 40001, DstPort: 443})
	if c.Observe(nflog.Packet{Prefix: nft.FlowMarkPrefix, Mark: marks.Mark(99), Src: db, Dst: ext, Proto: "tcp", SrcPort: 40002, DstPort: 443}) {
		t.Error("an unknown flow ID made a flow")
	}
	got := map[string]flow.Flow{}
	for _, f := range c.Flush(t0.Add(time.Second)) {
		got[f.Destination.IP+"/"+string(f.Reporter)] = f
	}
	final := flow.PolicyHit{Name: "final", Kind: "Default", Rule: -1, Action: "allow"}
	for _, k := range []string{db.String() + "/src", ext.String() + "/src"} {
		if f, ok := got[k]; !ok || f.Action != flow.ActionAllow || len(f.Policies) != 1 || f.Policies[0] != final {
			t.Errorf("%s: %+v (found %v), want an allow by the final egress verdict", k, f, ok)
		}
	}
	if f := got[db.String()+"/dst"]; f.Action != flow.ActionAllow || len(f.Policies) != 1 || f.Policies[0].Name != "db" {
		t.Errorf("destination's flow: %+v, want the allow of prod/db", f)
	}
	if len(got) != 3 {
		t.Errorf("%d flows, want 3: %v", len(got), got)
	}
	if s := c.Stats(); s.UnknownPrefix != 1 || s.Observed != 3 {
		t.Errorf("stats %+v, want 3 observed, 1 unknown", s)
	}
}

type services map[netip.AddrPort]string

func (s services) Service(dst netip.AddrPort, proto string) (string, bool) {
	name, ok := s[dst]
	return name, ok && proto == "tcp"
}

// TestServiceFromOriginalDestination: an allowed connection's flow names the Service its
// original destination (before DNAT) was a frontend of, as conntrack's dump reports it;
// a connection sent to the pod directly names none; a connection logged after the dump
// began waits for the next one.
func TestServiceFromOriginalDestination(t *testing.T) {
	st := state()
	rules := nft.FlowRules(st)
	vip := netip.MustParseAddrPort("10.96.0.10:5432")
	c := New(Config{Node: "node1", Counters: true}, names{web: {"prod", "web"}, db: {"prod", "db"}}, services{vip: "prod/db-svc"}, t0)
	c.Update(rules, nft.FlowMarks{}, st, nil)
	allow := prefixOf(t, rules, func(fr nft.FlowRule) bool { return fr.Kind == nft.FlowPolicy && fr.Rule == 0 && fr.Ingress })
	for port := range uint16(3) {
		c.Observe(nflog.Packet{Time: t0.Add(time.Duration(port) * time.Second), Prefix: allow, Src: web, Dst: db, Proto: "tcp", SrcPort: 40000 + port, DstPort: 5432, Len: 60})
	}
	if flows := c.Flush(t0.Add(5 * time.Second)); len(flows) != 0 {
		t.Fatalf("flows before any conntrack dump: %+v; want them waiting for it", flows)
	}
	direct := netip.AddrPortFrom(db, 5432)
	c.Counters([]ConnCounters{
		{Src: web, Dst: db, Proto: "tcp", SrcPort: 40000, DstPort: 5432, Packets: 5, Bytes: 500, OrigDst: vip},
		{Src: web, Dst: db, Proto: "tcp", SrcPort: 40001, DstPort: 5432, Packets: 7, Bytes: 700, OrigDst: direct},
	}, t0.Add(1500*time.Millisecond)) // 40002 was logged after the dump began
	got := map[string]flow.Flow{}
	for _, f := range c.Flush(t0.Add(10 * time.Second)) {
		got[f.Destination.Service] = f
	}
	if f := got["prod/db-svc"]; f.Connections != 1 || f.Packets != 5 || f.Bytes != 500 || f.Destination.Name != "db" {
		t.Errorf("flow through the Service: %+v, want one connection, 5 packets, 500 bytes, to prod/db", f)
	}
	if f := got[""]; f.Connections != 1 || f.Packets != 7 {
		t.Errorf("direct flow: %+v, want one connection of 7 packets and no Service", f)
	}
	if len(got) != 2 || c.Waiting() != 3 {
		t.Errorf("flows %v, %d connections remembered; want two flows and all three remembered", got, c.Waiting())
	}
	c.Counters(nil, t0.Add(20*time.Second)) // 40002 ended before this dump: aggregated without counters
	if flows := c.Flush(t0.Add(30 * time.Second)); len(flows) != 1 || flows[0].Connections != 1 || flows[0].Packets != 0 {
		t.Errorf("after the next dump: %+v, want the third connection alone, without counters", flows)
	}
}

// TestMergedRunNamesPolicy: a merged run's verdict names the policy of the run that
// allowed the packet, per destination port, and again after the state changes which one
// does (the cached answer belongs to the state it was traced in).
func TestMergedRunNamesPolicy(t *testing.T) {
	mk := func(first, second uint16) *policy.State {
		st := &policy.State{}
		var ids []policy.PolicyID
		for i, port := range []uint16{first, second} {
			id := policy.PolicyID{Kind: policy.PolicyNamespaced, Namespace: "prod", Name: fmt.Sprint("p", i)}
			ids = append(ids, id)
			st.Policies = append(st.Policies, policy.Policy{ID: id, Tier: "default", Ingress: []policy.Rule{{Index: 0, Action: policy.ActionAllow,
				Protocol: "tcp", Source: policy.Match{Nets: []netip.Prefix{netip.PrefixFrom(web, 32)}},
				Destination: policy.Match{Ports: []policy.PortRange{{First: port, Last: port}}}}}})
		}
		st.Endpoints = []policy.Endpoint{{Kind: policy.KindWorkload, Name: "prod/db", Namespace: "prod", Interface: "trldb",
			Addrs:   []netip.Prefix{netip.PrefixFrom(db, 32)},
			Ingress: policy.Chain{Tiers: []policy.TierChain{{Name: "default", Policies: ids, End: policy.ActionDeny}}, Final: policy.ActionDeny},
			Egress:  policy.Chain{Final: policy.ActionAllow}}}
		return st
	}
	c := New(Config{}, nil, nil, t0)
	merged := ""
	check := func(st *policy.State, port uint16, want string) {
		t.Helper()
		rules := nft.FlowRules(st)
		merged = prefixOf(t, rules, func(fr nft.FlowRule) bool { return fr.Kind == nft.FlowMerged && fr.Ingress })
		for range 2 { // the second from the cache
			c.Observe(nflog.Packet{Prefix: merged, Src: web, Dst: db, Proto: "tcp", SrcPort: 40000, DstPort: port})
		}
		for _, f := range c.Flush(t0) {
			if h := f.Policies[0]; h.Name != want || h.Kind != "NetworkPolicy" || h.Rule != 0 || f.Connections != 2 {
				t.Errorf("port %d: %d connections named %+v, want rule 0 of %s", port, f.Connections, h, want)
			}
		}
	}
	st := mk(80, 81)
	c.Update(nft.FlowRules(st), nft.FlowMarks{}, st, nil)
	check(st, 80, "p0")
	check(st, 81, "p1")
	st2 := mk(81, 80)
	c.Update(nft.FlowRules(st2), nft.FlowMarks{}, st2, nil)
	check(st2, 80, "p1")
}
