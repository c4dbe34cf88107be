package nft

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/trellisnet/trellis/internal/policy"
	"github.com/trellisnet/trellis/internal/testnet"
)

// flipStates returns two states for server s: both deny c; x allows a, y denies it.
// They use different policy names and sets, so every flip creates and deletes chains and
// sets and refills the server's endpoint chain. The deny sits in front of an allow-all
// policy in the same tier: a transiently empty or missing deny chain would let c in.
func flipStates(a, c, s testPod) (x, y *policy.State) {
	ep := func(p testPod, deny string) policy.Endpoint {
		e := policy.Endpoint{Kind: policy.KindWorkload, Name: "default/" + p.Name, Interface: p.Iface, Addrs: hostPrefixes(p),
			Ingress: policy.Chain{Profiles: []string{"open"}, Final: policy.ActionDeny},
			Egress:  policy.Chain{Profiles: []string{"open"}, Final: policy.ActionDeny}}
		if deny != "" {
			e.Ingress = policy.Chain{Tiers: []policy.TierChain{{Name: "t", End: policy.ActionDeny,
				Policies: []policy.PolicyID{pid(deny), pid("allow-tcp")}}}, Final: policy.ActionDeny}
		}
		return e
	}
	open := policy.Profile{Name: "open", Ingress: []policy.Rule{{Action: policy.ActionAllow}}, Egress: []policy.Rule{{Action: policy.ActionAllow}}}
	allow := policy.Policy{ID: pid("allow-tcp"), Ingress: []policy.Rule{{Action: policy.ActionAllow, Protocol: "tcp"}}}
	members := func(ps ...testPod) (m []policy.Member) {
		for _, p := range ps {
			for _, pr := range hostPrefixes(p) {
				m = append(m, policy.Member{Prefix: pr})
			}
		}
		return m
	}
	x = sortState(&policy.State{
		Endpoints: []policy.Endpoint{ep(a, ""), ep(c, ""), ep(s, "deny-x")},
		Policies: []policy.Policy{allow, {ID: pid("deny-x"), Ingress: []policy.Rule{
			{Action: policy.ActionDeny, Source: policy.Match{IPSets: []string{"set-c"}}}}}},
		Profiles: []policy.Profile{open},
		IPSets:   []policy.IPSet{{ID: "set-c", Kind: policy.SetNets, Members: members(c)}},
	})
	y = sortState(&policy.State{
		Endpoints: []policy.Endpoint{ep(a, ""), ep(c, ""), ep(s, "deny-y")},
		Policies: []policy.Policy{allow, {ID: pid("deny-y"), Ingress: []policy.Rule{
			{Action: policy.ActionDeny, Source: policy.Match{IPSets: []string{"set-ca"}}}}}},
		Profiles: []policy.Profile{open},
		IPSets:   []policy.IPSet{{ID: "set-ca", Kind: policy.SetNets, Members: members(c, a)}},
	})
	return x, y
}

func TestKernelAtomicTransition(t *testing.T) {
	n := testnet.New(t, testnet.Config{Pods: 3})
	tp := func(i int, name string) testPod {
		p := n.Pods[i]
		return testPod{Name: name, Iface: p.HostIf, V4: p.IPv4, V6: p.IPv6}
	}
	a, c, s := tp(0, "a"), tp(1, "c"), tp(2, "s")
	testnet.Serve(t, n.Pods[2].NS, portHTTP)
	x, y := flipStates(a, c, s)
	tx, ty := Render(Config{}, x), Render(Config{}, y)
	ctx := context.Background()
	ap := NewApplier(kernelTable(t, n.Host, "trl-atomic"))
	if _, err := ap.Apply(ctx, tx); err != nil {
		t.Fatal(err)
	}

	var stop atomic.Bool
	var cOK, cTried, aOK, aFail atomic.Int64
	var wg sync.WaitGroup
	probe := func(from testPod, ns string, ok, fail *atomic.Int64) {
		defer wg.Done()
		for !stop.Load() {
			for _, dst := range []testPod{s} {
				if err := testnet.Probe(ns, testnet.TCP, dst.V4, portHTTP, 150*time.Millisecond); err == nil {
					ok.Add(1)
				} else if fail != nil {
					fail.Add(1)
				}
				if ok == &cOK {
					cTried.Add(1)
				}
			}
		}
	}
	for range 6 {
		wg.Add(1)
		go probe(c, n.Pods[1].NS, &cOK, nil)
	}
	wg.Add(1)
	go probe(a, n.Pods[0].NS, &aOK, &aFail)

	flips := 0
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		want := ty
		if flips%2 == 1 {
			want = tx
		}
		if _, err := ap.Apply(ctx, want); err != nil {
			stop.Store(true)
			wg.Wait()
			t.Fatalf("flip %d: %v", flips, err)
		}
		flips++
		time.Sleep(5 * time.Millisecond)
	}
	stop.Store(true)
	wg.Wait()
	t.Logf("%d flips; c->s: %d probes, %d succeeded; a->s: %d succeeded, %d failed", flips, cTried.Load(), cOK.Load(), aOK.Load(), aFail.Load())
	if cOK.Load() != 0 {
		t.Errorf("%d probes from c succeeded although both policies deny c", cOK.Load())
	}
	if aOK.Load() == 0 || aFail.Load() == 0 {
		t.Errorf("a->s never flipped (succeeded %d, failed %d): the probes do not observe the policy changes", aOK.Load(), aFail.Load())
	}
}
