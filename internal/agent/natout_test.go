package agent

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/knftables"

	"github.com/trellisnet/trellis/internal/model"
	"github.com/trellisnet/trellis/internal/store"
	"github.com/trellisnet/trellis/internal/store/memory"
)

// poolYAML is an IPPool; extra is added to its spec ("natOutgoing: true", ...).
func poolYAML(name, cidr, extra string) string {
	return fmt.Sprintf("apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata: {name: %s}\nspec: {cidr: %q%s}\n---\n", name, cidr, extra)
}

// TestNATOutgoingFollowsIPPools: the agent watches IPPools; creating, changing and
// deleting them changes the nat-outgoing objects in partial syncs.
func TestNATOutgoingFollowsIPPools(t *testing.T) {
	mem := memory.New(1000)
	put(t, mem, nsYAML("shop")+wepYAML("shop", "a", "n1", "trla", nil, "10.65.0.2/32"))
	fake := knftables.NewFake(knftables.InetFamily, "trellis")
	a := New(testConfig(t, "n1"), mem, Dataplane{NFT: fake}, testLogger(t))
	startAgent(t, a)
	waitTable := func(want, notWant []string) {
		t.Helper()
		eventually(t, 5*time.Second, func() string {
			dump := fakeTable(fake)
			if dump == "" {
				return "nothing programmed"
			}
			for _, w := range want {
				if !strings.Contains(dump, w) {
					return "table lacks " + w + ":\n" + dump
				}
			}
			for _, w := range notWant {
				if strings.Contains(dump, w) {
					return "table has " + w + ":\n" + dump
				}
			}
			return ""
		})
	}
	partial := func(what string) {
		t.Helper()
		if s := a.Status(); s.LastSyncType != "partial" {
			t.Errorf("after %s: last sync %q, want partial", what, s.LastSyncType)
		}
	}
	waitTable([]string{"trla"}, []string{"natout-"})

	put(t, mem, poolYAML("pods", "10.65.0.0/16", ", natOutgoing: true"))
	waitTable([]string{
		"natout-src4 { 10.65.0.0/16 }",
		"natout-pools4 { 10.65.0.0/16 }",
		`ip saddr @natout-src4 ip daddr != @natout-pools4 oifname != "trl*" counter masquerade`,
	}, []string{"natout-src6"})
	partial("a pool with natOutgoing")

	put(t, mem, poolYAML("no-nat", "192.168.0.0/16", ", disabled: true")+poolYAML("pods6", "2001:db8:65::/64", ", natOutgoing: true"))
	waitTable([]string{"natout-pools4 { 192.168.0.0/16 }", "natout-src6 { 2001:db8:65::/64 }", "ip6 saddr @natout-src6"}, nil)
	partial("a disabled pool and an IPv6 pool")

	put(t, mem, poolYAML("pods", "10.65.0.0/16", ""))
	waitTable([]string{"natout-src6"}, []string{"natout-src4", "ip saddr @natout-src4"})
	partial("natOutgoing off")

	for _, name := range []string{"pods", "no-nat", "pods6"} {
		if _, err := mem.Delete(context.Background(), model.KindIPPool, "", name, store.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	waitTable([]string{"trla"}, []string{"natout-"})
	partial("pools deleted")
}

// TestNATOutgoingRenderReuse: a pool change that natOutgoing does not read (labels,
// blockSize, disabled) hands out the same table, so the plan skips it.
func TestNATOutgoingRenderReuse(t *testing.T) {
	n := newNATOutgoing(Config{WorkloadPrefix: "trl"}, testLogger(t))
	set := func(manifest string) {
		for _, obj := range decode(t, manifest) {
			k, _ := keyOf(obj)
			if !n.update(k, obj) {
				t.Fatalf("%s not taken as an IPPool", k)
			}
		}
	}
	set(poolYAML("pods", "10.65.0.0/16", ", natOutgoing: true"))
	first := n.render()
	if n.changed() || n.render() != first {
		t.Fatal("render without a change made a new table")
	}
	set(poolYAML("pods", "10.65.0.0/16", ", natOutgoing: true, disabled: true, blockSize: 24"))
	if !n.changed() {
		t.Fatal("a pool update is not a change")
	}
	if n.render() != first {
		t.Error("a change natOutgoing does not read made a new table")
	}
	set(poolYAML("pods", "10.65.0.0/16", ""))
	if got := n.render(); got == first || len(got.Chains) != 0 {
		t.Errorf("natOutgoing off: table %v, want a new, empty one", got)
	}
	if n.update(objKey{kind: model.KindFelixConfiguration, name: "default"}, nil) {
		t.Error("a FelixConfiguration taken as an IPPool")
	}
}
