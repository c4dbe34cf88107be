package controller

import (
	"cmp"
	"maps"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Labels and values of the slices this controller manages.
const (
	LabelServiceName = discoveryv1.LabelServiceName // kubernetes.io/service-name
	LabelManagedBy   = discoveryv1.LabelManagedBy   // endpointslice.kubernetes.io/managed-by
	ManagedBy        = "endpointslice-controller.trellis.dev"
	LabelHeadless    = corev1.IsHeadlessService // service.kubernetes.io/headless
	// MaxEndpointsPerSlice is Kubernetes' default.
	MaxEndpointsPerSlice = 100
)

// Managed reports whether this controller owns the slice.
func Managed(s *discoveryv1.EndpointSlice) bool { return s.Labels[LabelManagedBy] == ManagedBy }

// selects reports whether svc is one whose slices this controller maintains.
func selects(svc *corev1.Service) bool {
	return svc.Spec.Type != corev1.ServiceTypeExternalName && len(svc.Spec.Selector) > 0
}

// PodReady reports the pod's Ready condition.
func PodReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func podAddrs(p *corev1.Pod) []netip.Addr {
	var out []netip.Addr
	for _, ip := range p.Status.PodIPs {
		if a, err := netip.ParseAddr(ip.IP); err == nil {
			out = append(out, a)
		}
	}
	if len(out) == 0 && p.Status.PodIP != "" {
		if a, err := netip.ParseAddr(p.Status.PodIP); err == nil {
			out = append(out, a)
		}
	}
	return out
}

// resolvePort returns the pod port a service port sends to: the number, or the container
// port of that name and protocol.
func resolvePort(sp corev1.ServicePort, pod *corev1.Pod) (int32, bool) {
	proto := cmp.Or(sp.Protocol, corev1.ProtocolTCP)
	if sp.TargetPort.Type == intstr.Int {
		if sp.TargetPort.IntVal == 0 {
			return sp.Port, true
		}
		return sp.TargetPort.IntVal, true
	}
	for _, c := range pod.Spec.Containers {
		for _, cp := range c.Ports {
			if cp.Name == sp.TargetPort.StrVal && cmp.Or(cp.Protocol, corev1.ProtocolTCP) == proto {
				return cp.ContainerPort, true
			}
		}
	}
	return 0, false
}

// DesiredSlices returns the EndpointSlices svc should have given every pod (any
// namespace; only svc's are considered), sorted by name. A Service without a selector has
// none (its slices are someone else's).
func DesiredSlices(svc *corev1.Service, pods []*corev1.Pod) []*discoveryv1.EndpointSlice {
	if !selects(svc) {
		return nil
	}
	sel := labels.SelectorFromSet(svc.Spec.Selector)
	fams := svc.Spec.IPFamilies
	if len(fams) == 0 {
		fams = []corev1.IPFamily{corev1.IPv4Protocol}
	}
	var out []*discoveryv1.EndpointSlice
	for _, fam := range fams {
		groups := map[string][]discoveryv1.Endpoint{}
		ports := map[string][]discoveryv1.EndpointPort{}
		for _, p := range pods {
			if p.Namespace != svc.Namespace || !sel.Matches(labels.Set(p.Labels)) ||
				p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
				continue
			}
			for _, a := range podAddrs(p) {
				if familyOf(a) != fam {
					continue
				}
				eps := endpointPorts(svc, p)
				k := portKey(eps)
				groups[k] = append(groups[k], endpoint(svc, p, a))
				ports[k] = eps
			}
		}
		if len(groups) == 0 {
			groups[""] = nil // a placeholder: the service exists and has no endpoints
		}
		keys := make([]string, 0, len(groups))
		for k := range groups {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			eps := groups[k]
			slices.SortFunc(eps, func(a, b discoveryv1.Endpoint) int {
				return netip.MustParseAddr(a.Addresses[0]).Compare(netip.MustParseAddr(b.Addresses[0]))
			})
			for chunk := 0; chunk == 0 || chunk*MaxEndpointsPerSlice < len(eps); chunk++ {
				part := eps[chunk*MaxEndpointsPerSlice : min(len(eps), (chunk+1)*MaxEndpointsPerSlice)]
				out = append(out, newSlice(svc, fam, k, chunk, part, ports[k]))
			}
		}
	}
	slices.SortFunc(out, func(a, b *discoveryv1.EndpointSlice) int { return cmp.Compare(a.Name, b.Name) })
	return out
}

func endpointPorts(svc *corev1.Service, p *corev1.Pod) []discoveryv1.EndpointPort {
	var out []discoveryv1.EndpointPort
	for _, sp := range svc.Spec.Ports {
		n, ok := resolvePort(sp, p)
		if !ok {
			continue
		}
		name, proto := sp.Name, cmp.Or(sp.Protocol, corev1.ProtocolTCP)
		out = append(out, discoveryv1.EndpointPort{Name: &name, Port: &n, Protocol: &proto, AppProtocol: sp.AppProtocol})
	}
	return out
}

// portKey is a canonical string of a port list: endpoints with equal keys share slices.
func portKey(ps []discoveryv1.EndpointPort) string {
	var b strings.Builder
	for _, p := range ps {
		b.WriteString(*p.Name)
		b.WriteByte('/')
		b.WriteString(string(*p.Protocol))
		b.WriteByte('/')
		b.WriteString(strconv.Itoa(int(*p.Port)))
		if p.AppProtocol != nil {
			b.WriteByte('/')
			b.WriteString(*p.AppProtocol)
		}
		b.WriteByte(',')
	}
	return b.String()
}

func endpoint(svc *corev1.Service, p *corev1.Pod, a netip.Addr) discoveryv1.Endpoint {
	serving := PodReady(p)
	terminating := p.DeletionTimestamp != nil
	ready := (serving && !terminating) || svc.Spec.PublishNotReadyAddresses
	ep := discoveryv1.Endpoint{
		Addresses:  []string{a.String()},
		Conditions: discoveryv1.EndpointConditions{Ready: &ready, Serving: &serving, Terminating: &terminating},
		TargetRef:  &corev1.ObjectReference{Kind: "Pod", Namespace: p.Namespace, Name: p.Name, UID: p.UID},
	}
	if n := p.Spec.NodeName; n != "" {
		ep.NodeName = &n
	}
	if h := p.Spec.Hostname; h != "" && p.Spec.Subdomain == svc.Name {
		ep.Hostname = &h
	}
	return ep
}

func newSlice(svc *corev1.Service, fam corev1.IPFamily, key string, chunk int, eps []discoveryv1.Endpoint, ports []discoveryv1.EndpointPort) *discoveryv1.EndpointSlice {
	lbl := map[string]string{}
	for k, v := range svc.Labels {
		lbl[k] = v
	}
	lbl[LabelServiceName] = svc.Name
	lbl[LabelManagedBy] = ManagedBy
	if svc.Spec.ClusterIP == corev1.ClusterIPNone {
		lbl[LabelHeadless] = ""
	}
	base := svc.Name
	if len(base) > 56 {
		base = base[:56]
	}
	suffix := strconv.FormatUint(hash64(string(fam)+"|"+key+"|"+strconv.Itoa(chunk)), 36)
	if len(suffix) > 6 {
		suffix = suffix[:6]
	}
	controller, block := true, true
	return &discoveryv1.EndpointSlice{
		TypeMeta: metav1.TypeMeta{APIVersion: "discovery.k8s.io/v1", Kind: "EndpointSlice"},
		ObjectMeta: metav1.ObjectMeta{Name: base + "-" + suffix, Namespace: svc.Namespace, Labels: lbl,
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "v1", Kind: "Service", Name: svc.Name, UID: svc.UID,
				Controller: &controller, BlockOwnerDeletion: &block}}},
		AddressType: discoveryv1.AddressType(fam),
		Endpoints:   eps,
		Ports:       ports,
	}
}

func sameContent(a, b *discoveryv1.EndpointSlice) bool {
	return maps.Equal(a.Labels, b.Labels) && a.AddressType == b.AddressType &&
		equality.Semantic.DeepEqual(a.OwnerReferences, b.OwnerReferences) &&
		slices.EqualFunc(a.Endpoints, b.Endpoints, sameEndpoint) && slices.EqualFunc(a.Ports, b.Ports, samePort)
}

func ptrEq[T comparable](a, b *T) bool { return a == b || (a != nil && b != nil && *a == *b) }

func sameEndpoint(a, b discoveryv1.Endpoint) bool {
	return slices.Equal(a.Addresses, b.Addresses) &&
		ptrEq(a.Conditions.Ready, b.Conditions.Ready) && ptrEq(a.Conditions.Serving, b.Conditions.Serving) &&
		ptrEq(a.Conditions.Terminating, b.Conditions.Terminating) &&
		ptrEq(a.Hostname, b.Hostname) && ptrEq(a.NodeName, b.NodeName) && ptrEq(a.Zone, b.Zone) &&
		ptrEq(a.TargetRef, b.TargetRef) && equality.Semantic.DeepEqual(a.Hints, b.Hints) &&
		equality.Semantic.DeepEqual(a.DeprecatedTopology, b.DeprecatedTopology)
}

func samePort(a, b discoveryv1.EndpointPort) bool {
	return ptrEq(a.Name, b.Name) && ptrEq(a.Protocol, b.Protocol) && ptrEq(a.Port, b.Port) && ptrEq(a.AppProtocol, b.AppProtocol)
}

// podIndex finds the pods a selector may match without scanning every pod: pods by
// namespace and by namespace plus one label.
type podIndex struct {
	byLabel map[string][]*corev1.Pod // ns \x00 key=value
}

func indexPods(pods []*corev1.Pod) podIndex {
	idx := podIndex{byLabel: map[string][]*corev1.Pod{}}
	for _, p := range pods {
		for k, v := range p.Labels {
			idx.byLabel[p.Namespace+"\x00"+k+"="+v] = append(idx.byLabel[p.Namespace+"\x00"+k+"="+v], p)
		}
	}
	return idx
}

// candidates returns the pods of the service's namespace carrying the rarest of its
// selector's labels (a superset of the pods it selects).
func (idx podIndex) candidates(svc *corev1.Service) []*corev1.Pod {
	var best []*corev1.Pod
	first := true
	for k, v := range svc.Spec.Selector {
		c := idx.byLabel[svc.Namespace+"\x00"+k+"="+v]
		if first || len(c) < len(best) {
			best, first = c, false
		}
	}
	return best
}
