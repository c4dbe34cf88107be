package nft

import (
	"net/netip"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/trellisnet/trellis/internal/policy"
)

func TestRuleTexts(t *testing.T) {
	st := sortState(&policy.State{IPSets: []policy.IPSet{
		{ID: "hosts4", Kind: policy.SetNets, Members: []policy.Member{{Prefix: netip.MustParsePrefix("10.0.0.1/32")}}},
		{ID: "nets", Kind: policy.SetNets, Members: []policy.Member{
			{Prefix: netip.MustParsePrefix("10.0.0.0/8")}, {Prefix: netip.MustParsePrefix("10.1.0.0/16")},
			{Prefix: netip.MustParsePrefix("2001:db8::/32")}}},
		{ID: "np", Kind: policy.SetNamedPort, Members: []policy.Member{{Prefix: netip.MustParsePrefix("10.0.0.2/32"), Proto: "tcp", Port: 8080}}},
	}})
	s4 := addrSetName(4, "hosts4", false)
	c4, c6 := addrSetName(4, "nets", true), addrSetName(6, "nets", true)
	np4 := namedPortSetName(4, "np")
	ports := []policy.PortRange{{First: 80, Last: 80}, {First: 8000, Last: 8099}}
	for _, tc := range []struct {
		name string
		rule policy.Rule
		want []string
	}{
		{"allow all", policy.Rule{Action: policy.ActionAllow}, []string{"counter accept"}},
		{"deny tcp ports", policy.Rule{Action: policy.ActionDeny, Protocol: "TCP", Destination: policy.Match{Ports: ports}},
			[]string{"meta l4proto tcp th dport { 80, 8000-8099 } counter drop"}},
		{"host set only in v4", policy.Rule{Action: policy.ActionAllow, Source: policy.Match{IPSets: []string{"hosts4"}}},
			[]string{"ip saddr @" + s4 + " counter accept"}},
		{"interval set both families", policy.Rule{Action: policy.ActionAllow, Source: policy.Match{IPSets: []string{"nets"}}},
			[]string{"ip saddr @" + c4 + " counter accept", "ip6 saddr @" + c6 + " counter accept"}},
		{"negated set empty in v6 matches all v6", policy.Rule{Action: policy.ActionDeny, Source: policy.Match{NotIPSets: []string{"hosts4"}}},
			[]string{"ip saddr != @" + s4 + " counter drop", "meta nfproto ipv6 counter drop"}},
		{"unknown set matches nothing", policy.Rule{Action: policy.ActionAllow, Source: policy.Match{IPSets: []string{"gone"}}}, nil},
		{"ipv6 only nets", policy.Rule{Action: policy.ActionAllow, Destination: policy.Match{Nets: []netip.Prefix{
			netip.MustParsePrefix("2001:db8:1::/48"), netip.MustParsePrefix("2001:db8:1:2::/64"), netip.MustParsePrefix("2001:db8:2::1/128")}}},
			[]string{"ip6 daddr { 2001:db8:1::/48, 2001:db8:2::1 } counter accept"}},
		{"ports or named port", policy.Rule{Action: policy.ActionAllow, Protocol: "tcp", Destination: policy.Match{
			Ports: []policy.PortRange{{First: 443, Last: 443}}, NamedPortSets: []string{"np"}}},
			[]string{"meta nfproto ipv4 meta l4proto tcp th dport 443 counter accept",
				"meta l4proto tcp ip daddr . meta l4proto . th dport @" + np4 + " counter accept",
				"meta nfproto ipv6 meta l4proto tcp th dport 443 counter accept"}},
		{"not ports and not named port", policy.Rule{Action: policy.ActionDeny, Protocol: "tcp", IPVersion: 4, Destination: policy.Match{
			NotPorts: []policy.PortRange{{First: 22, Last: 22}}, NotNamedPortSets: []string{"np"}}},
			[]string{"meta l4proto tcp th dport != 22 ip daddr . meta l4proto . th dport != @" + np4 + " counter drop"}},
		{"icmp type and code", policy.Rule{Action: policy.ActionAllow, Protocol: "icmp", ICMP: &policy.ICMPMatch{Type: 3, Code: 4, HasCode: true}},
			[]string{"meta l4proto icmp icmp type 3 icmp code 4 counter accept"}},
		{"icmpv6 not type", policy.Rule{Action: policy.ActionAllow, Protocol: "icmpv6", NotICMP: &policy.ICMPMatch{Type: 128}},
			[]string{"meta l4proto ipv6-icmp icmpv6 type != 128 counter accept"}},
		{"icmp with ipv6 version cannot match", policy.Rule{Action: policy.ActionAllow, Protocol: "icmp", IPVersion: 6}, nil},
		{"not protocol", policy.Rule{Action: policy.ActionAllow, NotProtocol: "udp"}, []string{"meta l4proto != udp counter accept"}},
		{"log default prefix", policy.Rule{Action: policy.ActionLog, Index: 3},
			[]string{`counter log prefix "trellis policy p ingress[3]"`}},
		{"log own prefix", policy.Rule{Action: policy.ActionLog, LogPrefix: `say "hi"`},
			[]string{`counter log prefix "say 'hi'"`}},
		{"pass", policy.Rule{Action: policy.ActionPass}, []string{"counter meta mark set meta mark | 0x00100000 return"}},
		{"unknown action fails closed", policy.Rule{Action: "bogus"}, []string{"counter drop"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRenderer(Config{}, st)
			got := r.ruleTexts(tc.rule, "policy p ingress["+itoa(tc.rule.Index)+"]", "", false)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("-want +got:\n%s", diff)
			}
			for _, name := range []string{s4, c4, c6, np4} {
				if s := r.t.Sets[name]; s != nil && len(s.Elements) == 0 {
					t.Errorf("set %s declared empty", name)
				}
			}
		})
	}
}

func itoa(i int) string { return string(rune('0' + i)) }

func TestRenderFailsClosed(t *testing.T) {
	st := sortState(&policy.State{Endpoints: []policy.Endpoint{{
		Kind: policy.KindWorkload, Name: "ns/pod", Interface: "trlx",
		Ingress: policy.Chain{Tiers: []policy.TierChain{{Name: "t", End: policy.ActionPass, Policies: []policy.PolicyID{pid("missing")}}},
			Profiles: []string{"missing-profile"}, Final: policy.ActionDeny},
		Egress: policy.Chain{Final: policy.ActionDeny},
	}}})
	tab := Render(Config{}, st)
	ch := tab.Chains[endpointChain(dirTo, "ns/pod")]
	if ch == nil {
		t.Fatal("no ingress chain for the endpoint")
	}
	var texts []string
	for _, r := range ch.Rules {
		texts = append(texts, r.Text)
	}
	want := []string{
		"meta mark set meta mark & 0xffefffff",
		"meta mark & 0x00100000 == 0x00000000 counter drop",
		"meta mark set meta mark & 0xffefffff",
		"counter drop",
	}
	if diff := cmp.Diff(want, texts); diff != "" {
		t.Errorf("-want +got:\n%s", diff)
	}
	fwd := tab.Chains[ChainForwardTo].Rules
	if last := fwd[len(fwd)-1].Text; last != `oifname "trl*" counter drop` {
		t.Errorf("forward-to does not end by dropping unknown workload interfaces: %q", last)
	}
}

func TestMergeRun(t *testing.T) {
	a, b, c, s := testPods()
	st := connectivityState(a, b, c, s)
	merged := func(tab *Table) []string {
		var keys []string
		for name, set := range tab.Sets {
			if strings.HasPrefix(name, "m4-") || strings.HasPrefix(name, "m6-") {
				keys = append(keys, sortedKeys(set.Elements)...)
			}
		}
		sort.Strings(keys)
		return keys
	}
	if got := merged(Render(Config{}, st)); len(got) != 0 {
		t.Errorf("default config merged a run shorter than 8: %v", got)
	}
	want := []string{b.V6.String() + " . tcp . 7002", b.V4.String() + " . tcp . 7002"}
	sort.Strings(want)
	if diff := cmp.Diff(want, merged(Render(Config{MergeRun: 1}, st))); diff != "" {
		t.Errorf("merged elements (-want +got):\n%s", diff)
	}
}
