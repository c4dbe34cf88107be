package policy

import (
	"fmt"
	"net/netip"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/trellisnet/trellis/internal/model"
)

// The benchmark cluster: 1k namespaces, 100k endpoints on 1k nodes (100 on node-0, the local
// node), 10k policies: per namespace 5 Kubernetes policies and 4 Calico NetworkPolicies, plus
// 1k GlobalNetworkPolicies with namespace, service-account and plain selectors of every kind.
const (
	benchNamespaces = 1000
	benchPerNS      = 100
	benchNodes      = 1000
)

func benchEndpoint(ns, j int, extra string) *EndpointInput {
	i := ns*benchPerNS + j
	addr := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
	nsName := fmt.Sprintf("ns%d", ns)
	sa := fmt.Sprintf("sa%d", j%5)
	return &EndpointInput{
		Kind: KindWorkload, Name: fmt.Sprintf("%s/pod%d", nsName, j), Namespace: nsName,
		Node: fmt.Sprintf("node-%d", i%benchNodes), Interface: fmt.Sprintf("cali%d", i),
		Labels: map[string]string{"app": fmt.Sprintf("a%d", j%10), "tier": []string{"fe", "be", "db"}[j%3],
			"version": fmt.Sprintf("v%d", j%3), "extra": extra},
		ServiceAccount: sa, Orchestrator: model.OrchestratorK8s, Profiles: defaultProfiles(nsName, sa),
		Addrs: []netip.Prefix{netip.PrefixFrom(addr, 32)},
		Ports: []NamedPort{{Name: "http", Proto: "tcp", Port: uint16(8000 + j%10)}},
	}
}

func benchK8sPolicy(ns, k int) *PolicyInput {
	port := intstr.FromInt32(int32(80 + k))
	named := intstr.FromString("http")
	np := &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: fmt.Sprintf("ns%d", ns), Name: fmt.Sprintf("knp%d", k)},
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{"app": fmt.Sprintf("a%d", k)}},
			Ingress: []networkingv1.NetworkPolicyIngressRule{{
				Ports: []networkingv1.NetworkPolicyPort{{Port: &port}, {Port: &named}},
				From: []networkingv1.NetworkPolicyPeer{
					{PodSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
						{Key: "tier", Operator: metav1.LabelSelectorOpIn, Values: []string{"fe", "be"}}}}},
					{NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"team": fmt.Sprintf("t%d", (ns+k)%50)}}},
					{IPBlock: &networkingv1.IPBlock{CIDR: "192.0.2.0/24", Except: []string{"192.0.2.128/25"}}},
				},
			}},
			Egress: []networkingv1.NetworkPolicyEgressRule{{To: []networkingv1.NetworkPolicyPeer{
				{PodSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"tier": "db"}}}}}},
		}}
	p, err := FromKubernetesPolicy(np)
	if err != nil {
		panic(err)
	}
	return p
}

func benchCalicoPolicy(ns, k int) *PolicyInput {
	order := float64(k * 10)
	sels := []string{"tier == 'db' && version != 'v2'", "app in {'a1', 'a2', 'a3'}", "has(version) && tier starts with 'b'", "app == 'a5' || app == 'a6'"}
	return &PolicyInput{
		ID: PolicyID{Kind: PolicyNamespaced, Namespace: fmt.Sprintf("ns%d", ns), Name: fmt.Sprintf("np%d", k)}, Tier: "default",
		Order: &order, Selector: sels[k%len(sels)],
		Ingress: []model.Rule{
			{Action: model.Deny, Source: model.EntityRule{Selector: "version == 'v0'", NotSelector: "app == 'a9'"}},
			{Action: model.Allow, Source: model.EntityRule{Selector: "app contains '1'", NamespaceSelector: "all()"}},
			{Action: model.Pass},
		},
		Egress: []model.Rule{{Action: model.Allow, Destination: model.EntityRule{ServiceAccounts: &model.ServiceAccountMatch{Names: []string{"sa1"}}}}},
	}
}

func benchGlobalPolicy(g int) *PolicyInput {
	order := float64(g)
	p := &PolicyInput{ID: PolicyID{Kind: PolicyGlobal, Name: fmt.Sprintf("gnp%d", g)}, Tier: "default", Order: &order,
		Ingress: []model.Rule{{Action: model.Allow, Protocol: ptrProto("TCP"),
			Source:      model.EntityRule{Selector: fmt.Sprintf("app == 'a%d'", g%10), NamespaceSelector: fmt.Sprintf("team == 't%d'", g%50)},
			Destination: model.EntityRule{Ports: []model.Port{model.SinglePort(443)}}}}}
	switch g % 4 {
	case 0:
		p.NamespaceSelector = fmt.Sprintf("team == 't%d'", g%50)
		p.Selector = "tier == 'fe'"
	case 1:
		p.ServiceAccountSelector = "all()"
		p.Selector = fmt.Sprintf("app == 'a%d' && version in {'v1'}", g%10)
	case 2:
		p.Selector = fmt.Sprintf("projectcalico.org/namespace == 'ns%d'", g%benchNamespaces)
	case 3:
		p.Selector = fmt.Sprintf("tier ends with 'b' && app == 'a%d'", g%10)
	}
	return p
}

func ptrProto(s string) *model.Protocol {
	p := model.ProtocolFromString(s)
	return &p
}

func benchNamespace(ns int, team string) *Namespace {
	return &Namespace{Name: fmt.Sprintf("ns%d", ns), Labels: map[string]string{"team": team, "env": []string{"prod", "dev"}[ns%2]}}
}

func benchResources() []Resource {
	var rs []Resource
	for ns := range benchNamespaces {
		rs = append(rs, benchNamespace(ns, fmt.Sprintf("t%d", ns%50)))
		for j := range benchPerNS {
			rs = append(rs, benchEndpoint(ns, j, "x"))
		}
		for k := range 5 {
			rs = append(rs, benchK8sPolicy(ns, k))
		}
		for k := range 4 {
			rs = append(rs, benchCalicoPolicy(ns, k))
		}
		rs = append(rs, benchGlobalPolicy(ns))
	}
	return rs
}

var benchOnce struct {
	sync.Once
	c *Calculator
}

func benchCalculator(b *testing.B) *Calculator {
	benchOnce.Do(func() {
		benchOnce.c = NewCalculator(Options{Node: "node-0"})
		for _, r := range benchResources() {
			benchOnce.c.Update(r)
		}
		benchOnce.c.State()
		benchOnce.c.Changes()
	})
	return benchOnce.c
}

// BenchmarkInitial is the from-scratch calculation of node-0's state; it reports the live heap
// after the calculation (heap-MiB) and the peak heap seen while it ran (peak-MiB).
func BenchmarkInitial(b *testing.B) {
	rs := benchResources()
	for b.Loop() {
		runtime.GC()
		stop := make(chan struct{})
		peak := samplePeak(stop)
		c := NewCalculator(Options{Node: "node-0"})
		for _, r := range rs {
			c.Update(r)
		}
		st := c.State()
		close(stop)
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		b.ReportMetric(float64(ms.HeapAlloc)/(1<<20), "heap-MiB")
		b.ReportMetric(float64(<-peak)/(1<<20), "peak-MiB")
		b.ReportMetric(float64(len(st.Endpoints)), "local-endpoints")
		b.ReportMetric(float64(len(st.IPSets)), "ipsets")
		runtime.KeepAlive(c)
	}
}

// samplePeak samples HeapAlloc every 20ms until stop is closed (test code only).
func samplePeak(stop chan struct{}) chan uint64 {
	out := make(chan uint64, 1)
	go func() {
		var peak uint64
		var ms runtime.MemStats
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapAlloc)
			select {
			case <-stop:
				out <- peak
				return
			case <-t.C:
			}
		}
	}()
	return out
}

// latency runs op b.N times and reports p50/p99 of single operations (including Changes).
func latency(b *testing.B, c *Calculator, op func(i int)) {
	durs := make([]time.Duration, 0, b.N)
	i := 0
	for b.Loop() {
		start := time.Now()
		op(i)
		c.Changes()
		durs = append(durs, time.Since(start))
		i++
	}
	slices.Sort(durs)
	if len(durs) > 0 {
		b.ReportMetric(float64(durs[len(durs)/2].Nanoseconds()), "p50-ns")
		b.ReportMetric(float64(durs[len(durs)*99/100].Nanoseconds()), "p99-ns")
	}
}

// BenchmarkEndpointLabelChange changes one label of one endpoint (any node) per op; the
// reciprocal of ns/op is the sustained endpoint updates per second.
func BenchmarkEndpointLabelChange(b *testing.B) {
	c := benchCalculator(b)
	latency(b, c, func(i int) {
		ns, j := (i*7919)%benchNamespaces, (i*31)%benchPerNS
		c.Update(benchEndpoint(ns, j, fmt.Sprintf("x%d", i%2)))
	})
}

// BenchmarkEndpointAppLabelChange moves an endpoint between apps, changing its policies.
func BenchmarkEndpointAppLabelChange(b *testing.B) {
	c := benchCalculator(b)
	latency(b, c, func(i int) {
		ns, j := (i*7919)%benchNamespaces, (i*31)%benchPerNS
		ep := benchEndpoint(ns, j, "x")
		ep.Labels["app"] = fmt.Sprintf("a%d", (j+i)%10)
		c.Update(ep)
	})
}

// BenchmarkPolicyAdd adds one new Calico policy per op.
func BenchmarkPolicyAdd(b *testing.B) {
	c := benchCalculator(b)
	latency(b, c, func(i int) {
		p := benchCalicoPolicy(i%benchNamespaces, i%4)
		p.ID.Name = fmt.Sprintf("added%d", i)
		c.Update(p)
	})
}

// BenchmarkK8sPolicyAdd adds one new Kubernetes policy per op.
func BenchmarkK8sPolicyAdd(b *testing.B) {
	c := benchCalculator(b)
	latency(b, c, func(i int) {
		p := benchK8sPolicy(i%benchNamespaces, i%5)
		p.ID.Name = fmt.Sprintf("knp.default.added%d", i)
		c.Update(p)
	})
}

// BenchmarkNamespaceLabelChange changes one namespace's team label per op (100 endpoints
// re-evaluated).
func BenchmarkNamespaceLabelChange(b *testing.B) {
	c := benchCalculator(b)
	latency(b, c, func(i int) {
		c.Update(benchNamespace(i%benchNamespaces, fmt.Sprintf("t%d", (i+1)%50)))
	})
}

// BenchmarkLocalState materialises node-0's full State.
func BenchmarkLocalState(b *testing.B) {
	c := benchCalculator(b)
	for b.Loop() {
		c.State()
	}
}
