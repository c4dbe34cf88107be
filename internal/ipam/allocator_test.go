package ipam

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// eqMatch evaluates the tiny selector subset tests need: "", "all()", or "k == 'v'".
func eqMatch(sel string, labels map[string]string) (bool, error) {
	sel = strings.TrimSpace(sel)
	if sel == "" || sel == "all()" {
		return true, nil
	}
	k, v, ok := strings.Cut(sel, "==")
	if !ok {
		return false, fmt.Errorf("unsupported selector %q", sel)
	}
	return labels[strings.TrimSpace(k)] == strings.Trim(strings.TrimSpace(v), "'\""), nil
}

func pfx(s string) netip.Prefix { return netip.MustParsePrefix(s) }
func addr(s string) netip.Addr  { return netip.MustParseAddr(s) }

func pool(name, cidr string, bits int) Pool {
	return Pool{Name: name, CIDR: pfx(cidr), BlockSize: bits}
}

func req(node, handle string, n4, n6 int, pools ...Pool) AssignArgs {
	return AssignArgs{Node: node, Handle: handle, Num4: n4, Num6: n6, Pools: pools,
		Attrs: map[string]string{AttrNode: node}}
}

func mustAssign(t *testing.T, a *Allocator, args AssignArgs) Result {
	t.Helper()
	r, err := a.AutoAssign(context.Background(), args)
	if err != nil {
		t.Fatalf("AutoAssign(%s on %s): %v", args.Handle, args.Node, err)
	}
	return r
}

func snapshot(t *testing.T, a *Allocator) Snapshot {
	t.Helper()
	s, err := a.Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// consistent asserts the store-wide invariants: no address twice, handle counts equal what
// blocks hold, every confirmed affinity has its block affine to the same node.
func consistent(t *testing.T, a *Allocator) {
	t.Helper()
	s := snapshot(t, a)
	r := Check(s, func(Allocation) bool { return true }, func(string) bool { return true })
	if len(r.DanglingHandles)+len(r.MissingHandles) > 0 {
		t.Errorf("handles inconsistent: dangling %v missing %v", r.DanglingHandles, r.MissingHandles)
	}
	blocks := map[netip.Prefix]*Block{}
	for _, b := range s.Blocks {
		blocks[b.CIDR] = b
		if len(b.Unallocated)+b.InUse() != len(b.Allocations) {
			t.Errorf("block %s: %d free + %d used != %d", b.CIDR, len(b.Unallocated), b.InUse(), len(b.Allocations))
		}
	}
	for _, af := range s.Affinities {
		b := blocks[af.CIDR]
		if af.State == AffinityConfirmed && (b == nil || b.Affinity != af.Node) {
			t.Errorf("confirmed affinity %s has no block affine to %s", af.Name, af.Node)
		}
	}
}

func TestAutoAssignFromAffineBlock(t *testing.T) {
	ctx := context.Background()
	a := New(NewMemStore(), eqMatch)
	p := pool("p1", "192.0.2.0/24", 26)
	r1 := mustAssign(t, a, req("node-a", "h1", 1, 0, p))
	r2 := mustAssign(t, a, req("node-a", "h2", 1, 0, p))
	if len(r1.IPv4) != 1 || len(r2.IPv4) != 1 {
		t.Fatalf("got %v and %v, want one address each", r1, r2)
	}
	if r1.IPv4[0].Block != r2.IPv4[0].Block {
		t.Errorf("second address from block %s, want the node's affine block %s", r2.IPv4[0].Block, r1.IPv4[0].Block)
	}
	wantBlock := nthBlock(p.CIDR, 26, nodeOffset("node-a", 4))
	if r1.IPv4[0].Block != wantBlock {
		t.Errorf("first block %s, want %s (hash order)", r1.IPv4[0].Block, wantBlock)
	}
	s := snapshot(t, a)
	if len(s.Blocks) != 1 || s.Blocks[0].Affinity != "node-a" {
		t.Fatalf("blocks %+v, want one affine to node-a", s.Blocks)
	}
	if len(s.Affinities) != 1 || s.Affinities[0].State != AffinityConfirmed {
		t.Fatalf("affinities %+v, want one confirmed", s.Affinities)
	}
	got, err := a.AddrsByHandle(ctx, "h2")
	if err != nil || len(got) != 1 || got[0].Addr != r2.IPv4[0].Addr {
		t.Errorf("AddrsByHandle(h2) = %v, %v; want %v", got, err, r2.IPv4[0].Addr)
	}
	consistent(t, a)
}

func TestCandidateOrderDeterministic(t *testing.T) {
	p := pool("p1", "10.0.0.0/16", 26)
	for _, node := range []string{"n1", "n2", "worker-7"} {
		var firsts []netip.Prefix
		for range 2 {
			a := New(NewMemStore(), eqMatch)
			firsts = append(firsts, mustAssign(t, a, req(node, "h", 1, 0, p)).IPv4[0].Block)
		}
		if firsts[0] != firsts[1] {
			t.Errorf("node %s: first block %s then %s on a fresh store", node, firsts[0], firsts[1])
		}
	}
}

func TestDefaultBlockSizes(t *testing.T) {
	a := New(NewMemStore(), eqMatch)
	r := mustAssign(t, a, req("n1", "h", 1, 1, Pool{Name: "v4", CIDR: pfx("10.1.0.0/16")}, Pool{Name: "v6", CIDR: pfx("2001:db8::/64")}))
	if b := r.IPv4[0].Block.Bits(); b != 26 {
		t.Errorf("IPv4 block /%d, want /26", b)
	}
	if b := r.IPv6[0].Block.Bits(); b != 122 {
		t.Errorf("IPv6 block /%d, want /122", b)
	}
}

func TestExhaustionAndBorrowing(t *testing.T) {
	// 192.0.2.0/29 in two /30 blocks.
	p := pool("small", "192.0.2.0/29", 30)
	tests := []struct {
		name   string
		cfg    Config
		wantOK bool
	}{
		{"borrows from the other node's block", Config{}, true},
		{"strict affinity forbids borrowing", Config{StrictAffinity: true}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := New(NewMemStore(), eqMatch)
			mustAssign(t, a, req("a", "ha", 2, 0, p))
			mustAssign(t, a, req("b", "hb", 4, 0, p))
			args := req("b", "hb2", 1, 0, p)
			args.Config = tc.cfg
			r, err := a.AutoAssign(context.Background(), args)
			if tc.wantOK {
				if err != nil {
					t.Fatalf("AutoAssign: %v", err)
				}
				s := snapshot(t, a)
				owner := ""
				for _, b := range s.Blocks {
					if b.CIDR == r.IPv4[0].Block {
						owner = b.Affinity
					}
				}
				if owner != "a" {
					t.Errorf("borrowed address %s from block of %q, want a's block", r.IPv4[0].Addr, owner)
				}
				u := Usage(s, []Pool{p})
				var borrowed []netip.Addr
				for _, bu := range u[0].Blocks {
					for _, al := range bu.Borrowed {
						borrowed = append(borrowed, al.Addr)
					}
				}
				if diff := cmp.Diff([]netip.Addr{r.IPv4[0].Addr}, borrowed, cmp.Comparer(func(x, y netip.Addr) bool { return x == y })); diff != "" {
					t.Errorf("Usage borrowed (-want +got):\n%s", diff)
				}
			} else if !errors.Is(err, ErrExhausted) {
				t.Fatalf("AutoAssign err = %v, want ErrExhausted", err)
			}
			// At most two addresses are left: a request for 3 fails whole.
			_, err = a.AutoAssign(context.Background(), req("c", "hc", 3, 0, p))
			if !errors.Is(err, ErrExhausted) {
				t.Errorf("AutoAssign on full pool err = %v, want ErrExhausted", err)
			}
			if got, _ := a.AddrsByHandle(context.Background(), "hc"); len(got) != 0 {
				t.Errorf("failed request left %v allocated", got)
			}
			consistent(t, a)
		})
	}
}

func TestMaxBlocksPerHost(t *testing.T) {
	p := pool("small", "192.0.2.0/29", 30)
	for _, tc := range []struct {
		name   string
		cfg    Config
		wantOK bool
	}{
		{"unlimited claims two blocks", Config{}, true},
		{"limit 1 and strict fails", Config{MaxBlocksPerHost: 1, StrictAffinity: true}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := New(NewMemStore(), eqMatch)
			args := req("a", "h", 5, 0, p)
			args.Config = tc.cfg
			_, err := a.AutoAssign(context.Background(), args)
			if tc.wantOK != (err == nil) {
				t.Fatalf("AutoAssign err = %v, want ok=%v", err, tc.wantOK)
			}
			nBlocks := len(snapshot(t, a).Blocks)
			if tc.cfg.MaxBlocksPerHost > 0 && nBlocks > tc.cfg.MaxBlocksPerHost {
				t.Errorf("node owns %d blocks, limit %d", nBlocks, tc.cfg.MaxBlocksPerHost)
			}
			consistent(t, a)
		})
	}
}

func TestMaxBlocksBorrowsWithoutStrict(t *testing.T) {
	p := pool("small", "192.0.2.0/29", 30)
	a := New(NewMemStore(), eqMatch)
	mustAssign(t, a, req("b", "hb", 1, 0, p))
	args := req("a", "ha", 5, 0, p)
	args.Config = Config{MaxBlocksPerHost: 1}
	r := mustAssign(t, a, args)
	if len(r.IPv4) != 5 {
		t.Fatalf("got %d addresses, want 5", len(r.IPv4))
	}
	aff := 0
	for _, af := range snapshot(t, a).Affinities {
		if af.Node == "a" {
			aff++
		}
	}
	if aff != 1 {
		t.Errorf("node a has %d affinities, want 1 (limit)", aff)
	}
}

func TestReservationsNeverAssigned(t *testing.T) {
	p := pool("p", "198.51.100.0/30", 30)
	a := New(NewMemStore(), eqMatch)
	args := req("a", "h", 2, 0, p)
	args.Reserved = []netip.Prefix{pfx("198.51.100.0/31")}
	r := mustAssign(t, a, args)
	want := []netip.Addr{addr("198.51.100.2"), addr("198.51.100.3")}
	if diff := cmp.Diff(want, r.Addrs(), cmp.Comparer(func(x, y netip.Addr) bool { return x == y })); diff != "" {
		t.Errorf("addresses (-want +got):\n%s", diff)
	}
	args.Handle = "h2"
	args.Num4 = 1
	if _, err := a.AutoAssign(context.Background(), args); !errors.Is(err, ErrExhausted) {
		t.Errorf("err = %v, want ErrExhausted (only reserved addresses left)", err)
	}
	// A fixed address may use a reserved one.
	if _, err := a.AssignIP(context.Background(), AssignIPArgs{Addr: addr("198.51.100.1"), Node: "a", Handle: "h3", Pools: []Pool{p}}); err != nil {
		t.Errorf("AssignIP of a reserved address: %v", err)
	}
}

func TestPoolSelection(t *testing.T) {
	zoneA := Pool{Name: "zone-a", CIDR: pfx("192.0.2.0/25"), BlockSize: 26, NodeSelector: "zone == 'a'"}
	zoneB := Pool{Name: "zone-b", CIDR: pfx("192.0.2.128/25"), BlockSize: 26, NodeSelector: "zone == 'b'"}
	nsPool := Pool{Name: "team", CIDR: pfx("198.51.100.0/24"), BlockSize: 26, NamespaceSelector: "team == 'x'"}
	off := Pool{Name: "off", CIDR: pfx("203.0.113.0/24"), BlockSize: 26, Disabled: true}
	tunnel := Pool{Name: "tun", CIDR: pfx("203.0.113.0/24"), BlockSize: 26, AllowedUses: []string{UseTunnel}}
	manual := Pool{Name: "manual", CIDR: pfx("203.0.113.0/24"), BlockSize: 26, Manual: true}
	all := []Pool{zoneA, zoneB, nsPool, off, tunnel, manual}
	tests := []struct {
		name      string
		nodeZone  string
		nsTeam    string
		requested []string
		want      netip.Prefix // pool the address must come from
		wantErr   error
	}{
		{name: "node selector a", nodeZone: "a", want: zoneA.CIDR},
		{name: "node selector b", nodeZone: "b", want: zoneB.CIDR},
		{name: "namespace selector", nodeZone: "c", nsTeam: "x", want: nsPool.CIDR},
		{name: "nothing matches", nodeZone: "c", wantErr: ErrExhausted},
		{name: "requested by name", nodeZone: "a", nsTeam: "x", requested: []string{"team"}, want: nsPool.CIDR},
		{name: "requested by CIDR", nodeZone: "b", requested: []string{"192.0.2.128/25"}, want: zoneB.CIDR},
		{name: "manual pool only on request", nodeZone: "c", requested: []string{"manual"}, want: manual.CIDR},
		{name: "requested disabled", nodeZone: "a", requested: []string{"off"}, wantErr: ErrNoPool},
		{name: "requested unknown", nodeZone: "a", requested: []string{"nope"}, wantErr: ErrNoPool},
		{name: "requested but node selector excludes", nodeZone: "b", requested: []string{"zone-a"}, wantErr: ErrExhausted},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := New(NewMemStore(), eqMatch)
			args := req("n1", "h", 1, 0, all...)
			args.NodeLabels = map[string]string{"zone": tc.nodeZone}
			args.NamespaceLabels = map[string]string{"team": tc.nsTeam}
			args.IPv4Pools = tc.requested
			r, err := a.AutoAssign(context.Background(), args)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tc.want.Contains(r.IPv4[0].Addr) {
				t.Errorf("address %s, want one from %s", r.IPv4[0].Addr, tc.want)
			}
		})
	}
}

func TestDualStackBothOrNeither(t *testing.T) {
	ctx := context.Background()
	v4 := pool("v4", "192.0.2.0/24", 26)
	v6 := pool("v6", "2001:db8::/126", 126) // 4 addresses
	a := New(NewMemStore(), eqMatch)
	r := mustAssign(t, a, req("n1", "h1", 1, 4, v4, v6))
	if len(r.IPv4) != 1 || len(r.IPv6) != 4 {
		t.Fatalf("got %v, want 1 IPv4 and 4 IPv6", r.Addrs())
	}
	_, err := a.AutoAssign(ctx, req("n1", "h2", 1, 1, v4, v6))
	if !errors.Is(err, ErrExhausted) {
		t.Fatalf("err = %v, want ErrExhausted for IPv6", err)
	}
	if got, _ := a.AddrsByHandle(ctx, "h2"); len(got) != 0 {
		t.Errorf("IPv4 not rolled back: %v", got)
	}
	used := 0
	for _, b := range snapshot(t, a).Blocks {
		used += b.InUse()
	}
	if used != 5 {
		t.Errorf("%d addresses in use, want 5", used)
	}
	consistent(t, a)
}

func TestReleaseByHandle(t *testing.T) {
	ctx := context.Background()
	a := New(NewMemStore(), eqMatch)
	p := pool("p", "192.0.2.0/24", 26)
	r := mustAssign(t, a, req("n1", "h1", 3, 0, p))
	mustAssign(t, a, req("n1", "h2", 1, 0, p))
	freed, err := a.ReleaseByHandle(ctx, "h1")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(r.Addrs(), freed, cmp.Comparer(func(x, y netip.Addr) bool { return x == y })); diff != "" {
		t.Errorf("freed (-want +got):\n%s", diff)
	}
	if again, err := a.ReleaseByHandle(ctx, "h1"); err != nil || len(again) != 0 {
		t.Errorf("second release = %v, %v; want nothing, no error", again, err)
	}
	if got, _ := a.AddrsByHandle(ctx, "h2"); len(got) != 1 {
		t.Errorf("h2 has %v, want its one address untouched", got)
	}
	consistent(t, a)
}

func TestReleaseSequenceAndHandleChecks(t *testing.T) {
	ctx := context.Background()
	p := pool("p", "192.0.2.0/30", 30)
	a := New(NewMemStore(), eqMatch)
	// Fill the block, free one address and let it be reused by another handle.
	r := mustAssign(t, a, req("n1", "old", 4, 0, p))
	victim := r.IPv4[0]
	oldSeq := victim.Sequence
	if out, err := a.Release(ctx, []ReleaseRequest{{Addr: victim.Addr, Handle: "old", Sequence: &oldSeq}}); err != nil || out[0].Status != StatusReleased {
		t.Fatalf("release = %v, %v", out, err)
	}
	r2 := mustAssign(t, a, req("n1", "new", 1, 0, p))
	if r2.IPv4[0].Addr != victim.Addr {
		t.Fatalf("reuse got %s, want %s (only free address)", r2.IPv4[0].Addr, victim.Addr)
	}
	tests := []struct {
		name string
		req  ReleaseRequest
		want ReleaseStatus
	}{
		{"stale sequence", ReleaseRequest{Addr: victim.Addr, Sequence: &oldSeq}, StatusWrongSequence},
		{"wrong handle", ReleaseRequest{Addr: victim.Addr, Handle: "old"}, StatusWrongHandle},
		{"not allocated", ReleaseRequest{Addr: addr("203.0.113.9")}, StatusNotAllocated},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := a.Release(ctx, []ReleaseRequest{tc.req})
			if err != nil {
				t.Fatal(err)
			}
			if out[0].Status != tc.want {
				t.Errorf("status %s, want %s", out[0].Status, tc.want)
			}
			if got, _ := a.AddrsByHandle(ctx, "new"); len(got) != 1 {
				t.Errorf("reused address was freed: new owns %v", got)
			}
		})
	}
	seq := r2.IPv4[0].Sequence
	if out, _ := a.Release(ctx, []ReleaseRequest{{Addr: victim.Addr, Handle: "new", Sequence: &seq}}); out[0].Status != StatusReleased {
		t.Errorf("release with the right handle and sequence: %s", out[0].Status)
	}
	consistent(t, a)
}

func TestAssignIP(t *testing.T) {
	ctx := context.Background()
	static := Pool{Name: "static", CIDR: pfx("203.0.113.0/24"), BlockSize: 26, Disabled: true}
	a := New(NewMemStore(), eqMatch)
	al, err := a.AssignIP(ctx, AssignIPArgs{Addr: addr("203.0.113.77"), Node: "n1", Handle: "h1", Pools: []Pool{static}})
	if err != nil {
		t.Fatal(err)
	}
	if al.Addr != addr("203.0.113.77") || al.Block != pfx("203.0.113.64/26") {
		t.Errorf("got %v", al)
	}
	if _, err := a.AssignIP(ctx, AssignIPArgs{Addr: addr("203.0.113.77"), Node: "n2", Handle: "h2", Pools: []Pool{static}}); !errors.Is(err, ErrInUse) {
		t.Errorf("second assign err = %v, want ErrInUse", err)
	}
	if _, err := a.AssignIP(ctx, AssignIPArgs{Addr: addr("192.0.2.1"), Node: "n1", Handle: "h3", Pools: []Pool{static}}); !errors.Is(err, ErrNoPool) {
		t.Errorf("out-of-pool err = %v, want ErrNoPool", err)
	}
	if _, err := a.AutoAssign(ctx, req("n1", "h4", 1, 0, static)); !errors.Is(err, ErrExhausted) {
		t.Errorf("auto-assign from a disabled pool err = %v, want ErrExhausted", err)
	}
	consistent(t, a)
}

func TestReleaseAffinity(t *testing.T) {
	ctx := context.Background()
	p := pool("p", "192.0.2.0/24", 26)
	a := New(NewMemStore(), eqMatch)
	r := mustAssign(t, a, req("gone", "h1", 1, 0, p))
	if err := a.ReleaseAffinity(ctx, "gone", r.IPv4[0].Block); err != nil {
		t.Fatal(err)
	}
	s := snapshot(t, a)
	if len(s.Affinities) != 0 || len(s.Blocks) != 1 || s.Blocks[0].Affinity != "" {
		t.Fatalf("after release: affinities %v, blocks %v; want the non-empty block kept without affinity", s.Affinities, s.Blocks)
	}
	if _, err := a.ReleaseByHandle(ctx, "h1"); err != nil {
		t.Fatal(err)
	}
	if err := a.ReleaseAffinity(ctx, "gone", r.IPv4[0].Block); err != nil {
		t.Fatal(err)
	}
	// The unaffine block is claimed by nobody but can be borrowed from.
	r2 := mustAssign(t, a, req("other", "h2", 1, 0, p))
	if !p.CIDR.Contains(r2.IPv4[0].Addr) {
		t.Errorf("got %s", r2.IPv4[0].Addr)
	}
	consistent(t, a)
}

func TestCheck(t *testing.T) {
	ctx := context.Background()
	p := pool("p", "192.0.2.0/24", 26)
	m := NewMemStore()
	a := New(m, eqMatch)
	live := mustAssign(t, a, req("n1", "live", 1, 0, p))
	dead := mustAssign(t, a, req("n2", "dead", 1, 0, p))
	// A handle record with no allocation (crash after the handle write).
	if _, err := m.Handles().Create(ctx, &Handle{Meta: Meta{Name: "dangling"}, Blocks: map[string]int{BlockName(live.IPv4[0].Block): 1}}); err != nil {
		t.Fatal(err)
	}
	s := snapshot(t, a)
	r := Check(s, func(al Allocation) bool { return al.Handle == "live" }, func(n string) bool { return n == "n1" })
	if len(r.Leaked) != 1 || r.Leaked[0].Addr != dead.IPv4[0].Addr {
		t.Errorf("leaked %v, want %s", r.Leaked, dead.IPv4[0].Addr)
	}
	if len(r.OrphanBlocks) != 1 || r.OrphanBlocks[0].Node != "n2" {
		t.Errorf("orphan blocks %v, want n2's", r.OrphanBlocks)
	}
	if diff := cmp.Diff([]string{"dangling"}, r.DanglingHandles); diff != "" {
		t.Errorf("dangling (-want +got):\n%s", diff)
	}
	if len(r.MissingHandles) != 0 {
		t.Errorf("missing %v", r.MissingHandles)
	}
}

func TestLeakTracker(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	a1 := Allocation{Addr: addr("192.0.2.1"), Handle: "h1", Sequence: 1}
	a2 := Allocation{Addr: addr("192.0.2.2"), Handle: "h2", Sequence: 2}
	tr := &LeakTracker{Grace: time.Minute}
	steps := []struct {
		at     time.Duration
		leaked []Allocation
		want   []netip.Addr
	}{
		{0, []Allocation{a1}, nil},
		{30 * time.Second, []Allocation{a1, a2}, nil},
		{time.Minute, []Allocation{a1, a2}, []netip.Addr{a1.Addr}},
		{90 * time.Second, []Allocation{a2}, []netip.Addr{a2.Addr}},
		{2 * time.Minute, []Allocation{a1}, nil}, // a1 came back: its clock restarted
	}
	for i, s := range steps {
		var got []netip.Addr
		for _, al := range tr.Observe(Report{Leaked: s.leaked}, t0.Add(s.at)) {
			got = append(got, al.Addr)
		}
		if diff := cmp.Diff(s.want, got, cmp.Comparer(func(x, y netip.Addr) bool { return x == y })); diff != "" {
			t.Errorf("step %d (-want +got):\n%s", i, diff)
		}
	}
}

// racyStore loses the first n commits to a (pretended) concurrent writer and records
// the backoffs the allocator asks for.
type racyStore struct {
	*MemStore
	n        int
	backoffs []int
}

func (s *racyStore) Commit(ctx context.Context, ws []Write) error {
	if s.n > 0 {
		s.n--
		return fmt.Errorf("commit: %w", ErrConflict)
	}
	return s.MemStore.Commit(ctx, ws)
}

func (s *racyStore) Backoff(_ context.Context, attempt int) error {
	s.backoffs = append(s.backoffs, attempt)
	return nil
}

// TestBackoffBetweenRetries: after each lost race an assignment waits as the store asks
// (attempts 0, 1, 2 ...) before it plans again, and never before its first try.
func TestBackoffBetweenRetries(t *testing.T) {
	s := &racyStore{MemStore: NewMemStore(), n: 3}
	a := New(s, eqMatch)
	mustAssign(t, a, req("node-a", "h1", 1, 0, pool("p1", "192.0.2.0/24", 26)))
	if want := []int{0, 1, 2}; !slices.Equal(s.backoffs, want) {
		t.Errorf("backoffs %v, want %v", s.backoffs, want)
	}
}
