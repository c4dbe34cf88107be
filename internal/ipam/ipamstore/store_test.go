package ipamstore_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/trellisnet/trellis/internal/ipam"
	"github.com/trellisnet/trellis/internal/ipam/ipamstore"
	"github.com/trellisnet/trellis/internal/model"
	"github.com/trellisnet/trellis/internal/store"
	"github.com/trellisnet/trellis/internal/store/embed"
	"github.com/trellisnet/trellis/internal/store/etcd"
	"github.com/trellisnet/trellis/internal/store/memory"
)

var addrCmp = cmp.Comparer(func(x, y netip.Addr) bool { return x == y })

func TestRecordsRoundTrip(t *testing.T) {
	ctx := context.Background()
	s := ipamstore.New(memory.New(0))
	a := ipam.New(s, ipamstore.Match)
	pool := ipam.Pool{Name: "p", CIDR: netip.MustParsePrefix("192.0.2.0/24"), BlockSize: 28}
	args := ipam.AssignArgs{Node: "n1", Handle: "k8s-pod-network.abc", Attrs: map[string]string{"pod": "p1"},
		Num4: 3, Pools: []ipam.Pool{pool}}
	r, err := a.AutoAssign(ctx, args)
	if err != nil {
		t.Fatal(err)
	}
	seq := r.IPv4[1].Sequence
	out, err := a.Release(ctx, []ipam.ReleaseRequest{{Addr: r.IPv4[1].Addr, Sequence: &seq}})
	if err != nil || out[0].Status != ipam.StatusReleased {
		t.Fatalf("release: %v %v", out, err)
	}
	got, err := a.AddrsByHandle(ctx, "k8s-pod-network.abc")
	if err != nil {
		t.Fatal(err)
	}
	want := []ipam.Allocation{r.IPv4[0], r.IPv4[2]}
	if diff := cmp.Diff(want, got, addrCmp, cmp.Comparer(func(x, y netip.Prefix) bool { return x == y })); diff != "" {
		t.Errorf("allocations after a store round trip (-want +got):\n%s", diff)
	}
	blocks, err := s.Blocks().List(ctx)
	if err != nil || len(blocks) != 1 {
		t.Fatalf("blocks %v %v", blocks, err)
	}
	if blocks[0].Affinity != "n1" || blocks[0].Free() != 14 || blocks[0].Sequence != 3 {
		t.Errorf("block %+v: want affine to n1, 14 free, next sequence 3", blocks[0])
	}
}

func TestErrorsMatchSentinels(t *testing.T) {
	ctx := context.Background()
	s := ipamstore.New(memory.New(0))
	if _, err := s.Handles().Get(ctx, "nope"); !errors.Is(err, ipam.ErrNotFound) || !errors.Is(err, store.ErrNotFound) {
		t.Errorf("get missing: %v", err)
	}
	h, err := s.Handles().Create(ctx, &ipam.Handle{Meta: ipam.Meta{Name: "h"}, Blocks: map[string]int{"b": 1}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Handles().Create(ctx, &ipam.Handle{Meta: ipam.Meta{Name: "h"}}); !errors.Is(err, ipam.ErrAlreadyExists) {
		t.Errorf("create twice: %v", err)
	}
	if _, err := s.Handles().Update(ctx, h); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Handles().Update(ctx, h); !errors.Is(err, ipam.ErrConflict) {
		t.Errorf("stale update: %v", err)
	}
	if err := s.Handles().Delete(ctx, "h", h.Revision); !errors.Is(err, ipam.ErrConflict) {
		t.Errorf("stale delete: %v", err)
	}
}

func TestLoadInputs(t *testing.T) {
	ctx := context.Background()
	ms := memory.New(0)
	manual := model.AssignmentManual
	objs := []model.Object{
		&model.IPPool{TypeMeta: metav1.TypeMeta{APIVersion: model.APIVersionCalico, Kind: "IPPool"},
			ObjectMeta: metav1.ObjectMeta{Name: "zone-a"},
			Spec: model.IPPoolSpec{CIDR: "192.0.2.0/24", BlockSize: 28, NodeSelector: "zone == 'a'",
				AllowedUses: []model.IPPoolAllowedUse{model.AllowedUseWorkload}}},
		&model.IPPool{TypeMeta: metav1.TypeMeta{APIVersion: model.APIVersionCalico, Kind: "IPPool"},
			ObjectMeta: metav1.ObjectMeta{Name: "static"},
			Spec:       model.IPPoolSpec{CIDR: "2001:db8::/64", AssignmentMode: &manual}},
		&model.IPReservation{TypeMeta: metav1.TypeMeta{APIVersion: model.APIVersionCalico, Kind: "IPReservation"},
			ObjectMeta: metav1.ObjectMeta{Name: "r"},
			Spec:       model.IPReservationSpec{ReservedCIDRs: []string{"192.0.2.1", "192.0.2.16/28"}}},
		&model.IPAMConfiguration{TypeMeta: metav1.TypeMeta{APIVersion: model.APIVersionCalico, Kind: "IPAMConfiguration"},
			ObjectMeta: metav1.ObjectMeta{Name: "default"},
			Spec:       model.IPAMConfigurationSpec{StrictAffinity: true, MaxBlocksPerHost: 4}},
	}
	for _, o := range objs {
		if _, err := ms.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	in, err := ipamstore.Load(ctx, ms)
	if err != nil {
		t.Fatal(err)
	}
	want := ipamstore.Inputs{
		Pools: []ipam.Pool{
			{Name: "static", CIDR: netip.MustParsePrefix("2001:db8::/64"), Manual: true},
			{Name: "zone-a", CIDR: netip.MustParsePrefix("192.0.2.0/24"), BlockSize: 28, NodeSelector: "zone == 'a'", AllowedUses: []string{"Workload"}},
		},
		Reserved: []netip.Prefix{netip.MustParsePrefix("192.0.2.1/32"), netip.MustParsePrefix("192.0.2.16/28")},
		Config:   ipam.Config{StrictAffinity: true, MaxBlocksPerHost: 4},
	}
	if diff := cmp.Diff(want, in, cmp.Comparer(func(x, y netip.Prefix) bool { return x == y })); diff != "" {
		t.Errorf("Load (-want +got):\n%s", diff)
	}
	for _, tc := range []struct {
		zone string
		want bool
	}{{"a", true}, {"b", false}} {
		got, err := ipamstore.Match(in.Pools[1].NodeSelector, map[string]string{"zone": tc.zone})
		if err != nil || got != tc.want {
			t.Errorf("Match(zone=%s) = %v, %v; want %v", tc.zone, got, err, tc.want)
		}
	}
}

// applyCounter counts the transactions a store is asked for and those that lost a race.
type applyCounter struct {
	store.Store
	applies, conflicts atomic.Int64
}

func (c *applyCounter) Apply(ctx context.Context, ops []store.Op) ([]model.Object, error) {
	c.applies.Add(1)
	out, err := c.Store.Apply(ctx, ops)
	if errors.Is(err, store.ErrConflict) {
		c.conflicts.Add(1)
	}
	return out, err
}

// concurrentAssign runs n dual-stack assignments from 4 nodes, workers at a time, each
// written in one transaction; every third handle is released again while the others run.
// No address may be handed out twice. With exact (a store whose transactions are atomic),
// the handle records must match the blocks and nothing may be left over; without, what is
// left over (addresses the leak collector releases) is only logged.
func concurrentAssign(t *testing.T, s store.Store, n, workers int, exact bool) {
	ctx := context.Background()
	cs := &applyCounter{Store: s}
	a := ipam.New(ipamstore.New(cs), ipamstore.Match)
	pools := []ipam.Pool{{Name: "p", CIDR: netip.MustParsePrefix("10.0.0.0/16")},
		{Name: "p6", CIDR: netip.MustParsePrefix("2001:db8::/112")}}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	sem := make(chan struct{}, workers)
	for i := range n {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			node, h := fmt.Sprintf("node-%d", i%4), fmt.Sprintf("h-%d", i)
			_, err := a.AutoAssign(ctx, ipam.AssignArgs{Node: node, Handle: h,
				Attrs: map[string]string{ipam.AttrNode: node}, Num4: 1, Num6: 1, Pools: pools})
			if err == nil && i%3 == 0 {
				_, err = a.ReleaseByHandle(ctx, h)
			}
			if err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	t.Logf("%d transactions, %d lost a race and were retried", cs.applies.Load(), cs.conflicts.Load())
	live := n - (n+2)/3
	snap, err := a.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[netip.Addr]bool{}
	for _, b := range snap.Blocks {
		for _, al := range b.Allocated() {
			if seen[al.Addr] {
				t.Errorf("address %s allocated twice", al.Addr)
			}
			seen[al.Addr] = true
			if al.Attrs[ipam.AttrNode] != b.Affinity {
				t.Errorf("address %s for %s from block %s affine to %s", al.Addr, al.Attrs[ipam.AttrNode], b.CIDR, b.Affinity)
			}
		}
	}
	leftover := func(format string, args ...any) {
		if exact {
			t.Errorf(format, args...)
		} else {
			t.Logf("left for the leak collector: "+format, args...)
		}
	}
	if len(seen) != 2*live {
		leftover("%d addresses allocated, want %d", len(seen), 2*live)
	}
	if len(snap.Handles) != live {
		leftover("%d handles, want %d", len(snap.Handles), live)
	}
	rep := ipam.Check(snap, func(ipam.Allocation) bool { return true }, func(string) bool { return true })
	if len(rep.DanglingHandles)+len(rep.MissingHandles) != 0 {
		leftover("inconsistent handles: %+v", rep)
	}
}

// TestOneTransactionPerAssign pins the writes of a dual-stack assignment from the node's
// blocks and of its release: one transaction each, no single writes.
func TestOneTransactionPerAssign(t *testing.T) {
	ctx := context.Background()
	cs := &writeCounter{Store: memory.New(0)}
	a := ipam.New(ipamstore.New(cs), ipamstore.Match)
	pools := []ipam.Pool{{Name: "p", CIDR: netip.MustParsePrefix("192.0.2.0/24")},
		{Name: "p6", CIDR: netip.MustParsePrefix("2001:db8::/112")}}
	args := func(h string) ipam.AssignArgs {
		return ipam.AssignArgs{Node: "n1", Handle: h, Num4: 1, Num6: 1, Pools: pools}
	}
	if _, err := a.AutoAssign(ctx, args("first")); err != nil { // claims the blocks
		t.Fatal(err)
	}
	cs.writes = nil
	if _, err := a.AutoAssign(ctx, args("second")); err != nil {
		t.Fatal(err)
	}
	if _, err := a.ReleaseByHandle(ctx, "second"); err != nil {
		t.Fatal(err)
	}
	want := []string{"apply create IPAMHandle, update IPAMBlock, update IPAMBlock", "apply update IPAMBlock, update IPAMBlock, delete IPAMHandle"}
	if d := cmp.Diff(want, cs.writes); d != "" {
		t.Errorf("writes (-want +got):\n%s", d)
	}
}

// writeCounter records the writes made through it.
type writeCounter struct {
	store.Store
	writes []string
}

func (c *writeCounter) Create(ctx context.Context, obj model.Object) (model.Object, error) {
	c.writes = append(c.writes, "create "+obj.GetObjectKind().GroupVersionKind().Kind)
	return c.Store.Create(ctx, obj)
}

func (c *writeCounter) Update(ctx context.Context, obj model.Object) (model.Object, error) {
	c.writes = append(c.writes, "update "+obj.GetObjectKind().GroupVersionKind().Kind)
	return c.Store.Update(ctx, obj)
}

func (c *writeCounter) Delete(ctx context.Context, kind *model.Kind, ns, name string, opts store.DeleteOptions) (model.Object, error) {
	c.writes = append(c.writes, "delete "+kind.Kind)
	return c.Store.Delete(ctx, kind, ns, name, opts)
}

func (c *writeCounter) Apply(ctx context.Context, ops []store.Op) ([]model.Object, error) {
	var parts []string
	for _, op := range ops {
		kind := ""
		if op.Object != nil {
			kind = op.Object.GetObjectKind().GroupVersionKind().Kind
		} else {
			kind = op.Key.Kind.Kind
		}
		parts = append(parts, op.Type.String()+" "+kind)
	}
	c.writes = append(c.writes, "apply "+strings.Join(parts, ", "))
	return c.Store.Apply(ctx, ops)
}

func TestConcurrentAssignMemoryBackend(t *testing.T) {
	concurrentAssign(t, memory.New(0), 500, 64, true)
}

func startEtcd(t testing.TB) store.Store {
	t.Helper()
	dir := t.TempDir()
	sock := "unix://" + filepath.Join(dir, "client.sock")
	srv := embed.New(embed.Config{Name: "trl-ipam", DataDir: filepath.Join(dir, "data"),
		ListenClientURLs: []string{sock}, ListenPeerURLs: []string{"unix://" + filepath.Join(dir, "peer.sock")},
		UnsafeNoFsync: os.Getenv("TRELLIS_TEST_FSYNC") == ""}) // set it to measure with a production-like datastore
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := srv.Start(ctx); err != nil {
		t.Fatalf("start embedded etcd: %v", err)
	}
	t.Cleanup(srv.Stop)
	s, err := etcd.New(store.Config{Endpoints: []string{sock}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConcurrentAssignEtcd(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an embedded etcd")
	}
	concurrentAssign(t, startEtcd(t), 500, 32, true)
}

// BenchmarkAssignEtcd4Nodes allocates from 4 nodes concurrently against an embedded etcd.
// Run with -cpu 4 for one goroutine per node.
func BenchmarkAssignEtcd4Nodes(b *testing.B) { benchAssign4Nodes(b, startEtcd(b)) }

// benchAssign4Nodes allocates one address per call from 4 nodes concurrently and reports
// allocations per second.
func benchAssign4Nodes(b *testing.B, s store.Store) {
	ctx := context.Background()
	a := ipam.New(ipamstore.New(s), ipamstore.Match)
	pool := ipam.Pool{Name: "p", CIDR: netip.MustParsePrefix("10.0.0.0/8")}
	var next, nodes atomic.Int64
	// Four goroutines, one per node, whatever GOMAXPROCS is (RunParallel starts
	// parallelism x GOMAXPROCS of them).
	procs := runtime.GOMAXPROCS(0)
	b.SetParallelism((4 + procs - 1) / procs)
	b.RunParallel(func(pb *testing.PB) {
		node := fmt.Sprintf("node-%d", nodes.Add(1)%4)
		for pb.Next() {
			i := next.Add(1)
			if _, err := a.AutoAssign(ctx, ipam.AssignArgs{Node: node, Handle: fmt.Sprintf("h-%d", i), Num4: 1,
				Pools: []ipam.Pool{pool}, Attrs: map[string]string{ipam.AttrNode: node}}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "allocs/s")
}
