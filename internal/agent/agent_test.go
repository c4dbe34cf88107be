package agent

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/knftables"

	"github.com/trellisnet/trellis/internal/agent/agentapi"
	"github.com/trellisnet/trellis/internal/model"
	"github.com/trellisnet/trellis/internal/store"
	"github.com/trellisnet/trellis/internal/store/memory"
)

// gatedStore blocks List of one kind until release is closed.
type gatedStore struct {
	store.Store
	kind    *model.Kind
	release chan struct{}
	once    sync.Once
	reached chan struct{}
}

func (g *gatedStore) List(ctx context.Context, k *model.Kind, opts store.ListOptions) (*store.ListResult, error) {
	if k == g.kind {
		g.once.Do(func() { close(g.reached) })
		select {
		case <-g.release:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return g.Store.List(ctx, k, opts)
}

func fakeTable(fake *knftables.Fake) string {
	fake.RLock()
	defer fake.RUnlock()
	if fake.Table == nil {
		return ""
	}
	return fake.Dump()
}

func TestNothingProgrammedBeforeInSync(t *testing.T) {
	mem := memory.New(1000)
	put(t, mem, nsYAML("web")+wepYAML("web", "a", "n1", "trla", map[string]string{"app": "a"}, "192.0.2.1/32"))
	kinds := calculationKinds()
	g := &gatedStore{Store: mem, kind: kinds[len(kinds)-1], release: make(chan struct{}), reached: make(chan struct{})}
	fake := knftables.NewFake(knftables.InetFamily, "trellis")
	a := New(testConfig(t, "n1"), g, Dataplane{NFT: fake}, testLogger(t))
	startAgent(t, a)

	select {
	case <-g.reached:
	case <-time.After(5 * time.Second):
		t.Fatal("agent never listed the last kind")
	}
	// Changes arriving meanwhile must not be programmed either.
	put(t, mem, wepYAML("web", "b", "n1", "trlb", nil, "192.0.2.2/32"))
	time.Sleep(300 * time.Millisecond)
	if got := fakeTable(fake); got != "" {
		t.Fatalf("table programmed before the initial list completed:\n%s", got)
	}
	if s := a.Status(); s.InSync || s.Ready {
		t.Fatalf("status before in-sync = %+v, want not in sync and not ready", s)
	}
	client := agentapi.NewClient(a.cfg.StatusSocket)
	wantCode := func(path string, want int) {
		t.Helper()
		_, code, err := client.Get(context.Background(), path)
		if err != nil || code != want {
			t.Errorf("GET %s = %d, %v; want %d", path, code, err, want)
		}
	}
	wantCode("/readyz", 503)
	wantCode("/healthz", 200)
	close(g.release)
	eventually(t, 5*time.Second, func() string {
		got := fakeTable(fake)
		for _, iface := range []string{`"trla"`, `"trlb"`} {
			if !strings.Contains(got, iface) {
				return fmt.Sprintf("interface %s not in the table:\n%s", iface, got)
			}
		}
		return ""
	})
	if s := a.Status(); !s.InSync || !s.Ready || s.Endpoints != 2 {
		t.Fatalf("status after in-sync = %+v, want ready with 2 endpoints", s)
	}
	wantCode("/readyz", 200)
}

// flakyNFT fails every transaction while fail is set, and records whether each
// successful one was a full sync (it lists the table first).
type flakyNFT struct {
	*knftables.Fake
	fail   atomic.Bool
	listed atomic.Bool
	mu     sync.Mutex
	runs   []bool // full?
}

func (f *flakyNFT) ListAll(ctx context.Context) (map[string][]string, error) {
	f.listed.Store(true)
	return f.Fake.ListAll(ctx)
}

func (f *flakyNFT) Run(ctx context.Context, tx *knftables.Transaction) error {
	if f.fail.Load() {
		return errors.New("injected nft failure")
	}
	if err := f.Fake.Run(ctx, tx); err != nil {
		return err
	}
	f.mu.Lock()
	f.runs = append(f.runs, f.listed.Swap(false))
	f.mu.Unlock()
	return nil
}

func (f *flakyNFT) lastRun() (n int, full bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.runs) == 0 {
		return 0, false
	}
	return len(f.runs), f.runs[len(f.runs)-1]
}

func TestSyncErrorThenFullSync(t *testing.T) {
	mem := memory.New(1000)
	put(t, mem, nsYAML("web")+wepYAML("web", "a", "n1", "trla", nil, "192.0.2.1/32"))
	nft := &flakyNFT{Fake: knftables.NewFake(knftables.InetFamily, "trellis")}
	a := New(testConfig(t, "n1"), mem, Dataplane{NFT: nft}, testLogger(t))
	startAgent(t, a)
	eventually(t, 5*time.Second, func() string {
		if !a.Status().Ready {
			return "not ready"
		}
		return ""
	})
	put(t, mem, wepYAML("web", "b", "n1", "trlb", nil, "192.0.2.2/32"))
	eventually(t, 5*time.Second, func() string {
		if n, full := nft.lastRun(); n < 2 || full {
			return fmt.Sprintf("runs = %d, last full = %v; want a partial sync after the first", n, full)
		}
		return ""
	})

	nft.fail.Store(true)
	put(t, mem, wepYAML("web", "c", "n1", "trlc", nil, "192.0.2.3/32"))
	eventually(t, 5*time.Second, func() string {
		if s := a.Status(); s.Ready || !strings.Contains(s.LastError, "injected") {
			return fmt.Sprintf("status = %+v, want not ready with the injected error", s)
		}
		return ""
	})
	if _, code, _ := agentapi.NewClient(a.cfg.StatusSocket).Get(context.Background(), "/readyz"); code != 503 {
		t.Errorf("/readyz after a failed sync = %d, want 503", code)
	}
	before, _ := nft.lastRun()
	nft.fail.Store(false)
	eventually(t, 5*time.Second, func() string {
		n, full := nft.lastRun()
		if n == before || !a.Status().Ready {
			return "not recovered"
		}
		if !full {
			return "the sync after a failure was partial, want full"
		}
		if !strings.Contains(fakeTable(nft.Fake), `"trlc"`) {
			return "endpoint c not programmed after recovery"
		}
		return ""
	})
}

func getStatus(st store.Store, k *model.Kind, ns, name string) (*model.EndpointStatus, error) {
	obj, err := st.Get(context.Background(), k, ns, name)
	if err != nil {
		return nil, err
	}
	return obj.(*model.EndpointStatus), nil
}

// statusOrderStore records, at each EndpointStatus write, whether the endpoint's interface
// was already programmed.
type statusOrderStore struct {
	store.Store
	fake   *knftables.Fake
	ifaces map[string]string // status name -> interface
	mu     sync.Mutex
	early  []string
}

func (s *statusOrderStore) check(obj model.Object) {
	if _, ok := obj.(*model.EndpointStatus); !ok {
		return
	}
	if iface := s.ifaces[obj.GetName()]; !strings.Contains(fakeTable(s.fake), `"`+iface+`"`) {
		s.mu.Lock()
		s.early = append(s.early, obj.GetName())
		s.mu.Unlock()
	}
}

func (s *statusOrderStore) Create(ctx context.Context, obj model.Object) (model.Object, error) {
	s.check(obj)
	return s.Store.Create(ctx, obj)
}

func (s *statusOrderStore) Update(ctx context.Context, obj model.Object) (model.Object, error) {
	s.check(obj)
	return s.Store.Update(ctx, obj)
}

func TestEndpointStatus(t *testing.T) {
	mem := memory.New(1000)
	fake := knftables.NewFake(knftables.InetFamily, "trellis")
	ordered := &statusOrderStore{Store: mem, fake: fake, ifaces: map[string]string{"local": "trl1"}}
	t.Cleanup(func() {
		ordered.mu.Lock()
		defer ordered.mu.Unlock()
		if len(ordered.early) > 0 {
			t.Errorf("status written before the endpoint was programmed: %v", ordered.early)
		}
	})
	statusKind := kind(t, "endpointstatus")
	// Statuses left from before: one of this node for a gone endpoint (must go), one of
	// another node (must stay).
	for _, s := range []struct{ ns, name, node string }{{"web", "gone", "n1"}, {"web", "other", "n2"}} {
		obj := statusKind.New().(*model.EndpointStatus)
		obj.Namespace, obj.Name = s.ns, s.name
		obj.Status = model.EndpointStatusStatus{Node: s.node, EndpointUID: "x", PolicyProgrammed: true}
		if _, err := mem.Create(context.Background(), obj); err != nil {
			t.Fatal(err)
		}
	}
	put(t, mem, nsYAML("web")+
		wepYAML("web", "local", "n1", "trl1", nil, "192.0.2.1/32")+
		wepYAML("web", "remote", "n2", "trl2", nil, "192.0.2.2/32"))
	a := New(testConfig(t, "n1"), ordered, Dataplane{NFT: fake}, testLogger(t))
	startAgent(t, a)

	wepKind := kind(t, "workloadendpoint")
	wep, err := mem.Get(context.Background(), wepKind, "web", "local")
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, func() string {
		s, err := getStatus(mem, statusKind, "web", "local")
		if err != nil {
			return err.Error()
		}
		want := model.EndpointStatusStatus{Node: "n1", EndpointUID: string(wep.GetUID()), PolicyProgrammed: true}
		if diff := cmp.Diff(want, s.Status); diff != "" {
			return "status (-want +got):\n" + diff
		}
		if _, err := getStatus(mem, statusKind, "web", "gone"); !errors.Is(err, store.ErrNotFound) {
			return fmt.Sprintf("stale status of this node: err = %v, want not found", err)
		}
		return ""
	})
	if !strings.Contains(fakeTable(fake), `"trl1"`) {
		t.Fatalf("status written but the endpoint is not programmed:\n%s", fakeTable(fake))
	}
	if _, err := getStatus(mem, statusKind, "web", "remote"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("status of a remote endpoint: err = %v, want not found", err)
	}
	if _, err := getStatus(mem, statusKind, "web", "other"); err != nil {
		t.Errorf("status of another node was touched: %v", err)
	}

	// A recreated endpoint (new UID) gets its status rewritten; a deleted one loses it.
	if _, err := mem.Delete(context.Background(), wepKind, "web", "local", store.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, func() string {
		if _, err := getStatus(mem, statusKind, "web", "local"); !errors.Is(err, store.ErrNotFound) {
			return fmt.Sprintf("status of a deleted endpoint: err = %v, want not found", err)
		}
		if strings.Contains(fakeTable(fake), `"trl1"`) {
			return "deleted endpoint still programmed"
		}
		return ""
	})
	put(t, mem, wepYAML("web", "local", "n1", "trl1", nil, "192.0.2.1/32"))
	wep, err = mem.Get(context.Background(), wepKind, "web", "local")
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, func() string {
		s, err := getStatus(mem, statusKind, "web", "local")
		if err != nil {
			return err.Error()
		}
		if s.Status.EndpointUID != string(wep.GetUID()) {
			return fmt.Sprintf("endpointUID = %s, want %s", s.Status.EndpointUID, wep.GetUID())
		}
		return ""
	})
}

// TestWatchResync compacts the store's history under a stopped watch so that it resumes
// with EventResync: the agent must list again and converge.
func TestRelistAfterResync(t *testing.T) {
	mem := memory.New(5) // tiny history: a burst of changes overflows it
	put(t, mem, nsYAML("web"))
	fake := knftables.NewFake(knftables.InetFamily, "trellis")
	a := New(testConfig(t, "n1"), mem, Dataplane{NFT: fake}, testLogger(t))
	startAgent(t, a)
	eventually(t, 5*time.Second, func() string {
		if !a.Status().Ready {
			return "agent not ready"
		}
		return ""
	})
	var manifest strings.Builder
	for i := range 40 {
		manifest.WriteString(wepYAML("web", fmt.Sprintf("p%d", i), "n1", fmt.Sprintf("trl%d", i), nil, fmt.Sprintf("192.0.2.%d/32", i+1)))
	}
	put(t, mem, manifest.String())
	if err := mem.Compact(context.Background()); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, func() string {
		if s := a.Status(); s.Endpoints != 40 {
			return fmt.Sprintf("endpoints = %d, want 40", s.Endpoints)
		}
		return ""
	})
}

func TestAggregateRules(t *testing.T) {
	counters := []RuleCounter{
		{Comment: "policy web/allow-db ingress[0]", Packets: 3, Bytes: 300},
		{Comment: "policy web/allow-db ingress[0]", Packets: 1, Bytes: 100}, // IPv6 twin
		{Comment: "policy web/allow-db egress[2]", Packets: 5, Bytes: 50},
		{Comment: "profile kns.web ingress[0]", Packets: 7, Bytes: 70},
		{Comment: "ingress end of tier default", Packets: 2, Bytes: 20},
		{Comment: "egress final deny", Packets: 1, Bytes: 10},
		{Comment: "conntrack invalid", Packets: 9, Bytes: 90},
	}
	got := aggregateRules(counters, map[string]string{"web/allow-db": "security"})
	want := []ruleSample{
		{tier: "security", policy: "web/allow-db", direction: "ingress", rule: "0", packets: 4, bytes: 400},
		{tier: "security", policy: "web/allow-db", direction: "egress", rule: "2", packets: 5, bytes: 50},
		{tier: "profile", policy: "profile:kns.web", direction: "ingress", rule: "0", packets: 7, bytes: 70},
		{tier: "default", direction: "ingress", rule: "end-of-tier", packets: 2, bytes: 20},
		{direction: "egress", rule: "final-deny", packets: 1, bytes: 10},
	}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(ruleSample{})); diff != "" {
		t.Errorf("aggregateRules (-want +got):\n%s", diff)
	}
}

func TestParseCounters(t *testing.T) {
	data := `{"nftables": [{"metainfo": {"version": "1.0.6", "json_schema_version": 1}},
{"table": {"family": "inet", "name": "trellis", "handle": 1}},
{"rule": {"family": "inet", "table": "trellis", "chain": "c", "handle": 4, "comment": "policy p ingress[0]",
  "expr": [{"match": {"op": "==", "left": {"meta": {"key": "l4proto"}}, "right": "tcp"}},
           {"counter": {"packets": 12, "bytes": 720}}, {"accept": null}]}},
{"rule": {"family": "inet", "table": "trellis", "chain": "c", "handle": 5,
  "expr": [{"counter": {"packets": 1, "bytes": 2}}, {"drop": null}]}}]}`
	got, err := parseCounters([]byte(data))
	if err != nil {
		t.Fatal(err)
	}
	want := []RuleCounter{{Comment: "policy p ingress[0]", Packets: 12, Bytes: 720}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("parseCounters (-want +got):\n%s", diff)
	}
	if _, err := parseCounters([]byte("not json")); err == nil {
		t.Error("parseCounters accepted invalid JSON")
	}
}

func TestRunNeedsNodeName(t *testing.T) {
	a := New(Config{}, memory.New(10), Dataplane{NFT: knftables.NewFake(knftables.InetFamily, "trellis")}, nil)
	if err := a.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "node name") {
		t.Fatalf("Run without node name: err = %v, want one naming the node name", err)
	}
}

func TestLogPrefixFromFelixConfiguration(t *testing.T) {
	mem := memory.New(1000)
	logPolicy := `apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: audit}
spec:
  selector: all()
  ingress: [{action: Log}, {action: Allow}]
`
	felix := func(name, prefix string) string {
		return fmt.Sprintf("apiVersion: projectcalico.org/v3\nkind: FelixConfiguration\nmetadata: {name: %s}\nspec: {logPrefix: %q}\n---\n", name, prefix)
	}
	put(t, mem, nsYAML("web")+wepYAML("web", "a", "n1", "trla", map[string]string{"app": "a"}, "192.0.2.1/32")+"---\n"+logPolicy)
	fake := knftables.NewFake(knftables.InetFamily, "trellis")
	cfg := testConfig(t, "n1")
	cfg.LogPrefix = ""
	a := New(cfg, mem, Dataplane{NFT: fake}, testLogger(t))
	startAgent(t, a)
	wantPrefix := func(prefix string) {
		t.Helper()
		eventually(t, 5*time.Second, func() string {
			if got := fakeTable(fake); !strings.Contains(got, `log prefix "`+prefix) {
				return fmt.Sprintf("no Log rule with prefix %q:\n%s", prefix, got)
			}
			return ""
		})
	}
	wantPrefix("trellis")
	put(t, mem, felix("default", "cluster-audit"))
	wantPrefix("cluster-audit")
	put(t, mem, felix("node.n1", "n1-audit")+felix("node.n2", "n2-audit"))
	wantPrefix("n1-audit")
	if _, err := mem.Delete(context.Background(), felixKind(), "", "node.n1", store.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	wantPrefix("cluster-audit")
}

func TestRoutingOffHasNoRouter(t *testing.T) {
	cfg := testConfig(t, "node1")
	cfg.Routing = RoutingOff
	a := New(cfg, memory.New(10), Dataplane{NFT: knftables.NewFake(knftables.InetFamily, "trellis")}, nil)
	if a.routing != nil || a.Status().BGPPeers != nil {
		t.Fatal("routing off: the agent has a router")
	}
}

// TestFailsafeFromFelixConfiguration: a host endpoint's chains open Calico's default
// failsafe ports until the FelixConfiguration "default" names others, and again once it
// is deleted.
func TestFailsafeFromFelixConfiguration(t *testing.T) {
	mem := memory.New(1000)
	put(t, mem, `apiVersion: projectcalico.org/v3
kind: HostEndpoint
metadata: {name: n1-eth0, labels: {role: node}}
spec: {node: n1, interfaceName: eth0, expectedIPs: [192.0.2.11]}
`)
	fake := knftables.NewFake(knftables.InetFamily, "trellis")
	a := New(testConfig(t, "n1"), mem, Dataplane{NFT: fake}, testLogger(t))
	startAgent(t, a)
	wantPort := func(port string, open bool) {
		t.Helper()
		eventually(t, 5*time.Second, func() string {
			if got := fakeTable(fake); strings.Contains(got, "tcp th dport "+port+" counter accept") != open {
				return fmt.Sprintf("failsafe tcp %s open %v, want %v:\n%s", port, !open, open, got)
			}
			return ""
		})
	}
	wantPort("2379", true)
	put(t, mem, `apiVersion: projectcalico.org/v3
kind: FelixConfiguration
metadata: {name: default}
spec:
  failsafeInboundHostPorts: [{protocol: TCP, port: 22}]
  failsafeOutboundHostPorts: [{protocol: UDP, port: 53}]
`)
	wantPort("2379", false)
	wantPort("22", true)
	if _, err := mem.Delete(context.Background(), felixKind(), "", "default", store.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	wantPort("2379", true)
}

// TestCalculationKindsIncludeClusterNetworkPolicy: the agent watches every kind the policy
// engine converts, ClusterNetworkPolicy among them.
func TestCalculationKindsIncludeClusterNetworkPolicy(t *testing.T) {
	if !slices.Contains(calculationKinds(), model.KindClusterNetworkPolicy) {
		t.Errorf("calculationKinds() = %v, want ClusterNetworkPolicy among them", calculationKinds())
	}
}
