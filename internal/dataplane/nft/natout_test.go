package nft

import (
	"context"
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"sigs.k8s.io/knftables"

	"github.com/trellisnet/trellis/internal/dataplane/nft/trace"
)

func prefixes(ss ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParsePrefix(s)
	}
	return out
}

// natOutgoingPools: two IPv4 pools with natOutgoing (plus a prefix inside one of them,
// which the sets leave out: nft rejects overlapping intervals), one without, one that
// only keeps 192.168.0.0/16 from being NATed (as a disabled pool would), and an IPv6 pool
// with natOutgoing and one without.
func natOutgoingPools() NATOutgoing {
	return NATOutgoing{
		Masquerade: prefixes("10.65.0.0/16", "10.67.0.0/16", "10.67.1.0/24", "2001:db8:65::/64"),
		Pools:      prefixes("10.65.0.0/16", "10.66.0.0/16", "10.67.0.0/16", "192.168.0.0/16", "2001:db8:65::/64", "2001:db8:66::/64"),
	}
}

func TestRenderNATOutgoingGolden(t *testing.T) {
	got := RenderNATOutgoing(Config{}, natOutgoingPools()).String()
	golden(t, "natout.golden", got)
	if again := RenderNATOutgoing(Config{}, natOutgoingPools()).String(); again != got {
		t.Fatal("render is not deterministic")
	}
}

func TestRenderNATOutgoingFamilies(t *testing.T) {
	for _, tc := range []struct {
		name       string
		in         NATOutgoing
		sets       []string
		chainRules int
	}{
		{"no pools", NATOutgoing{}, nil, 0},
		{"no pool with natOutgoing", NATOutgoing{Pools: prefixes("10.65.0.0/16", "2001:db8:65::/64")}, nil, 0},
		{"IPv4 only", NATOutgoing{Masquerade: prefixes("10.65.0.0/16"), Pools: prefixes("10.65.0.0/16", "2001:db8:65::/64")},
			[]string{SetNATOutgoingPools4, SetNATOutgoingSrc4}, 1},
		{"IPv6 only", NATOutgoing{Masquerade: prefixes("2001:db8:65::/64"), Pools: prefixes("10.65.0.0/16", "2001:db8:65::/64")},
			[]string{SetNATOutgoingPools6, SetNATOutgoingSrc6}, 1},
		{"a natOutgoing pool missing from Pools is still excluded", NATOutgoing{Masquerade: prefixes("10.65.0.0/16")},
			[]string{SetNATOutgoingPools4, SetNATOutgoingSrc4}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tab := RenderNATOutgoing(Config{}, tc.in)
			if diff := cmp.Diff(tc.sets, sortedKeys(tab.Sets), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("sets (-want +got):\n%s", diff)
			}
			c := tab.Chains[ChainNATOutgoing]
			if tc.chainRules == 0 {
				if len(tab.Chains) != 0 {
					t.Errorf("chains %v, want none", sortedKeys(tab.Chains))
				}
				return
			}
			if c == nil || len(c.Rules) != tc.chainRules {
				t.Fatalf("chain %s = %+v, want %d rules", ChainNATOutgoing, c, tc.chainRules)
			}
			for _, name := range tc.sets {
				if _, ok := tab.Sets[name].Elements["10.65.0.0/16"]; name == SetNATOutgoingPools4 && !ok {
					t.Errorf("%s lacks the natOutgoing pool: %v", name, sortedKeys(tab.Sets[name].Elements))
				}
			}
		})
	}
}

// TestTraceNATOutgoing merges the nat-outgoing table into the connectivity and service
// tables, applies it to the fake and traces packets: only new connections from a
// natOutgoing pool to outside every pool that leave through a non-workload interface
// are masqueraded.
func TestTraceNATOutgoing(t *testing.T) {
	a, b, c, s := testPods()
	want := Render(Config{}, connectivityState(a, b, c, s))
	if err := want.Merge(RenderServices(Config{}, nil)); err != nil {
		t.Fatal(err)
	}
	if err := want.Merge(RenderNATOutgoing(Config{}, natOutgoingPools())); err != nil {
		t.Fatal(err)
	}
	_, tab := applyFake(t, want)
	addr := netip.MustParseAddr
	masq := []string{"masquerade"}
	for _, tc := range []struct {
		name     string
		p        trace.Packet
		wantNAT  []string
		wantDrop bool
	}{
		{"pod to an external host", trace.Probe(a.Iface, "eth0", a.V4, addr("192.0.2.10"), "tcp", 443), masq, false},
		{"pod to an external host over IPv6", trace.Probe(a.Iface, "eth0", a.V6, addr("2001:db8:ff::2"), "tcp", 443), masq, false},
		{"pod to an external host, udp", trace.Probe(a.Iface, "eth0", a.V4, addr("192.0.2.10"), "udp", 53), masq, false},
		{"pod to an external host, icmp", trace.Probe(a.Iface, "eth0", a.V4, addr("192.0.2.10"), "icmp", 0), masq, false},
		{"pod to a pod on another node", trace.Probe(a.Iface, "eth0", a.V4, addr("10.65.1.7"), "tcp", 80), nil, false},
		{"pod to a pool without natOutgoing", trace.Probe(a.Iface, "eth0", a.V4, addr("10.66.0.7"), "tcp", 80), nil, false},
		{"pod to a disabled pool", trace.Probe(a.Iface, "eth0", a.V4, addr("192.168.3.4"), "tcp", 80), nil, false},
		{"pod to a pod on this node", trace.Probe(a.Iface, b.Iface, a.V4, b.V4, "tcp", 80), nil, false},
		{"pod to a local workload outside every pool", trace.Probe(a.Iface, b.Iface, a.V4, addr("198.51.100.7"), "tcp", 80), nil, false},
		{"pod to the node", trace.Probe(a.Iface, "", a.V4, addr("192.0.2.1"), "tcp", 80), nil, false},
		{"address outside the natOutgoing pools", trace.Probe("eth1", "eth0", addr("10.66.0.7"), addr("192.0.2.10"), "tcp", 80), nil, false},
		{"IPv6 pool without natOutgoing", trace.Probe("eth1", "eth0", addr("2001:db8:66::7"), addr("2001:db8:ff::2"), "tcp", 80), nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := tab.Trace(tc.p)
			if err != nil {
				t.Fatal(err)
			}
			if (res.Verdict == trace.Drop) != tc.wantDrop || !cmp.Equal(res.NAT, tc.wantNAT) {
				t.Errorf("verdict %s NAT %q, want drop=%v NAT %q\n%s", res.Verdict, res.NAT, tc.wantDrop, tc.wantNAT, res)
			}
			tc.p.CT = "established"
			if res, err := tab.Trace(tc.p); err != nil || len(res.NAT) != 0 {
				t.Errorf("established packet: NAT %q, err %v; want none", res.NAT, err)
			}
		})
	}
}

// randomPools picks a random subset of a fixed pool list, each with or without
// natOutgoing.
func randomPools(rng *rand.Rand) NATOutgoing {
	var n NATOutgoing
	for _, p := range prefixes("10.65.0.0/16", "10.66.0.0/24", "10.66.1.0/24", "10.67.0.0/16", "192.168.0.0/16",
		"2001:db8:65::/64", "2001:db8:66::/64", "2001:db8:67::/64") {
		switch rng.IntN(3) {
		case 0:
		case 1:
			n.Pools = append(n.Pools, p)
		default:
			n.Pools = append(n.Pools, p)
			n.Masquerade = append(n.Masquerade, p)
		}
	}
	return n
}

// TestNATOutgoingPartialEqualsFullFake: after any series of pool changes applied as
// partial syncs (next to an unchanged policy table) the fake equals a fresh sync, and
// applying the same pools again is no operation.
func TestNATOutgoingPartialEqualsFullFake(t *testing.T) {
	ctx := context.Background()
	a, b, c, s := testPods()
	for seed := range uint64(10) {
		rng := rand.New(rand.NewPCG(seed, 13))
		partial := knftables.NewFake(knftables.InetFamily, "trellis")
		ap := NewApplier(partial)
		for step := range 12 {
			pools := randomPools(rng)
			want := Render(Config{}, connectivityState(a, b, c, s))
			if err := want.Merge(RenderNATOutgoing(Config{}, pools)); err != nil {
				t.Fatal(err)
			}
			if _, err := ap.Apply(ctx, want); err != nil {
				t.Fatalf("seed %d step %d: apply %+v: %v", seed, step, pools, err)
			}
			fresh := knftables.NewFake(knftables.InetFamily, "trellis")
			if _, err := NewApplier(fresh).Apply(ctx, want); err != nil {
				t.Fatalf("seed %d step %d: fresh sync: %v", seed, step, err)
			}
			if diff := cmp.Diff(fakeDump(fresh), fakeDump(partial)); diff != "" {
				t.Fatalf("seed %d step %d: partial != full (-full +partial):\n%s", seed, step, diff)
			}
			again := Render(Config{}, connectivityState(a, b, c, s))
			if err := again.Merge(RenderNATOutgoing(Config{}, pools)); err != nil {
				t.Fatal(err)
			}
			res, err := ap.Apply(ctx, again)
			if err != nil {
				t.Fatal(err)
			}
			if res.Operations != 0 {
				t.Fatalf("seed %d step %d: unchanged pools: %d operations, want 0", seed, step, res.Operations)
			}
		}
	}
}
