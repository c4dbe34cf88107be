package nft

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/knftables"

	"github.com/trellisnet/trellis/internal/policy"
)

// TestRendererEqualsRender renders random state sequences with one Renderer and checks
// every table against a fresh Render, and that applying the Renderer's tables partially
// ends in the same kernel state as a fresh full sync.
func TestRendererEqualsRender(t *testing.T) {
	ctx := context.Background()
	for seed := range uint64(20) {
		rng := newRand(seed)
		cfg := Config{MergeRun: 1 + 2*rng.IntN(2)}
		rr := NewRenderer(cfg)
		partial := knftables.NewFake(knftables.InetFamily, "trellis")
		ap := NewApplier(partial)
		var prev *policy.State
		for step := range 20 {
			st := randomState(rng)
			if prev != nil && rng.IntN(3) == 0 {
				st = prev // unchanged inputs: everything reused
			}
			prev = st
			got := rr.Render(st)
			if diff := cmp.Diff(Render(cfg, st).String(), got.String()); diff != "" {
				t.Fatalf("seed %d step %d: Renderer != Render (-Render +Renderer):\n%s", seed, step, diff)
			}
			if _, err := ap.Apply(ctx, got); err != nil {
				t.Fatalf("seed %d step %d: apply: %v", seed, step, err)
			}
			fresh := knftables.NewFake(knftables.InetFamily, "trellis")
			if _, err := NewApplier(fresh).Apply(ctx, Render(cfg, st)); err != nil {
				t.Fatalf("seed %d step %d: fresh full sync: %v", seed, step, err)
			}
			if diff := cmp.Diff(fakeDump(fresh), fakeDump(partial)); diff != "" {
				t.Fatalf("seed %d step %d: partial != full (-full +partial):\n%s", seed, step, diff)
			}
		}
	}
}

// TestRendererReuse checks that a Renderer hands out the same objects for unchanged
// inputs and new ones only for what changed.
func TestRendererReuse(t *testing.T) {
	st0 := agentShapeState(100, 400, 0)
	st1 := agentShapeState(100, 400, 1) // policy p00000's port changed
	rr := NewRenderer(Config{})
	t0 := rr.Render(st0)
	t1 := rr.Render(st1)
	changed := map[string]bool{}
	for name, c := range t1.Chains {
		if t0.Chains[name] != c {
			changed[name] = true
		}
	}
	for name, s := range t1.Sets {
		if t0.Sets[name] != s && !s.Verdict() {
			changed[name] = true
		}
	}
	pol := policyChain(dirTo, pid("p00000").String(), false)
	if !changed[pol] {
		t.Errorf("the changed policy's chain %s was reused", pol)
	}
	for name := range changed {
		if name != pol && t1.Chains[name] != nil && t1.Chains[name].Hook == nil && name[:3] == "po-" {
			t.Errorf("unchanged policy chain %s was rendered again", name)
		}
		if t1.Sets[name] != nil {
			t.Errorf("unchanged set %s was rendered again", name)
		}
	}
	tx := knftables.NewFake(knftables.InetFamily, "trellis").NewTransaction()
	PlanPartial(tx, t1, rr.Render(st1))
	if n := tx.NumOperations(); n != 0 {
		t.Errorf("re-rendering an unchanged state planned %d operations, want 0", n)
	}
	// A member change reaches the set and only the set.
	st2 := agentShapeState(100, 400, 1)
	st2.IPSets[3].Members[0].Prefix = netip.MustParsePrefix("192.0.2.7/32")
	t2 := rr.Render(st2)
	var sets []string
	for name, s := range t2.Sets {
		if t1.Sets[name] != s && !s.Verdict() {
			sets = append(sets, name)
		}
	}
	if len(sets) != 1 {
		t.Errorf("one member change re-rendered sets %v, want exactly one", sets)
	}
	if diff := cmp.Diff(Render(Config{}, st2).String(), t2.String()); diff != "" {
		t.Errorf("Renderer != Render after a member change (-Render +Renderer):\n%s", diff)
	}
}

// TestRendererReusesEndpointChains: an endpoint chain is rendered again only when an
// input changed (a policy it names, or the members of a set such a policy names, which
// can change whether a run is merged), and the result equals a fresh Render.
func TestRendererReusesEndpointChains(t *testing.T) {
	rr := NewRenderer(Config{})
	st0, st1 := agentShapeState(100, 400, 0), agentShapeState(100, 400, 1) // p00000's port changed
	t0, t1 := rr.Render(st0), rr.Render(st1)
	for _, ep := range st1.Endpoints {
		name := endpointChain(dirTo, ep.Name)
		names := slices.Contains(ep.Ingress.Tiers[0].Policies, pid("p00000"))
		if reused := t0.Chains[name] == t1.Chains[name]; reused == names {
			t.Errorf("endpoint %s (names the changed policy: %v): chain reused = %v", ep.Name, names, reused)
		}
		if fr := endpointChain(dirFrom, ep.Name); t0.Chains[fr] != t1.Chains[fr] {
			t.Errorf("endpoint %s: unchanged egress chain rendered again", ep.Name)
		}
	}
	// Twenty allow-only policies with their own sets are merged; one set gaining a
	// network (not a single address) makes its policy unmergeable, which the endpoint
	// chain must show although no policy changed.
	merged := benchStateRules(20, 2, true, netip.Addr{}, 0, false)
	tm := rr.Render(merged)
	split := benchStateRules(20, 2, true, netip.Addr{}, 0, false)
	split.IPSets[10].Members[0].Prefix = netip.MustParsePrefix("10.250.0.0/24")
	ts := rr.Render(split)
	name := endpointChain(dirTo, split.Endpoints[0].Name)
	if tm.Chains[name] == ts.Chains[name] {
		t.Fatalf("endpoint chain reused after a set change that splits its merged run")
	}
	if diff := cmp.Diff(Render(Config{}, split).String(), ts.String()); diff != "" {
		t.Errorf("Renderer != Render after the split (-Render +Renderer):\n%s", diff)
	}
}

// TestMergeSkippedWhenItMultipliesElements: many policies allowing different ports from
// the same large selector set would need a cross product of addresses and ports; they
// stay unmerged. Policies with their own small sets are merged.
func TestMergeSkippedWhenItMultipliesElements(t *testing.T) {
	mergedSets := func(tab *Table) int {
		n := 0
		for name := range tab.Sets {
			if name[:2] == "m4" || name[:2] == "m6" {
				n++
			}
		}
		return n
	}
	for _, tc := range []struct {
		name       string
		st         *policy.State
		wantMerged bool
	}{
		{"shared large set, many ports", agentShapeState(1000, 2000, 0), false},
		{"own small sets", benchStateRules(20, 2, true, netip.Addr{}, 0, false), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tab := Render(Config{}, tc.st)
			if got := mergedSets(tab) > 0; got != tc.wantMerged {
				t.Errorf("merged = %v, want %v (%+v)", got, tc.wantMerged, tab.Stats())
			}
		})
	}
}

func BenchmarkRendererIncremental(b *testing.B) {
	for _, nPol := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("policies=%d", nPol), func(b *testing.B) {
			prev, ops := renderAlternating(b, [2]*policy.State{agentShapeState(nPol, 10000, 0), agentShapeState(nPol, 10000, 1)})
			st := prev.Stats()
			b.ReportMetric(float64(ops), "ops/tx")
			b.ReportMetric(float64(st.Elements), "elements")
			b.ReportMetric(float64(st.Sets), "sets")
		})
	}
}
