package connectivity

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/trellisnet/trellis/internal/model"
	"github.com/trellisnet/trellis/internal/policy"
	"github.com/trellisnet/trellis/internal/store"
)

// Scenario is a calculated state with the pods that can be named "ns/pod".
type Scenario struct {
	state *policy.State
	pods  map[string]*policy.EndpointInput
	// Names are the nameable pods, sorted.
	Names []string
}

// offlineAddrs is where pods without an address get one in an offline scenario.
var offlineAddrs = netip.MustParseAddr("198.18.0.1")

// Build converts objects to inputs and calculates: a WorkloadEndpoint wins over the Pod it
// stands for. Offline (manifests, not a datastore), namespaces that pods use but no
// manifest declares are created, and pods without an address get one from 198.18.0.0/15,
// so that they can be traced.
func Build(objs []model.Object, offline bool) (*Scenario, error) {
	rs, peps, namespaces, err := resources(objs)
	if err != nil {
		return nil, err
	}
	pods, err := podEndpoints(objs, peps)
	if err != nil {
		return nil, err
	}
	next := offlineAddrs
	for _, ep := range pods {
		if offline && len(ep.Addrs) == 0 {
			ep.Addrs = []netip.Prefix{netip.PrefixFrom(next, 32)}
			next = next.Next()
		}
		peps[ep.Name] = ep
		rs = append(rs, ep)
	}
	if offline {
		for _, ep := range peps {
			if ep.Namespace != "" && !namespaces[ep.Namespace] {
				namespaces[ep.Namespace] = true
				ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ep.Namespace}}
				rs = append(rs, policy.FromNamespace(ns))
			}
		}
	}
	names := make([]string, 0, len(peps))
	for n := range peps {
		names = append(names, n)
	}
	slices.Sort(names)
	return &Scenario{state: policy.Compute(policy.Options{}, rs), pods: peps, Names: names}, nil
}

// resources converts every object but Pods; it returns the workload endpoints by name and
// the namespaces seen.
func resources(objs []model.Object) ([]policy.Resource, map[string]*policy.EndpointInput, map[string]bool, error) {
	var rs []policy.Resource
	peps := map[string]*policy.EndpointInput{}
	namespaces := map[string]bool{}
	for _, obj := range objs {
		if _, ok := obj.(*corev1.Pod); ok {
			continue
		}
		r, err := policy.FromObject(obj)
		if err != nil {
			return nil, nil, nil, err
		}
		switch r := r.(type) {
		case nil:
			continue
		case *policy.Namespace:
			namespaces[r.Name] = true
		case *policy.EndpointInput:
			if r.Kind == policy.KindWorkload {
				peps[r.Name] = r
			}
		}
		rs = append(rs, r)
	}
	return rs, peps, namespaces, nil
}

// podEndpoints converts the Pods that no WorkloadEndpoint stands for.
func podEndpoints(objs []model.Object, weps map[string]*policy.EndpointInput) ([]*policy.EndpointInput, error) {
	var pods []*policy.EndpointInput
	for _, obj := range objs {
		pod, ok := obj.(*corev1.Pod)
		if !ok || weps[pod.Namespace+"/"+pod.Name] != nil {
			continue
		}
		ep, err := policy.FromPod(pod)
		if err != nil {
			return nil, err
		}
		if ep != nil {
			pods = append(pods, ep)
		}
	}
	return pods, nil
}

// Objects lists, from a datastore, every kind the calculation reads.
func Objects(ctx context.Context, st store.Store) ([]model.Object, error) {
	var out []model.Object
	for _, k := range model.Default.Kinds() {
		if !policy.Reads(k) {
			continue
		}
		res, err := st.List(ctx, k, store.ListOptions{})
		if err != nil {
			return nil, fmt.Errorf("list %s: %w", k.Resource(), err)
		}
		out = append(out, res.Items...)
	}
	return out, nil
}

// Resolve turns NS/POD or an IP into candidate addresses (sorted, IPv4 first).
func (s *Scenario) Resolve(ref string) ([]netip.Addr, error) {
	if a, err := netip.ParseAddr(ref); err == nil {
		return []netip.Addr{a.Unmap()}, nil
	}
	if !strings.Contains(ref, "/") {
		return nil, usagef("invalid endpoint %q: want NAMESPACE/POD or an IP address", ref)
	}
	ep, ok := s.pods[ref]
	if !ok {
		return nil, fmt.Errorf("resolve %s: no such pod or workload endpoint", ref)
	}
	var out []netip.Addr
	for _, p := range ep.Addrs {
		out = append(out, p.Addr())
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("resolve %s: the pod has no IP address", ref)
	}
	slices.SortFunc(out, func(a, b netip.Addr) int { return a.Compare(b) })
	return out, nil
}

// pickPair chooses a source and destination of the same family, IPv4 first.
func pickPair(from, to []netip.Addr) (netip.Addr, netip.Addr, bool) {
	for _, v4 := range []bool{true, false} {
		for _, a := range from {
			for _, b := range to {
				if a.Is4() == v4 && b.Is4() == v4 {
					return a, b, true
				}
			}
		}
	}
	return netip.Addr{}, netip.Addr{}, false
}

// Trace explains the first packet of a connection from -> to on port, with the first pair
// of addresses of one family (IPv4 first).
func (s *Scenario) Trace(from, to string, port Port) (policy.Result, error) {
	fa, err := s.Resolve(from)
	if err != nil {
		return policy.Result{}, err
	}
	ta, err := s.Resolve(to)
	if err != nil {
		return policy.Result{}, err
	}
	a, b, ok := pickPair(fa, ta)
	if !ok {
		return policy.Result{}, fmt.Errorf("trace %s to %s: no address family in common", from, to)
	}
	return policy.Trace(s.state, policy.Packet{Src: a, Dst: b, Proto: port.Proto, Port: port.Num}), nil
}

// Verdict is the calculation's verdict ("allow" or "deny") for from -> to with addresses
// of the family (0: IPv4 first, as Trace picks them). A pair without addresses of the
// family has no verdict: "unknown".
func (s *Scenario) Verdict(from, to string, port Port, family int) string {
	if family == 0 {
		res, err := s.Trace(from, to, port)
		if err != nil {
			return VerdictUnknown
		}
		return verdictWord(res.Verdict)
	}
	fa, err := s.Resolve(from)
	if err != nil {
		return VerdictUnknown
	}
	ta, err := s.Resolve(to)
	if err != nil {
		return VerdictUnknown
	}
	a, aok := AddrOfFamily(fa, family)
	b, bok := AddrOfFamily(ta, family)
	if !aok || !bok {
		return VerdictUnknown
	}
	return verdictWord(policy.Trace(s.state, policy.Packet{Src: a, Dst: b, Proto: port.Proto, Port: port.Num}).Verdict)
}

func verdictWord(a policy.Action) string {
	if a == policy.ActionAllow {
		return VerdictAllow
	}
	return VerdictDeny
}

// SelectedBy lists the endpoints ("ns/pod", or a host endpoint's name) whose ingress and
// whose egress the policy applies to, sorted.
func (s *Scenario) SelectedBy(id policy.PolicyID) (ingress, egress []string) {
	has := func(c policy.Chain) bool {
		for _, t := range c.Tiers {
			if slices.Contains(t.Policies, id) {
				return true
			}
		}
		return false
	}
	for _, e := range s.state.Endpoints {
		if has(e.Ingress) {
			ingress = append(ingress, e.Name)
		}
		if has(e.Egress) {
			egress = append(egress, e.Name)
		}
	}
	return ingress, egress
}
