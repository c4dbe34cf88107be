package trace

import (
	"context"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/knftables"
)

// fixture is a table built through a knftables.Fake transaction.
type fixture struct {
	chains []*knftables.Chain
	rules  map[string][]string // by chain
	sets   []knftables.Object
	elems  []*knftables.Element
}

func base(name string, hook knftables.BaseChainHook, prio knftables.BaseChainPriority) *knftables.Chain {
	return &knftables.Chain{Name: name, Type: knftables.PtrTo(knftables.FilterType), Hook: knftables.PtrTo(hook), Priority: knftables.PtrTo(prio)}
}

func (fx fixture) load(t *testing.T) (*Table, error) {
	t.Helper()
	f := knftables.NewFake(knftables.InetFamily, "trl-test")
	tx := f.NewTransaction()
	tx.Add(&knftables.Table{})
	for _, s := range fx.sets {
		tx.Add(s)
	}
	for _, c := range fx.chains {
		tx.Add(c)
	}
	for _, c := range fx.chains {
		for _, r := range fx.rules[c.Name] {
			tx.Add(&knftables.Rule{Chain: c.Name, Rule: r})
		}
	}
	for _, e := range fx.elems {
		tx.Add(e)
	}
	if err := f.Run(context.Background(), tx); err != nil {
		t.Fatalf("fake rejected the fixture: %v", err)
	}
	return FromFake(f)
}

// forward is a fixture with one forward base chain "fwd" holding rules.
func forward(rules ...string) fixture {
	return fixture{chains: []*knftables.Chain{base("fwd", knftables.ForwardHook, knftables.FilterPriority)},
		rules: map[string][]string{"fwd": rules}}
}

func (fx fixture) with(objs ...any) fixture {
	for _, o := range objs {
		switch o := o.(type) {
		case *knftables.Chain:
			fx.chains = append(fx.chains, o)
		case *knftables.Element:
			fx.elems = append(fx.elems, o)
		case knftables.Object:
			fx.sets = append(fx.sets, o)
		}
	}
	return fx
}

func (fx fixture) rulesIn(chain string, rules ...string) fixture {
	m := map[string][]string{}
	for k, v := range fx.rules {
		m[k] = v
	}
	m[chain] = rules
	fx.rules = m
	return fx
}

func tcp4(src, dst string, dport uint16) Packet {
	return Packet{IIF: "trla", OIF: "trlb", Src: netip.MustParseAddr(src), Dst: netip.MustParseAddr(dst), Proto: "tcp", SPort: 40000, DPort: dport}
}

func elem(set string, key ...string) *knftables.Element {
	return &knftables.Element{Set: set, Key: key}
}

func TestTraceForms(t *testing.T) {
	v6 := Packet{IIF: "trla", OIF: "trlb", Src: netip.MustParseAddr("2001:db8::1"), Dst: netip.MustParseAddr("2001:db8:2::1"), Proto: "tcp", SPort: 1, DPort: 443}
	icmp := Packet{IIF: "trla", OIF: "trlb", Src: netip.MustParseAddr("10.0.0.1"), Dst: netip.MustParseAddr("10.0.0.2"), Proto: "icmp", ICMPType: 3, ICMPCode: 1}
	hostSet := &knftables.Set{Name: "s4", Type: "ipv4_addr"}
	cidrSet := &knftables.Set{Name: "c4", Type: "ipv4_addr", Flags: []knftables.SetFlag{knftables.IntervalFlag}}
	namedPort := &knftables.Set{Name: "n4", Type: "ipv4_addr . inet_proto . inet_service"}
	wlMap := &knftables.Map{Name: "wl", Type: "ifname : verdict"}
	for _, tc := range []struct {
		name  string
		fx    fixture
		p     Packet
		want  string
		steps int // rules that matched, including a final policy step; 0: not checked
	}{
		{"no rules: policy accept", forward(), tcp4("10.0.0.1", "10.0.0.2", 80), Accept, 1},
		{"ifname wildcard", forward(`iifname "trl*" drop`), tcp4("10.0.0.1", "10.0.0.2", 80), Drop, 1},
		{"ifname wildcard other", forward(`iifname "eth*" drop`), tcp4("10.0.0.1", "10.0.0.2", 80), Accept, 1},
		{"return from base chain is its policy", forward(`iifname != "eth*" return`, "drop"), tcp4("10.0.0.1", "10.0.0.2", 80), Accept, 2},
		{"ct state list", forward("ct state established,related accept", "drop"),
			func() Packet { p := tcp4("10.0.0.1", "10.0.0.2", 80); p.CT = "established"; return p }(), Accept, 1},
		{"ct state new falls through", forward("ct state established,related accept", "ct state invalid drop"), tcp4("10.0.0.1", "10.0.0.2", 80), Accept, 1},
		{"ip prefix", forward("ip saddr 10.0.0.0/8 drop"), tcp4("10.1.2.3", "10.0.0.2", 80), Drop, 1},
		{"ip on ipv6 packet never matches", forward("ip saddr 10.0.0.0/8 drop", "ip saddr != 10.0.0.0/8 drop"), v6, Accept, 1},
		{"ip6 anonymous set", forward("ip6 daddr { 2001:db8:1::/48, 2001:db8:2::1 } drop"), v6, Drop, 1},
		{"port list and range", forward("meta l4proto tcp th dport { 80, 8000-8099 } drop"), tcp4("10.0.0.1", "10.0.0.2", 8050), Drop, 1},
		{"port outside range", forward("meta l4proto tcp th dport { 80, 8000-8099 } drop"), tcp4("10.0.0.1", "10.0.0.2", 8100), Accept, 1},
		{"not port", forward("th dport != 22 drop"), tcp4("10.0.0.1", "10.0.0.2", 22), Accept, 1},
		{"tcp dport on udp never matches", forward("tcp dport 53 drop", "tcp dport != 53 drop"),
			func() Packet { p := tcp4("10.0.0.1", "10.0.0.2", 53); p.Proto = "udp"; return p }(), Accept, 1},
		{"hash set", forward("ip saddr @s4 drop").with(hostSet, elem("s4", "10.0.0.1")), tcp4("10.0.0.1", "10.0.0.2", 80), Drop, 1},
		{"hash set miss", forward("ip saddr @s4 drop").with(hostSet, elem("s4", "10.0.0.1")), tcp4("10.0.0.3", "10.0.0.2", 80), Accept, 1},
		{"not in set", forward("ip saddr != @s4 drop").with(hostSet, elem("s4", "10.0.0.1")), tcp4("10.0.0.3", "10.0.0.2", 80), Drop, 1},
		{"interval set", forward("ip saddr @c4 drop").with(cidrSet, elem("c4", "10.1.0.0/16"), elem("c4", "10.3.0.1-10.3.0.9")),
			tcp4("10.3.0.5", "10.0.0.2", 80), Drop, 1},
		{"interval set miss", forward("ip saddr @c4 drop").with(cidrSet, elem("c4", "10.1.0.0/16")), tcp4("10.2.0.1", "10.0.0.2", 80), Accept, 1},
		{"concatenated set", forward("ip daddr . meta l4proto . th dport @n4 drop").with(namedPort, elem("n4", "10.0.0.2", "tcp", "8080")),
			tcp4("10.0.0.1", "10.0.0.2", 8080), Drop, 1},
		{"concatenated set other port", forward("ip daddr . meta l4proto . th dport @n4 drop").with(namedPort, elem("n4", "10.0.0.2", "tcp", "8080")),
			tcp4("10.0.0.1", "10.0.0.2", 8081), Accept, 1},
		{"concatenated set on icmp decided by protocol", forward("ip daddr . meta l4proto . th dport @n4 drop").with(namedPort, elem("n4", "10.0.0.2", "tcp", "8080")),
			icmp, Accept, 1},
		{"icmp type and code", forward("meta l4proto icmp icmp type 3 icmp code 1 drop"), icmp, Drop, 1},
		{"icmp type code not in", forward("icmp type . icmp code != { 3 . 1 } drop"), icmp, Accept, 1},
		{"icmpv6 type on icmp never matches", forward("icmpv6 type != 128 drop"), icmp, Accept, 1},
		{"nfproto", forward("meta nfproto ipv6 drop"), v6, Drop, 1},
		{"not protocol", forward("meta l4proto != udp drop"), tcp4("10.0.0.1", "10.0.0.2", 80), Drop, 1},
		{"mark set and test", forward("meta mark set meta mark | 0x00100000", "meta mark & 0x00100000 == 0x00100000 drop"),
			tcp4("10.0.0.1", "10.0.0.2", 80), Drop, 2},
		{"mark and-or replaces masked bits", forward("meta mark set meta mark & 0xff52ffff | 0x00020000", "meta mark == 0x00120000 drop"),
			func() Packet { p := tcp4("10.0.0.1", "10.0.0.2", 80); p.Mark = 0x00110000; return p }(), Drop, 2},
		{"mark cleared", forward("meta mark set meta mark & 0xffefffff", "meta mark & 0x00100000 != 0x00000000 drop"),
			func() Packet { p := tcp4("10.0.0.1", "10.0.0.2", 80); p.Mark = 0x00100000; return p }(), Accept, 2},
		{"jump and return", forward("jump sub", "drop").with(&knftables.Chain{Name: "sub"}).rulesIn("sub", "ip saddr 10.0.0.1 return", "accept"),
			tcp4("10.0.0.1", "10.0.0.2", 80), Drop, 3},
		{"jump to accept", forward("jump sub", "drop").with(&knftables.Chain{Name: "sub"}).rulesIn("sub", "ip saddr 10.0.0.1 return", "accept"),
			tcp4("10.0.0.9", "10.0.0.2", 80), Accept, 2},
		{"implicit return", forward("jump sub", "drop").with(&knftables.Chain{Name: "sub"}), tcp4("10.0.0.1", "10.0.0.2", 80), Drop, 2},
		{"goto does not come back", forward("goto sub", "drop").with(&knftables.Chain{Name: "sub"}), tcp4("10.0.0.1", "10.0.0.2", 80), Accept, 2},
		{"verdict map hit", forward("iifname vmap @wl", "accept").with(wlMap, &knftables.Chain{Name: "deny"},
			&knftables.Element{Map: "wl", Key: []string{`"trla"`}, Value: []string{"jump deny"}}).rulesIn("deny", "drop"),
			tcp4("10.0.0.1", "10.0.0.2", 80), Drop, 2},
		{"verdict map miss continues", forward("iifname vmap @wl", "accept").with(wlMap, &knftables.Chain{Name: "deny"},
			&knftables.Element{Map: "wl", Key: []string{`"trlz"`}, Value: []string{"jump deny"}}).rulesIn("deny", "drop"),
			tcp4("10.0.0.1", "10.0.0.2", 80), Accept, 1},
		{"anonymous verdict map", forward("meta l4proto vmap { tcp : drop, udp : accept }"), tcp4("10.0.0.1", "10.0.0.2", 80), Drop, 1},
		{"log continues", forward(`meta l4proto tcp counter log prefix "trellis x"`, "drop"), tcp4("10.0.0.1", "10.0.0.2", 80), Drop, 2},
		{"reject", forward("meta l4proto tcp reject with tcp reset", "accept"), tcp4("10.0.0.1", "10.0.0.2", 80), Drop, 1},
		{"policy drop", fixture{chains: []*knftables.Chain{func() *knftables.Chain {
			c := base("fwd", knftables.ForwardHook, knftables.FilterPriority)
			c.Policy = knftables.PtrTo(knftables.DropPolicy)
			return c
		}()}}, tcp4("10.0.0.1", "10.0.0.2", 80), Drop, 1},
		{"accept goes on to the next chain", forward("accept").with(base("late", knftables.ForwardHook, "filter + 10")).rulesIn("late", "drop"),
			tcp4("10.0.0.1", "10.0.0.2", 80), Drop, 2},
		{"notrack before conntrack", forward("ct state untracked drop").with(base("raw", knftables.PreroutingHook, knftables.RawPriority)).
			rulesIn("raw", "notrack"), tcp4("10.0.0.1", "10.0.0.2", 80), Drop, 3},
		{"input path skips forward", forward("drop").with(base("in", knftables.InputHook, knftables.FilterPriority)).rulesIn("in", "accept"),
			func() Packet { p := tcp4("10.0.0.1", "10.0.0.2", 80); p.OIF = ""; return p }(), Accept, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := tc.fx.trace(t, tc.p)
			if res.Verdict != tc.want {
				t.Errorf("verdict %s, want %s\n%s", res.Verdict, tc.want, res)
			}
			if tc.steps != 0 && len(res.Steps) != tc.steps {
				t.Errorf("%d steps, want %d\n%s", len(res.Steps), tc.steps, res)
			}
		})
	}
}

// trace loads the fixture and traces p through it, failing t when either fails.
func (fx fixture) trace(t *testing.T, p Packet) Result {
	t.Helper()
	tab, err := fx.load(t)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	res, err := tab.Trace(p)
	if err != nil {
		t.Fatalf("trace: %v", err)
	}
	return res
}

// natChain is a fixture with one nat chain at dstnat holding rules, and a forward
// chain that drops what reaches it with ct status dnat.
func natChain(rules ...string) fixture {
	nat := &knftables.Chain{Name: "dnat", Type: knftables.PtrTo(knftables.NATType), Hook: knftables.PtrTo(knftables.PreroutingHook),
		Priority: knftables.PtrTo(knftables.DNATPriority)}
	return forward("ct status dnat ip daddr 10.0.0.9 th dport 8080 drop").with(nat).rulesIn("dnat", rules...)
}

func TestTraceServiceForms(t *testing.T) {
	svc := &knftables.Map{Name: "svc", Type: "ipv4_addr . inet_proto . inet_service : verdict"}
	aff := &knftables.Set{Name: "aff", Type: "ipv4_addr ; flags dynamic,timeout ; timeout 10800s"}
	nodePort := &knftables.Map{Name: "np", Type: "inet_proto . inet_service : verdict"}
	toHost := tcp4("10.0.0.1", "10.0.0.2", 30080)
	toHost.OIF = ""
	toUplink := tcp4("10.0.0.1", "192.0.2.1", 80)
	toUplink.OIF = "eth0"
	for _, tc := range []struct {
		name    string
		fx      fixture
		p       Packet
		want    string
		wantNAT []string
	}{
		{"dnat is seen by the forward chain", natChain("dnat ip to 10.0.0.9:8080"), tcp4("10.0.0.1", "10.0.0.2", 80), Drop, []string{"dnat to 10.0.0.9:8080"}},
		{"no dnat", natChain(), tcp4("10.0.0.1", "10.0.0.2", 80), Accept, nil},
		{"service map", natChain("ip daddr . meta l4proto . th dport vmap @svc").with(svc, aff, &knftables.Chain{Name: "ep"},
			&knftables.Element{Map: "svc", Key: []string{"10.96.0.1", "tcp", "80"}, Value: []string{"goto ep"}}).
			rulesIn("ep", "ip saddr 10.0.0.1 meta mark set meta mark | 0x4000", "update @aff { ip saddr }", "meta l4proto tcp dnat ip to 10.0.0.9:8080"),
			tcp4("10.0.0.1", "10.96.0.1", 80), Drop, []string{"dnat to 10.0.0.9:8080"}},
		{"service map on icmp misses", natChain("ip daddr . meta l4proto . th dport vmap @svc").with(svc, &knftables.Chain{Name: "ep"},
			&knftables.Element{Map: "svc", Key: []string{"10.96.0.1", "tcp", "80"}, Value: []string{"goto ep"}}).rulesIn("ep", "dnat ip to 10.0.0.9"),
			Packet{IIF: "a", OIF: "b", Src: netip.MustParseAddr("10.0.0.1"), Dst: netip.MustParseAddr("10.96.0.1"), Proto: "icmp", ICMPType: 8}, Accept, nil},
		{"node port to the host", fixture{chains: []*knftables.Chain{base("in", knftables.InputHook, knftables.FilterPriority)},
			rules: map[string][]string{"in": {"fib daddr type local meta l4proto . th dport vmap @np"}}}.with(nodePort,
			&knftables.Element{Map: "np", Key: []string{"tcp", "30080"}, Value: []string{"drop"}}), toHost, Drop, nil},
		{"local source", fixture{chains: []*knftables.Chain{base("out", knftables.OutputHook, knftables.FilterPriority)},
			rules: map[string][]string{"out": {"fib saddr type local drop"}}}, func() Packet { p := toHost; p.IIF, p.OIF = "", "eth0"; return p }(), Drop, nil},
		{"forwarded source is not local", forward("fib saddr type local drop"), tcp4("10.0.0.1", "10.0.0.2", 80), Accept, nil},
		{"node port forwarded is not local", forward("fib daddr type local meta l4proto . th dport vmap @np").with(nodePort,
			&knftables.Element{Map: "np", Key: []string{"tcp", "30080"}, Value: []string{"drop"}}), tcp4("10.0.0.1", "10.0.0.2", 30080), Accept, nil},
		{"masquerade accepts", fixture{chains: []*knftables.Chain{{Name: "post", Type: knftables.PtrTo(knftables.NATType),
			Hook: knftables.PtrTo(knftables.PostroutingHook), Priority: knftables.PtrTo(knftables.SNATPriority)}},
			rules: map[string][]string{"post": {`oifname != "trl*" counter masquerade`, "drop"}}}, toUplink, Accept, []string{"masquerade"}},
		{"a later nat chain of the hook is skipped after a translation", fixture{chains: []*knftables.Chain{
			{Name: "post", Type: knftables.PtrTo(knftables.NATType), Hook: knftables.PtrTo(knftables.PostroutingHook), Priority: knftables.PtrTo(knftables.SNATPriority)},
			{Name: "later", Type: knftables.PtrTo(knftables.NATType), Hook: knftables.PtrTo(knftables.PostroutingHook), Priority: knftables.PtrTo(knftables.SNATPriority + " + 10")}},
			rules: map[string][]string{"post": {"masquerade"}, "later": {"drop"}}}, toUplink, Accept, []string{"masquerade"}},
		{"a later nat chain of the hook runs without a translation", fixture{chains: []*knftables.Chain{
			{Name: "post", Type: knftables.PtrTo(knftables.NATType), Hook: knftables.PtrTo(knftables.PostroutingHook), Priority: knftables.PtrTo(knftables.SNATPriority)},
			{Name: "later", Type: knftables.PtrTo(knftables.NATType), Hook: knftables.PtrTo(knftables.PostroutingHook), Priority: knftables.PtrTo(knftables.SNATPriority + " + 10")}},
			rules: map[string][]string{"post": {"ip daddr 203.0.113.1 masquerade"}, "later": {"masquerade"}}}, toUplink, Accept, []string{"masquerade"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := tc.fx.trace(t, tc.p)
			if res.Verdict != tc.want || !cmp.Equal(res.NAT, tc.wantNAT) {
				t.Errorf("verdict %s NAT %q, want %s %q\n%s", res.Verdict, res.NAT, tc.want, tc.wantNAT, res)
			}
		})
	}
}

func TestTraceRecords(t *testing.T) {
	fx := forward(`meta l4proto tcp counter log prefix "trellis p ingress[0]" meta mark set meta mark & 0xfffffff0`, "jump sub").
		with(&knftables.Chain{Name: "sub"}).rulesIn("sub", "ip saddr 10.0.0.1 counter accept")
	p := tcp4("10.0.0.1", "10.0.0.2", 80)
	p.Mark = 0x13
	res := fx.trace(t, p)
	want := Result{Verdict: Accept, Logs: []string{"trellis p ingress[0]"}, LogMarks: []uint32{0x13}, Steps: []Step{
		{Chain: "fwd", Index: 0, Rule: `meta l4proto tcp counter log prefix "trellis p ingress[0]" meta mark set meta mark & 0xfffffff0`},
		{Chain: "fwd", Index: 1, Rule: "jump sub"},
		{Chain: "sub", Index: 0, Rule: "ip saddr 10.0.0.1 counter accept"},
	}}
	if diff := cmp.Diff(want, res); diff != "" {
		t.Errorf("-want +got:\n%s", diff)
	}
}

func TestTraceErrors(t *testing.T) {
	hostSet := &knftables.Set{Name: "s4", Type: "ipv4_addr"}
	icmp := Packet{IIF: "trla", OIF: "trlb", Src: netip.MustParseAddr("10.0.0.1"), Dst: netip.MustParseAddr("10.0.0.2"), Proto: "icmp", ICMPType: 8}
	for _, tc := range []struct {
		name    string
		fx      fixture
		p       Packet // traced when the table loads
		wantErr string
	}{
		{"unknown expression", forward("fib saddr . iif oif missing drop"), Packet{}, `unknown expression "fib saddr"`},
		{"set type mismatch", forward("ip6 saddr @s4 drop").with(hostSet), Packet{}, "key part 0 is ipv4_addr"},
		{"bad value", forward("th dport 99999 drop"), Packet{}, "invalid inet_service"},
		{"same hook and priority", forward().with(base("other", knftables.ForwardHook, "0")), Packet{}, "order is undefined"},
		{"unsupported set flag", forward().with(&knftables.Set{Name: "d", Type: "ipv4_addr", Flags: []knftables.SetFlag{"bogus"}}), Packet{}, "flag bogus"},
		{"unsupported set option", forward().with(&knftables.Set{Name: "d", Type: "ipv4_addr ; size 10"}), Packet{}, `option "size 10"`},
		{"random", natChain("numgen random mod 2 == 0 accept"), tcp4("10.0.0.1", "10.0.0.2", 80), "random number"},
		{"dnat outside nat chain", forward("dnat ip to 10.0.0.9"), tcp4("10.0.0.1", "10.0.0.2", 80), "not a nat chain"},
		{"dnat to the other family", natChain("dnat ip6 to [2001:db8::1]:80"), tcp4("10.0.0.1", "10.0.0.2", 80), "dnat to 2001:db8::1"},
		{"snat", natChain("snat ip to 10.0.0.9"), Packet{}, `unknown expression "snat ip"`},
		{"th port of icmp", forward("th dport 80 drop"), icmp, "does not model"},
		{"notrack after conntrack", forward("notrack"), icmp, "runs after conntrack"},
		{"no interface", forward(), Packet{Src: icmp.Src, Dst: icmp.Dst, Proto: "icmp"}, "needs an input or an output interface"},
		{"mixed families", forward(), Packet{IIF: "a", Src: icmp.Src, Dst: netip.MustParseAddr("2001:db8::1"), Proto: "icmp"}, "one family"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tab, err := tc.fx.load(t)
			if err == nil && tc.p.Proto != "" {
				_, err = tab.Trace(tc.p)
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestReply(t *testing.T) {
	req := Packet{IIF: "trla", OIF: "trlb", Src: netip.MustParseAddr("2001:db8::1"), Dst: netip.MustParseAddr("2001:db8::2"), Proto: "icmpv6", ICMPType: 128, Mark: 7}
	want := Packet{IIF: "trlb", OIF: "trla", Src: req.Dst, Dst: req.Src, Proto: "icmpv6", ICMPType: 129, CT: "established"}
	if got := Reply(req, Result{}); got != want {
		t.Errorf("reply %+v, want %+v", got, want)
	}
	tcp := tcp4("10.0.0.1", "10.0.0.2", 80)
	got := Reply(tcp, Result{Untracked: true})
	if got.SPort != 80 || got.DPort != 40000 || got.CT != "new" {
		t.Errorf("reply to an untracked tcp packet: %+v", got)
	}
}

func TestRoundTrip(t *testing.T) {
	// Requests to port 80 are accepted; replies only when established packets are.
	for _, tc := range []struct {
		name  string
		rules []string
		p     Packet
		want  bool
	}{
		{"request and reply", []string{"ct state established accept", "th dport 80 accept", "drop"},
			Probe("trla", "trlb", netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2"), "tcp", 80), true},
		{"reply dropped", []string{"th dport 80 accept", "drop"},
			Probe("trla", "trlb", netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2"), "tcp", 80), false},
		{"request dropped", []string{"ct state established accept", "drop"},
			Probe("trla", "trlb", netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2"), "udp", 80), false},
		{"icmpv6 echo", []string{"icmpv6 type echo-request accept", "icmpv6 type echo-reply accept", "drop"},
			Probe("trla", "trlb", netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::2"), "icmp", 0), true},
		{"icmp echo is not icmpv6", []string{"icmpv6 type echo-request accept", "drop"},
			Probe("trla", "trlb", netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2"), "icmp", 0), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tab, err := forward(tc.rules...).load(t)
			if err != nil {
				t.Fatal(err)
			}
			ok, explain, err := tab.RoundTrip(tc.p)
			if err != nil {
				t.Fatal(err)
			}
			if ok != tc.want {
				t.Errorf("round trip %v, want %v\n%s", ok, tc.want, explain)
			}
		})
	}
}
