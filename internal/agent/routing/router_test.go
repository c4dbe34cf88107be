package routing

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/trellisnet/trellis/internal/dataplane/link"
	"github.com/trellisnet/trellis/internal/model"
	"github.com/trellisnet/trellis/internal/route"
	"github.com/trellisnet/trellis/internal/store"
	"github.com/trellisnet/trellis/internal/store/memory"
	"github.com/trellisnet/trellis/internal/store/storetest"
)

// fakeRoutes records what the router asked the kernel side for.
type fakeRoutes struct {
	routes    []route.Route
	vtep      *route.VTEP
	fdb       []route.FDBEntry
	neighbors []route.Neighbor
	calls     int
	mu        sync.Mutex // guards routes and calls for TestRunSyncsOnChanges
}

func (f *fakeRoutes) SyncRoutes(desired []route.Route) (link.Changes, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.routes = desired
	f.calls++
	return link.Changes{}, nil
}

// has reports whether a route to dst was synced last.
func (f *fakeRoutes) has(dst netip.Prefix) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.ContainsFunc(f.routes, func(r route.Route) bool { return r.Dst == dst })
}

func (f *fakeRoutes) EnsureVXLAN(v route.VTEP, _ int) error {
	f.vtep = &v
	return nil
}

func (f *fakeRoutes) DeleteVXLAN(string) error {
	f.vtep = nil
	return nil
}

func (f *fakeRoutes) Routes() ([]route.Route, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.routes, nil
}

func (f *fakeRoutes) SyncFDB(_ string, want []route.FDBEntry) (link.Changes, error) {
	f.fdb = want
	return link.Changes{}, nil
}

func (f *fakeRoutes) SyncNeighbors(_ string, want []route.Neighbor) (link.Changes, error) {
	f.neighbors = want
	return link.Changes{}, nil
}

const routingNodesYAML = `
apiVersion: projectcalico.org/v3
kind: Node
metadata: {name: node1}
spec:
  addresses: [{address: 192.0.2.1, type: InternalIP}]
---
apiVersion: projectcalico.org/v3
kind: Node
metadata: {name: node2}
spec:
  addresses: [{address: 192.0.2.2, type: InternalIP}]
  ipv4VXLANTunnelAddr: 10.244.1.1
  vxlanTunnelMACAddr: "66:00:00:00:00:02"
`

const vxlanPoolYAML = `
apiVersion: projectcalico.org/v3
kind: IPPool
metadata: {name: pool}
spec: {cidr: 10.244.0.0/16, blockSize: 26, vxlanMode: Always, nodeSelector: all()}
`

func putBlock(t *testing.T, st store.Store, cidr, node string) {
	t.Helper()
	b := &model.IPAMBlock{TypeMeta: metav1.TypeMeta{APIVersion: model.APIVersionIPAM, Kind: "IPAMBlock"},
		ObjectMeta: metav1.ObjectMeta{Name: "b-" + node},
		Spec:       model.IPAMBlockSpec{CIDR: cidr, Affinity: node, Allocations: make([]*int, 64)}}
	for i := range 64 {
		b.Spec.Unallocated = append(b.Spec.Unallocated, i)
	}
	if err := storetest.Put(context.Background(), st, b); err != nil {
		t.Fatal(err)
	}
}

func getNode(t *testing.T, st store.Store, name string) *model.Node {
	t.Helper()
	obj, err := st.Get(context.Background(), kind(t, "nodes.projectcalico.org"), "", name)
	if err != nil {
		t.Fatal(err)
	}
	return obj.(*model.Node)
}

var addrs = cmpopts.EquateComparable(netip.Addr{}, netip.Prefix{})

func TestRouterVXLANAllocatesTunnelAndProgramsOverlay(t *testing.T) {
	st := memory.New(1000)
	put(t, st, routingNodesYAML+"---\n"+vxlanPoolYAML)
	putBlock(t, st, "10.244.1.0/26", "node2")
	fake := &fakeRoutes{}
	r := New(Config{NodeName: "node1"}, st, testLogger(t))
	r.open = func() (routeDataplane, error) { return fake, nil }
	if err := fullSync(r); err != nil {
		t.Fatalf("sync: %v", err)
	}
	n1 := getNode(t, st, "node1")
	tunnel, err := netip.ParseAddr(n1.Spec.IPv4VXLANTunnelAddr)
	if err != nil || !netip.MustParsePrefix("10.244.0.0/16").Contains(tunnel) {
		t.Fatalf("node1 tunnel address %q: want an address of the pool (%v)", n1.Spec.IPv4VXLANTunnelAddr, err)
	}
	if n1.Spec.VXLANTunnelMACAddr != TunnelMAC("node1") {
		t.Errorf("node1 tunnel MAC %q, want %q", n1.Spec.VXLANTunnelMACAddr, TunnelMAC("node1"))
	}
	wantVTEP := &route.VTEP{Device: route.VXLANDevice, VNI: route.VXLANVNI, Port: route.VXLANPort,
		MAC: TunnelMAC("node1"), Addr: tunnel, Underlay: netip.MustParseAddr("192.0.2.1")}
	if diff := cmp.Diff(wantVTEP, fake.vtep, addrs); diff != "" {
		t.Errorf("VTEP (-want +got):\n%s", diff)
	}
	remote := netip.MustParseAddr("10.244.1.1")
	if diff := cmp.Diff([]route.FDBEntry{{Dev: route.VXLANDevice, MAC: "66:00:00:00:00:02", Dst: netip.MustParseAddr("192.0.2.2")}}, fake.fdb, addrs); diff != "" {
		t.Errorf("FDB (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]route.Neighbor{{Dev: route.VXLANDevice, Addr: remote, MAC: "66:00:00:00:00:02"}}, fake.neighbors, addrs); diff != "" {
		t.Errorf("neighbours (-want +got):\n%s", diff)
	}
	var own netip.Prefix
	var sawRemote bool
	for _, rt := range fake.routes {
		switch {
		case rt.Blackhole && rt.Dst.Contains(tunnel):
			own = rt.Dst
		case rt.Dst == netip.MustParsePrefix("10.244.1.0/26"):
			sawRemote = len(rt.NextHops) == 1 && rt.NextHops[0].Via == remote && rt.NextHops[0].Dev == route.VXLANDevice
		}
	}
	if !own.IsValid() || !sawRemote {
		t.Errorf("routes %v: want a blackhole for the own block and 10.244.1.0/26 via %s dev %s", fake.routes, remote, route.VXLANDevice)
	}

	// A second sync keeps the tunnel: no new allocation, no Node write.
	rv := n1.ResourceVersion
	if err := fullSync(r); err != nil {
		t.Fatalf("second sync: %v", err)
	}
	if got := getNode(t, st, "node1"); got.ResourceVersion != rv || got.Spec.IPv4VXLANTunnelAddr != tunnel.String() {
		t.Errorf("second sync rewrote node1: %s %s, was %s %s", got.ResourceVersion, got.Spec.IPv4VXLANTunnelAddr, rv, tunnel)
	}

	// The pool stops using VXLAN and the node has no BGP address: routing is torn down.
	put(t, st, strings.Replace(vxlanPoolYAML, "vxlanMode: Always", "vxlanMode: Never", 1))
	if err := fullSync(r); err != nil {
		t.Fatalf("sync after vxlan off: %v", err)
	}
	if fake.vtep != nil || len(fake.routes) != 0 {
		t.Errorf("after vxlan off: device %v, routes %v; want neither", fake.vtep, fake.routes)
	}
}

func TestRouterIdleWithoutRoutingInputs(t *testing.T) {
	for _, tc := range []struct {
		name     string
		manifest string
	}{
		{"no nodes", vxlanPoolYAML},
		{"node without bgp address and no vxlan pool", routingNodesYAML + `---
apiVersion: projectcalico.org/v3
kind: IPPool
metadata: {name: pool}
spec: {cidr: 10.244.0.0/16, blockSize: 26, vxlanMode: Never, nodeSelector: all()}
`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := memory.New(100)
			put(t, st, tc.manifest)
			r := New(Config{NodeName: "node1"}, st, testLogger(t))
			r.open = func() (routeDataplane, error) { return nil, errors.New("kernel opened while routing is idle") }
			if err := fullSync(r); err != nil {
				t.Fatalf("sync: %v", err)
			}
		})
	}
}

func TestTunnelMAC(t *testing.T) {
	seen := map[string]string{}
	for _, node := range []string{"node1", "node2", "node3", "a-much-longer-node-name.example"} {
		mac := TunnelMAC(node)
		hw, err := net.ParseMAC(mac)
		if err != nil || len(hw) != 6 {
			t.Fatalf("TunnelMAC(%q) = %q: not a MAC (%v)", node, mac, err)
		}
		if hw[0]&0x02 == 0 || hw[0]&0x01 != 0 {
			t.Errorf("TunnelMAC(%q) = %q: want locally administered unicast", node, mac)
		}
		if TunnelMAC(node) != mac {
			t.Errorf("TunnelMAC(%q) is not deterministic", node)
		}
		if other, dup := seen[mac]; dup {
			t.Errorf("TunnelMAC(%q) = TunnelMAC(%q) = %q", node, other, mac)
		}
		seen[mac] = node
	}
}

// fullSync syncs as after a resync tick: every routing kind is listed again.
func fullSync(r *Router) error {
	r.markAll()
	return r.syncOnce(context.Background())
}

// countingStore counts List calls per kind.
type countingStore struct {
	store.Store
	mu    sync.Mutex
	lists map[string]int
}

func (c *countingStore) List(ctx context.Context, k *model.Kind, o store.ListOptions) (*store.ListResult, error) {
	c.mu.Lock()
	c.lists[k.Kind]++
	c.mu.Unlock()
	return c.Store.List(ctx, k, o)
}

func TestRouterListsOnlyChangedKinds(t *testing.T) {
	st := &countingStore{Store: memory.New(100), lists: map[string]int{}}
	put(t, st.Store, routingNodesYAML+"---\n"+vxlanPoolYAML)
	fake := &fakeRoutes{}
	r := New(Config{NodeName: "node1"}, st, testLogger(t))
	r.open = func() (routeDataplane, error) { return fake, nil }
	if err := r.syncOnce(context.Background()); err != nil {
		t.Fatalf("first sync: %v", err)
	}
	for k := range r.kinds {
		if st.lists[k.Kind] == 0 {
			t.Errorf("first sync did not list %s", k.Kind)
		}
	}
	svc := model.KindService
	pod := model.KindPod
	if r.wants(pod) {
		t.Error("router wants Pod changes")
	}
	if !r.wants(svc) {
		t.Fatal("router does not want Service changes")
	}
	before := map[string]int{}
	for k, v := range st.lists {
		before[k] = v
	}
	if err := r.syncOnce(context.Background()); err != nil {
		t.Fatalf("sync after a Service change: %v", err)
	}
	for k, v := range st.lists {
		want := before[k]
		if k == "Service" {
			want++
		}
		if v != want {
			t.Errorf("after a Service change %s listed %d times, want %d", k, v-before[k], want-before[k])
		}
	}
}

func TestRunSyncsOnChanges(t *testing.T) {
	st := memory.New(100)
	put(t, st, routingNodesYAML+"---\n"+vxlanPoolYAML)
	putBlock(t, st, "10.244.1.0/26", "node2")
	fake := &fakeRoutes{}
	r := New(Config{NodeName: "node1", ResyncPeriod: time.Hour, RetryPeriod: time.Second}, st, testLogger(t))
	r.open = func() (routeDataplane, error) { return fake, nil }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.Run(ctx)
	}()
	defer func() {
		cancel()
		<-done
	}()
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("after 10s: %s", what)
			}
		}
	}
	waitFor("no route to node2's block after the start sync", func() bool { return fake.has(netip.MustParsePrefix("10.244.1.0/26")) })

	b := &model.IPAMBlock{TypeMeta: metav1.TypeMeta{APIVersion: model.APIVersionIPAM, Kind: "IPAMBlock"},
		ObjectMeta: metav1.ObjectMeta{Name: "b-node2-2"},
		Spec:       model.IPAMBlockSpec{CIDR: "10.244.1.64/26", Affinity: "node2", Allocations: make([]*int, 64)}}
	if err := storetest.Put(ctx, st, b); err != nil {
		t.Fatal(err)
	}
	blocks := model.KindIPAMBlock
	r.Changed(blocks)
	waitFor("no route to node2's new block after Changed", func() bool { return fake.has(netip.MustParsePrefix("10.244.1.64/26")) })
}
