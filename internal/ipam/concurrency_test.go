package ipam

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
)

var errKilled = errors.New("killed")

// TestClaimRecoversAfterCrash kills the claimer at each step of a block claim and checks
// that the node's next request completes or cleans up what was left.
func TestClaimRecoversAfterCrash(t *testing.T) {
	p := pool("p", "192.0.2.0/24", 26)
	tests := []struct {
		name  string
		op    string
		table string
	}{
		{"before the block is written", "create", "blocks"},
		{"before the affinity is confirmed", "update", "affinities"},
		{"before the first allocation", "update", "blocks"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			m := NewMemStore()
			a := New(m, eqMatch)
			m.SetFailHook(func(op, table, _ string) error {
				if op == tc.op && table == tc.table {
					return errKilled
				}
				return nil
			})
			if _, err := a.AutoAssign(ctx, req("n1", "h1", 1, 0, p)); !errors.Is(err, errKilled) {
				t.Fatalf("err = %v, want the injected kill", err)
			}
			m.SetFailHook(nil)
			r := mustAssign(t, a, req("n1", "h2", 1, 0, p))
			s := snapshot(t, a)
			if len(s.Blocks) != 1 || len(s.Affinities) != 1 {
				t.Fatalf("blocks %d, affinities %d; want the one interrupted claim completed", len(s.Blocks), len(s.Affinities))
			}
			if s.Affinities[0].State != AffinityConfirmed || s.Blocks[0].CIDR != r.IPv4[0].Block {
				t.Errorf("affinity %+v, address %s: want a confirmed affinity to the block used", s.Affinities[0], r.IPv4[0].Addr)
			}
			consistent(t, a)
		})
	}
}

func TestPendingAffinityForOtherNodesBlockIsCleaned(t *testing.T) {
	ctx := context.Background()
	p := pool("p", "192.0.2.0/24", 26)
	m := NewMemStore()
	a := New(m, eqMatch)
	r := mustAssign(t, a, req("n2", "h", 1, 0, p))
	// n1 died after writing a pending affinity for n2's block.
	if _, err := m.Affinities().Create(ctx, &Affinity{Meta: Meta{Name: AffinityName("n1", r.IPv4[0].Block)},
		Node: "n1", CIDR: r.IPv4[0].Block, State: AffinityPending}); err != nil {
		t.Fatal(err)
	}
	r1 := mustAssign(t, a, req("n1", "h1", 1, 0, p))
	if r1.IPv4[0].Block == r.IPv4[0].Block {
		t.Errorf("n1 allocated from n2's block %s", r.IPv4[0].Block)
	}
	for _, af := range snapshot(t, a).Affinities {
		if af.Node == "n1" && af.CIDR == r.IPv4[0].Block {
			t.Errorf("stale pending affinity %s not cleaned", af.Name)
		}
	}
	consistent(t, a)
}

// TestConcurrentAssign runs 500 allocations in parallel across 4 nodes.
func TestConcurrentAssign(t *testing.T) {
	ctx := context.Background()
	p := pool("p", "10.0.0.0/16", 26)
	a := New(NewMemStore(), eqMatch)
	const n = 500
	nodes := []string{"node-0", "node-1", "node-2", "node-3"}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			node := nodes[i%len(nodes)]
			if _, err := a.AutoAssign(ctx, req(node, fmt.Sprintf("h%d", i), 1, 0, p)); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	s := snapshot(t, a)
	seen := map[netip.Addr]string{}
	total := 0
	for _, b := range s.Blocks {
		for _, al := range b.Allocated() {
			total++
			if prev, dup := seen[al.Addr]; dup {
				t.Errorf("address %s given to %s and %s", al.Addr, prev, al.Handle)
			}
			seen[al.Addr] = al.Handle
			if al.Attrs[AttrNode] != b.Affinity {
				t.Errorf("address %s for node %s from block %s affine to %s", al.Addr, al.Attrs[AttrNode], b.CIDR, b.Affinity)
			}
		}
	}
	if total != n {
		t.Errorf("%d addresses allocated, want %d", total, n)
	}
	for _, af := range s.Affinities {
		if af.State != AffinityConfirmed {
			t.Errorf("affinity %s left %s", af.Name, af.State)
		}
	}
	consistent(t, a)
}

// TestConcurrentAssignWithKills injects "process death" at random writes: the failed
// request stops where it is, as a killed plugin would. Afterwards no address is given
// twice, Check finds only handle-level debris of killed requests, and releasing the
// killed handles leaves a consistent store.
func TestConcurrentAssignWithKills(t *testing.T) {
	ctx := context.Background()
	p := pool("p", "10.0.0.0/16", 26)
	m := NewMemStore()
	a := New(m, eqMatch)
	rng := rand.New(rand.NewPCG(1, 2))
	var rngMu sync.Mutex
	m.SetFailHook(func(op, table, name string) error {
		rngMu.Lock()
		defer rngMu.Unlock()
		if rng.IntN(20) == 0 {
			return errKilled
		}
		return nil
	})
	const n = 200
	nodes := []string{"node-0", "node-1", "node-2", "node-3"}
	var killed sync.Map
	var nKilled atomic.Int32
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			h := fmt.Sprintf("h%d", i)
			if _, err := a.AutoAssign(ctx, req(nodes[i%4], h, 1, 0, p)); err != nil {
				if !errors.Is(err, errKilled) {
					t.Errorf("handle %s: %v", h, err)
				}
				killed.Store(h, true)
				nKilled.Add(1)
			}
		})
	}
	wg.Wait()
	m.SetFailHook(nil)
	if nKilled.Load() == 0 {
		t.Fatal("no request was killed; the test exercises nothing")
	}
	s := snapshot(t, a)
	seen := map[netip.Addr]bool{}
	for _, b := range s.Blocks {
		for _, al := range b.Allocated() {
			if seen[al.Addr] {
				t.Errorf("address %s allocated twice", al.Addr)
			}
			seen[al.Addr] = true
			if al.Attrs[AttrNode] != b.Affinity {
				t.Errorf("address %s for %s in block affine to %s", al.Addr, al.Attrs[AttrNode], b.CIDR)
			}
		}
	}
	isKilled := func(h string) bool { _, ok := killed.Load(h); return ok }
	rep := Check(s, func(al Allocation) bool { return !isKilled(al.Handle) }, func(string) bool { return true })
	for _, al := range rep.Leaked {
		if !isKilled(al.Handle) {
			t.Errorf("leak reported for live handle %s", al.Handle)
		}
	}
	if len(rep.MissingHandles) != 0 {
		t.Errorf("allocations without handle record: %v (handle is written first)", rep.MissingHandles)
	}
	killed.Range(func(k, _ any) bool {
		if _, err := a.ReleaseByHandle(ctx, k.(string)); err != nil {
			t.Errorf("release %s: %v", k, err)
		}
		return true
	})
	// A further round on every node recovers any pending affinity.
	for i, node := range nodes {
		mustAssign(t, a, req(node, fmt.Sprintf("after%d", i), 1, 0, p))
	}
	s = snapshot(t, a)
	for _, af := range s.Affinities {
		if af.State != AffinityConfirmed {
			t.Errorf("affinity %s still %s after its node's next request", af.Name, af.State)
		}
	}
	rep = Check(s, func(al Allocation) bool { return !isKilled(al.Handle) }, func(string) bool { return true })
	if len(rep.Leaked)+len(rep.DanglingHandles)+len(rep.MissingHandles) != 0 {
		t.Errorf("after release: %+v", rep)
	}
	consistent(t, a)
}
