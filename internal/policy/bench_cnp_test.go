package policy

import (
	"fmt"
	"runtime"
	"sync"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	npa "sigs.k8s.io/network-policy-api/apis/v1beta1"

	"github.com/trellisnet/trellis/internal/model"
)

// The ClusterNetworkPolicy benchmark: the benchmark cluster of bench_test.go (1k
// namespaces, 100k endpoints, 10k policies) plus 1,000 CNPs, 700 Admin and 300 Baseline,
// with namespace and pod subjects, namespace, pod and network peers and port protocols,
// and 50 Calico GlobalNetworkPolicies in kube-admin interleaving with them.
const benchCNPs = 1000

func benchCNP(i int, extraPort int32) *PolicyInput {
	team := func(k int) *metav1.LabelSelector {
		return &metav1.LabelSelector{MatchLabels: map[string]string{"team": fmt.Sprintf("t%d", k%50)}}
	}
	s := npa.ClusterNetworkPolicySpec{Tier: npa.AdminTier, Priority: int32(i % 1001)}
	if i%10 >= 7 {
		s.Tier = npa.BaselineTier
	}
	if i%2 == 0 {
		s.Subject.Namespaces = team(i)
	} else {
		s.Subject.Pods = &npa.NamespacedPod{NamespaceSelector: *team(i),
			PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{"app": fmt.Sprintf("a%d", i%10)}}}
	}
	actions := []npa.ClusterNetworkPolicyRuleAction{npa.ClusterNetworkPolicyRuleActionAccept,
		npa.ClusterNetworkPolicyRuleActionDeny, npa.ClusterNetworkPolicyRuleActionPass}
	tcp := func(n int32) npa.ClusterNetworkPolicyProtocol {
		return npa.ClusterNetworkPolicyProtocol{TCP: &npa.ClusterNetworkPolicyProtocolTCP{DestinationPort: &npa.Port{Number: n}}}
	}
	s.Ingress = []npa.ClusterNetworkPolicyIngressRule{
		{Name: "from-team", Action: actions[i%3], From: []npa.ClusterNetworkPolicyIngressPeer{{Namespaces: team(i + 1)}},
			Protocols: []npa.ClusterNetworkPolicyProtocol{tcp(80), tcp(extraPort)}},
		{Action: actions[(i+1)%3], From: []npa.ClusterNetworkPolicyIngressPeer{{Pods: &npa.NamespacedPod{
			PodSelector: metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
				{Key: "tier", Operator: metav1.LabelSelectorOpIn, Values: []string{"fe", "be"}}}}}}}},
	}
	if i%3 == 0 {
		s.Egress = []npa.ClusterNetworkPolicyEgressRule{{Name: "networks", Action: npa.ClusterNetworkPolicyRuleActionDeny,
			To: []npa.ClusterNetworkPolicyEgressPeer{{Networks: []npa.CIDR{npa.CIDR(fmt.Sprintf("198.51.100.%d/32", i%256)), "203.0.113.0/24"}}}}}
	}
	cnp := &model.ClusterNetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("cnp%d", i)}, Spec: s}
	p, err := FromClusterNetworkPolicy(cnp)
	if err != nil {
		panic(err)
	}
	return p
}

func benchCNPResources() []Resource {
	rs := benchResources()
	for i := range benchCNPs {
		rs = append(rs, benchCNP(i, 8080))
	}
	for g := range 50 {
		p := benchGlobalPolicy(g)
		p.ID.Name = fmt.Sprintf("kube-admin.gnp%d", g)
		p.Tier = model.KubeAdminTierName
		rs = append(rs, p)
	}
	return rs
}

var benchCNPOnce struct {
	sync.Once
	c *Calculator
}

func benchCNPCalculator() *Calculator {
	benchCNPOnce.Do(func() {
		benchCNPOnce.c = NewCalculator(Options{Node: "node-0"})
		for _, r := range benchCNPResources() {
			benchCNPOnce.c.Update(r)
		}
		benchCNPOnce.c.State()
		benchCNPOnce.c.Changes()
	})
	return benchCNPOnce.c
}

// BenchmarkCNPInitial is BenchmarkInitial with the 1,000 CNPs and the kube-admin Calico
// policies added.
func BenchmarkCNPInitial(b *testing.B) {
	rs := benchCNPResources()
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
		b.ReportMetric(float64(len(st.Policies)), "policies")
		b.ReportMetric(float64(len(st.IPSets)), "ipsets")
		runtime.KeepAlive(c)
	}
}

// BenchmarkCNPUpdate changes one CNP per op (a port of its first rule, so its rules and
// the endpoints it selects are recomputed).
func BenchmarkCNPUpdate(b *testing.B) {
	c := benchCNPCalculator()
	latency(b, c, func(i int) {
		c.Update(benchCNP((i*7)%benchCNPs, int32(8081+i%2)))
	})
}

// BenchmarkCNPEndpointLabelChange is BenchmarkEndpointAppLabelChange with the CNPs.
func BenchmarkCNPEndpointLabelChange(b *testing.B) {
	c := benchCNPCalculator()
	latency(b, c, func(i int) {
		ns, j := (i*7919)%benchNamespaces, (i*31)%benchPerNS
		ep := benchEndpoint(ns, j, "x")
		ep.Labels["app"] = fmt.Sprintf("a%d", (j+i)%10)
		c.Update(ep)
	})
}
