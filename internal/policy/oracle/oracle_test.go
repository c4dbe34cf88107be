// Package oracle checks Trellis's Kubernetes NetworkPolicy verdicts against the matcher of
// github.com/mattfenwick/cyclonus on every case of its generator. It is a nested module so
// that cyclonus and its dependencies stay out of the main module.
package oracle

import (
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/mattfenwick/cyclonus/pkg/generator"
	"github.com/mattfenwick/cyclonus/pkg/matcher"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/trellisnet/trellis/internal/policy"
)

var (
	namespaces = []string{"x", "y", "z"}
	podNames   = []string{"a", "b", "c"}
	protocols  = []corev1.Protocol{corev1.ProtocolTCP, corev1.ProtocolUDP, corev1.ProtocolSCTP}
	ports      = []int{80, 81}
)

type pod struct {
	ns, name string
	labels   map[string]string
	ip       netip.Addr
}

// cluster mirrors cyclonus's model and feeds a Trellis Calculator incrementally.
type cluster struct {
	nsLabels map[string]map[string]string
	pods     map[string]*pod // "ns/name"
	policies map[string]*networkingv1.NetworkPolicy
	calc     *policy.Calculator
	nextIP   netip.Addr
}

func newCluster(t *testing.T) *cluster {
	c := &cluster{nsLabels: map[string]map[string]string{}, pods: map[string]*pod{},
		policies: map[string]*networkingv1.NetworkPolicy{}, calc: policy.NewCalculator(policy.Options{}),
		nextIP: netip.MustParseAddr("192.0.2.1")}
	for _, ns := range namespaces {
		c.setNamespace(ns, map[string]string{"ns": ns})
		for _, p := range podNames {
			c.setPod(ns, p, map[string]string{"pod": p})
		}
	}
	return c
}

func (c *cluster) setNamespace(ns string, labels map[string]string) {
	c.nsLabels[ns] = labels
	c.calc.Update(policy.FromNamespace(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: labels}}))
}

func (c *cluster) setPod(ns, name string, labels map[string]string) {
	p, ok := c.pods[ns+"/"+name]
	if !ok {
		p = &pod{ns: ns, name: name, ip: c.nextIP}
		c.nextIP = c.nextIP.Next()
		c.pods[ns+"/"+name] = p
	}
	p.labels = labels
	kp := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels},
		Spec:   corev1.PodSpec{NodeName: "n1"},
		Status: corev1.PodStatus{PodIP: p.ip.String()}}
	var cps []corev1.ContainerPort
	for _, proto := range protocols {
		for _, port := range ports {
			cps = append(cps, corev1.ContainerPort{Name: portName(port, proto), ContainerPort: int32(port), Protocol: proto})
		}
	}
	kp.Spec.Containers = []corev1.Container{{Name: "c", Ports: cps}}
	ep, err := policy.FromPod(kp)
	if err != nil {
		panic(err)
	}
	c.calc.Update(ep)
}

func portName(port int, proto corev1.Protocol) string {
	return fmt.Sprintf("serve-%d-%s", port, strings.ToLower(string(proto)))
}

func (c *cluster) deletePod(ns, name string) {
	delete(c.pods, ns+"/"+name)
	c.calc.Delete(policy.Key{Kind: policy.KeyEndpoint, Sub: string(policy.KindWorkload), Name: ns + "/" + name})
}

func (c *cluster) setPolicy(t *testing.T, np *networkingv1.NetworkPolicy) {
	if np.Namespace == "" {
		np.Namespace = "default"
	}
	c.policies[np.Namespace+"/"+np.Name] = np
	in, err := policy.FromKubernetesPolicy(np)
	if err != nil {
		t.Fatalf("convert %s/%s: %v", np.Namespace, np.Name, err)
	}
	c.calc.Update(in)
}

func (c *cluster) apply(t *testing.T, a *generator.Action) {
	switch {
	case a.CreatePolicy != nil:
		c.setPolicy(t, a.CreatePolicy.Policy.DeepCopy())
	case a.UpdatePolicy != nil:
		c.setPolicy(t, a.UpdatePolicy.Policy.DeepCopy())
	case a.DeletePolicy != nil:
		delete(c.policies, a.DeletePolicy.Namespace+"/"+a.DeletePolicy.Name)
		c.calc.Delete(policy.Key{Kind: policy.KeyPolicy, Sub: string(policy.PolicyKubernetes),
			Namespace: a.DeletePolicy.Namespace, Name: policy.K8sPolicyPrefix + a.DeletePolicy.Name})
	case a.CreateNamespace != nil:
		c.setNamespace(a.CreateNamespace.Namespace, a.CreateNamespace.Labels)
	case a.SetNamespaceLabels != nil:
		c.setNamespace(a.SetNamespaceLabels.Namespace, a.SetNamespaceLabels.Labels)
	case a.DeleteNamespace != nil:
		ns := a.DeleteNamespace.Namespace
		delete(c.nsLabels, ns)
		c.calc.Delete(policy.Key{Kind: policy.KeyNamespace, Name: ns})
		for _, p := range slices.Collect(maps.Values(c.pods)) {
			if p.ns == ns {
				c.deletePod(p.ns, p.name)
			}
		}
		for k, np := range c.policies {
			if np.Namespace == ns {
				delete(c.policies, k)
				c.calc.Delete(policy.Key{Kind: policy.KeyPolicy, Sub: string(policy.PolicyKubernetes),
					Namespace: ns, Name: policy.K8sPolicyPrefix + np.Name})
			}
		}
	case a.CreatePod != nil:
		c.setPod(a.CreatePod.Namespace, a.CreatePod.Pod, a.CreatePod.Labels)
	case a.SetPodLabels != nil:
		c.setPod(a.SetPodLabels.Namespace, a.SetPodLabels.Pod, a.SetPodLabels.Labels)
	case a.DeletePod != nil:
		c.deletePod(a.DeletePod.Namespace, a.DeletePod.Pod)
	}
}

func (c *cluster) peer(p *pod) *matcher.TrafficPeer {
	nsl := maps.Clone(c.nsLabels[p.ns])
	nsl[corev1.LabelMetadataName] = p.ns
	return &matcher.TrafficPeer{IP: p.ip.String(),
		Internal: &matcher.InternalPeer{PodLabels: p.labels, NamespaceLabels: nsl, Namespace: p.ns}}
}

type probe struct {
	port  int
	proto corev1.Protocol
}

func probes(pc *generator.ProbeConfig) []probe {
	if pc == nil || pc.AllAvailable || pc.PortProtocol == nil {
		var out []probe
		for _, proto := range protocols {
			for _, port := range ports {
				out = append(out, probe{port, proto})
			}
		}
		return out
	}
	pp := pc.PortProtocol
	if pp.Port.StrVal != "" {
		for _, proto := range protocols {
			for _, port := range ports {
				if portName(port, proto) == pp.Port.StrVal {
					return []probe{{port, proto}}
				}
			}
		}
		return nil // a name no pod serves: nothing to probe
	}
	return []probe{{int(pp.Port.IntVal), pp.Protocol}}
}

func verdict(allowed bool) policy.Action {
	if allowed {
		return policy.ActionAllow
	}
	return policy.ActionDeny
}

// TestCyclonusOracle: for every generated case and step, every ordered pair of distinct pods
// and every probed port and protocol, Trellis's egress, ingress and overall verdicts equal
// cyclonus's; and the incrementally maintained state equals a from-scratch calculation.
func TestCyclonusOracle(t *testing.T) {
	gen := generator.NewTestCaseGenerator(false, "192.0.2.1", namespaces, nil, nil)
	cases := gen.GenerateTestCases()
	if len(cases) == 0 {
		t.Fatal("the generator produced no cases")
	}
	checked := 0
	for i, tc := range cases {
		t.Run(fmt.Sprintf("%03d", i), func(t *testing.T) {
			c := newCluster(t)
			for s, step := range tc.Steps {
				for _, a := range step.Actions {
					c.apply(t, a)
				}
				st := c.calc.State()
				checked += c.compare(t, fmt.Sprintf("%s step %d", tc.Description, s), st, probes(step.Probe))
			}
			if diff := cmp.Diff(c.fromScratch(t), c.calc.State(), cmpopts.EquateComparable(netip.Prefix{}, netip.Addr{})); diff != "" {
				t.Errorf("%s: incremental state != from scratch:\n%s", tc.Description, diff)
			}
		})
	}
	t.Logf("%d cases, %d verdicts compared", len(cases), checked)
}

func (c *cluster) fromScratch(t *testing.T) *policy.State {
	calc := policy.NewCalculator(policy.Options{})
	saved := c.calc
	c.calc = calc
	for ns, l := range c.nsLabels {
		c.setNamespace(ns, l)
	}
	for _, p := range c.pods {
		c.setPod(p.ns, p.name, p.labels)
	}
	for _, np := range c.policies {
		c.setPolicy(t, np)
	}
	c.calc = saved
	return calc.State()
}

func (c *cluster) compare(t *testing.T, what string, st *policy.State, prs []probe) int {
	var netpols []*networkingv1.NetworkPolicy
	for _, k := range slices.Sorted(maps.Keys(c.policies)) {
		netpols = append(netpols, c.policies[k])
	}
	m := matcher.BuildNetworkPolicies(true, netpols)
	keys := slices.Sorted(maps.Keys(c.pods))
	n := 0
	for _, pr := range prs {
		for _, from := range keys {
			for _, to := range keys {
				if from == to {
					continue // Calico never sees a pod's traffic to itself
				}
				src, dst := c.pods[from], c.pods[to]
				want := m.IsTrafficAllowed(&matcher.Traffic{Source: c.peer(src), Destination: c.peer(dst),
					ResolvedPort: pr.port, ResolvedPortName: portName(pr.port, pr.proto), Protocol: pr.proto})
				got := policy.Trace(st, policy.Packet{Src: src.ip, Dst: dst.ip, Proto: strings.ToLower(string(pr.proto)), Port: uint16(pr.port)})
				n++
				if got.Egress.Verdict != verdict(want.Egress.IsAllowed()) || got.Ingress.Verdict != verdict(want.Ingress.IsAllowed()) ||
					got.Verdict != verdict(want.IsAllowed()) {
					t.Errorf("%s: %s -> %s %d/%s: trellis %s (egress %s, ingress %s), cyclonus egress %v ingress %v",
						what, from, to, pr.port, pr.proto, got.Verdict, got.Egress, got.Ingress,
						want.Egress.IsAllowed(), want.Ingress.IsAllowed())
				}
			}
		}
	}
	return n
}
