package nft

import (
	"context"
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/knftables"

	"github.com/trellisnet/trellis/internal/service"
)

// fullSyncTables are tables covering every object the renderers make: random policy
// states (merged and unmerged runs, interval and hash sets, named-port sets), the
// connectivity scenario with host endpoints, and the same with services merged in.
func fullSyncTables(t *testing.T) []*Table {
	t.Helper()
	a, b, c, s := testPods()
	var out []*Table
	rng := newRand(5)
	for step := range 4 {
		out = append(out, Render(Config{MergeRun: 1 - 2*(step%2)}, randomState(rng)))
	}
	out = append(out, Render(Config{}, connectivityState(a, b, c, s)))
	var all []service.Input
	for _, in := range serviceScenarios(t) {
		all = append(all, in)
	}
	want := Render(Config{}, connectivityState(a, b, c, s))
	if err := want.Merge(RenderServices(Config{}, randomServiceState(rand.New(rand.NewPCG(3, 11)), all))); err != nil {
		t.Fatal(err)
	}
	if err := want.Merge(RenderNATOutgoing(Config{}, natOutgoingPools())); err != nil {
		t.Fatal(err)
	}
	return append(out, want)
}

// TestFullSyncNoChangeFake: a full sync of the table the kernel already holds writes
// nothing, whether the rules were written by a full sync or by partial ones.
func TestFullSyncNoChangeFake(t *testing.T) {
	ctx := context.Background()
	for i, want := range fullSyncTables(t) {
		f := knftables.NewFake(knftables.InetFamily, "trellis")
		ap := NewApplier(f)
		if _, err := ap.FullSync(ctx, want); err != nil {
			t.Fatal(err)
		}
		last := f.LastTransaction
		res, err := ap.FullSync(ctx, want)
		if err != nil {
			t.Fatal(err)
		}
		if res.Operations != 0 || f.LastTransaction != last {
			t.Errorf("table %d: full sync without change: %d operations, want none", i, res.Operations)
		}
	}
}

// TestFullSyncRepairsElementFake deletes one set element and adds another behind the
// Applier's back: the full sync adds back exactly the deleted one, and replaces the
// content of the set with the extra one.
func TestFullSyncRepairsElementFake(t *testing.T) {
	ctx := context.Background()
	a, b, c, s := testPods()
	want := Render(Config{}, connectivityState(a, b, c, s))
	set := elementSet(t, want)
	key := sortedKeys(set.Elements)[0]
	f := knftables.NewFake(knftables.InetFamily, "trellis")
	ap := NewApplier(f)
	if _, err := ap.FullSync(ctx, want); err != nil {
		t.Fatal(err)
	}
	ref := fakeDump(f)
	tx := f.NewTransaction()
	tx.Delete(&knftables.Element{Set: set.Name, Key: []string{key}})
	mustRun(t, f, tx)
	res, err := ap.FullSync(ctx, want)
	if err != nil {
		t.Fatal(err)
	}
	if res.Operations != 1 {
		t.Errorf("repairing a deleted element: %d operations, want 1", res.Operations)
	}
	if diff := cmp.Diff(ref, fakeDump(f)); diff != "" {
		t.Fatalf("element not restored (-want +got):\n%s", diff)
	}
	tx = f.NewTransaction()
	tx.Add(&knftables.Element{Set: set.Name, Key: []string{"203.0.113.77"}})
	mustRun(t, f, tx)
	if _, err := ap.FullSync(ctx, want); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(ref, fakeDump(f)); diff != "" {
		t.Fatalf("extra element not removed (-want +got):\n%s", diff)
	}
}

// elementSet returns an IPv4 hash set of want with elements.
func elementSet(t *testing.T, want *Table) *Set {
	t.Helper()
	for _, name := range sortedKeys(want.Sets) {
		if s := want.Sets[name]; s.Type == "ipv4_addr" && !s.Interval && !s.Map && len(s.Elements) > 1 {
			return s
		}
	}
	t.Fatal("no IPv4 hash set with elements")
	return nil
}

func TestDecodeIntervals(t *testing.T) {
	v4 := func(s string) []byte { return netip.MustParseAddr(s).AsSlice() }
	raw := []rawElement{
		{key: v4("0.0.0.0"), intervalEnd: true},
		{key: v4("10.0.0.0")}, {key: v4("10.0.1.0"), intervalEnd: true},
		{key: v4("10.0.1.0")}, {key: v4("10.0.1.1"), intervalEnd: true},
		{key: v4("128.0.0.0")},
	}
	got, ok := decodeIntervals(fieldTypes["ipv4_addr"], raw)
	want := map[string]string{"10.0.0.0/24": "", "10.0.1.0": "", "128.0.0.0/1": ""}
	if !ok || !cmp.Equal(got, want) {
		t.Fatalf("decodeIntervals = %v, %v; want %v", got, ok, want)
	}
	if _, ok := decodeIntervals(fieldTypes["ipv4_addr"], []rawElement{{key: v4("10.0.0.1")}, {key: v4("10.0.0.4"), intervalEnd: true}}); ok {
		t.Fatal("a range that is no prefix decoded")
	}
}

func TestDecodeConcatAndVerdict(t *testing.T) {
	key := append(netip.MustParseAddr("192.0.2.1").AsSlice(), 6, 0, 0, 0, 0, 80, 0, 0)
	s := &Set{Type: "ipv4_addr . inet_proto . inet_service"}
	got, ok := decodeElements(s, []rawElement{{key: key}})
	if want := map[string]string{"192.0.2.1 . tcp . 80": ""}; !ok || !cmp.Equal(got, want) {
		t.Fatalf("concat: %v %v, want %v", got, ok, want)
	}
	m := &Set{Map: true, Type: "ifname : verdict"}
	ifname := make([]byte, 16)
	copy(ifname, "trlpa")
	got, ok = decodeElements(m, []rawElement{{key: ifname, verdict: &rawVerdict{code: -3, chain: "wl-to-x"}}})
	if want := map[string]string{`"trlpa"`: "jump wl-to-x"}; !ok || !cmp.Equal(got, want) {
		t.Fatalf("verdict map: %v %v, want %v", got, ok, want)
	}
	if _, ok := decodeElements(&Set{Type: "ether_addr"}, nil); ok {
		t.Fatal("unknown type decoded")
	}
}
