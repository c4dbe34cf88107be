package service

import (
	"cmp"
	"net/netip"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
)

// LabelServiceName is the EndpointSlice label naming the Service the slice belongs to.
const LabelServiceName = discoveryv1.LabelServiceName

// DefaultAffinitySeconds is kube-proxy's ClientIP affinity timeout when the Service
// does not set one.
const DefaultAffinitySeconds = 10800

// Input is everything Compute reads.
type Input struct {
	// Node is the name of the node the state is for (endpoints' nodeName is compared to it).
	Node string
	// Services and Slices are the cluster's Services and EndpointSlices; order does not
	// matter. Nil entries are skipped.
	Services []*corev1.Service
	Slices   []*discoveryv1.EndpointSlice
}

// State is a node's desired service proxy state.
type State struct {
	// Ports are sorted by namespace, service, port name, protocol, port and family.
	Ports []Port
	// HealthChecks are the health-check node ports of externalTrafficPolicy Local
	// services, sorted by port.
	HealthChecks []HealthCheck
}

// Verdict is what happens to a new connection to a service address.
type Verdict string

// Verdicts.
const (
	// Forward: DNAT to one of the endpoints.
	Forward Verdict = "forward"
	// Reject: the port has no usable endpoint at all (ICMP port unreachable, TCP reset).
	Reject Verdict = "reject"
	// Drop: endpoints exist, but none the traffic policy allows (e.g. Local, none here).
	Drop Verdict = "drop"
)

// Port is one port of one Service in one IP family.
type Port struct {
	Namespace string
	Service   string
	// Name is the service port's name ("" for a single unnamed port).
	Name string
	// Family is 4 or 6.
	Family int
	// Protocol is "tcp", "udp" or "sctp".
	Protocol string
	// Port is the service port (on the ClusterIP, externalIPs and LoadBalancer IPs).
	Port uint16
	// ClusterIP is the family's cluster IP, invalid when there is none.
	ClusterIP netip.Addr
	// NodePort is 0 when the Service has none.
	NodePort uint16
	// ExternalIPs (spec.externalIPs) and LoadBalancerIPs (status.loadBalancer.ingress
	// IPs) of this family, sorted, without duplicates.
	ExternalIPs     []netip.Addr
	LoadBalancerIPs []netip.Addr
	// InternalLocal and ExternalLocal are internalTrafficPolicy and
	// externalTrafficPolicy Local.
	InternalLocal bool
	ExternalLocal bool
	// AffinitySeconds is the ClientIP session affinity timeout, 0 without affinity.
	AffinitySeconds int32
	// Cluster are the endpoints usable cluster-wide, Local those on this node (after the
	// serving-and-terminating fallback of each); sorted by address and port.
	Cluster []Endpoint
	Local   []Endpoint
	// LocalTerminating is set when Local are the serving-and-terminating fallback: the
	// node has no ready endpoint of the port, so its health-check node port fails.
	LocalTerminating bool
}

// Endpoint is one backend of a service port.
type Endpoint struct {
	Addr netip.Addr
	Port uint16
	// Node is the endpoint's nodeName ("" when unknown); Local is Node == Input.Node.
	Node  string
	Local bool
}

// AddrPort is the endpoint's address and port.
func (e Endpoint) AddrPort() netip.AddrPort { return netip.AddrPortFrom(e.Addr, e.Port) }

// HealthCheck is one health-check node port.
type HealthCheck struct {
	Namespace string
	Service   string
	Port      uint16
	// LocalEndpoints counts the distinct addresses of the Service's ready local
	// endpoints (all ports and families); terminating ones do not count.
	LocalEndpoints int
}

// ID is the port's canonical identity: "namespace/service:name/protocol/family".
func (p *Port) ID() string {
	return p.Namespace + "/" + p.Service + ":" + p.Name + "/" + p.Protocol + "/" + string(rune('0'+p.Family))
}

// External reports whether the port has external addresses (NodePort, externalIPs or
// LoadBalancer IPs).
func (p *Port) External() bool {
	return p.NodePort != 0 || len(p.ExternalIPs) > 0 || len(p.LoadBalancerIPs) > 0
}

// InternalVerdict is the fate of a new connection to the ClusterIP.
func (p *Port) InternalVerdict() Verdict {
	return verdict(p.Cluster, p.Local, p.InternalLocal)
}

// ExternalVerdict is the fate of a new connection from outside the cluster to an
// external address.
func (p *Port) ExternalVerdict() Verdict {
	return verdict(p.Cluster, p.Local, p.ExternalLocal)
}

// InternalEndpoints are the endpoints ClusterIP traffic is balanced over.
func (p *Port) InternalEndpoints() []Endpoint {
	if p.InternalLocal {
		return p.Local
	}
	return p.Cluster
}

// ExternalEndpoints are the endpoints external traffic is balanced over.
func (p *Port) ExternalEndpoints() []Endpoint {
	if p.ExternalLocal {
		return p.Local
	}
	return p.Cluster
}

func verdict(cluster, local []Endpoint, onlyLocal bool) Verdict {
	switch {
	case len(cluster) == 0:
		return Reject
	case onlyLocal && len(local) == 0:
		return Drop
	default:
		return Forward
	}
}

// Compute returns the node's desired service state. It is pure and deterministic.
func Compute(in Input) *State {
	bySvc := map[string][]*discoveryv1.EndpointSlice{}
	for _, s := range in.Slices {
		if s == nil || s.Labels[LabelServiceName] == "" {
			continue
		}
		k := s.Namespace + "/" + s.Labels[LabelServiceName]
		bySvc[k] = append(bySvc[k], s)
	}
	parts := make([]Part, 0, len(in.Services))
	for _, svc := range in.Services {
		if svc != nil {
			parts = append(parts, ComputeService(in.Node, svc, bySvc[svc.Namespace+"/"+svc.Name]))
		}
	}
	return Assemble(parts)
}

// Part is the state one Service contributes.
type Part struct {
	Ports       []Port
	HealthCheck *HealthCheck
}

// ComputeService computes one Service's part from its EndpointSlices (sl must be
// the Service's: same namespace, label kubernetes.io/service-name naming it). With
// Assemble it lets a caller recompute only the Services whose inputs changed:
// Assemble(ComputeService(...) for every Service) equals Compute.
func ComputeService(node string, svc *corev1.Service, sl []*discoveryv1.EndpointSlice) Part {
	if svc.Spec.Type == corev1.ServiceTypeExternalName || headless(svc) || otherProxy(svc) {
		return Part{}
	}
	var p Part
	// An address in several slices takes its node from the first by name: sort, so the
	// result does not depend on the order slices are given in. Slices carrying an opt-out
	// label are left out, as kube-proxy's slice informer leaves them out.
	sl = slices.DeleteFunc(slices.Clone(sl), func(s *discoveryv1.EndpointSlice) bool { return s == nil || optedOut(s.Labels) })
	slices.SortFunc(sl, func(a, b *discoveryv1.EndpointSlice) int { return cmp.Compare(a.Name, b.Name) })
	p.Ports = servicePorts(node, svc, sl)
	sortPorts(p.Ports)
	if hc, ok := healthCheck(svc, p.Ports); ok {
		p.HealthCheck = &hc
	}
	return p
}

// Assemble joins Services' parts into a State, sorted.
func Assemble(parts []Part) *State {
	st := &State{}
	for _, p := range parts {
		st.Ports = append(st.Ports, p.Ports...)
		if p.HealthCheck != nil {
			st.HealthChecks = append(st.HealthChecks, *p.HealthCheck)
		}
	}
	sortPorts(st.Ports)
	slices.SortFunc(st.HealthChecks, func(a, b HealthCheck) int {
		return cmp.Or(cmp.Compare(a.Port, b.Port), cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Service, b.Service))
	})
	return st
}

func sortPorts(ps []Port) { slices.SortFunc(ps, comparePorts) }

func comparePorts(a, b Port) int {
	return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Service, b.Service),
		cmp.Compare(a.Name, b.Name), cmp.Compare(a.Protocol, b.Protocol), cmp.Compare(a.Port, b.Port),
		cmp.Compare(a.Family, b.Family))
}

func headless(svc *corev1.Service) bool {
	return svc.Spec.ClusterIP == corev1.ClusterIPNone
}

// Labels by which a Service opts out of the default service proxy, as kube-proxy reads
// them: another proxy implements it, or it is to be treated as headless.
const (
	LabelServiceProxyName = "service.kubernetes.io/service-proxy-name"
	LabelHeadless         = "service.kubernetes.io/headless"
)

// otherProxy reports whether the Service carries either opt-out label (any value).
func otherProxy(svc *corev1.Service) bool { return optedOut(svc.Labels) }

// optedOut reports whether labels (a Service's or an EndpointSlice's) carry either opt-out
// label, with any value.
func optedOut(labels map[string]string) bool {
	_, named := labels[LabelServiceProxyName]
	_, headless := labels[LabelHeadless]
	return named || headless
}

func healthCheck(svc *corev1.Service, ports []Port) (HealthCheck, bool) {
	if svc.Spec.HealthCheckNodePort <= 0 || svc.Spec.HealthCheckNodePort > 65535 ||
		svc.Spec.ExternalTrafficPolicy != corev1.ServiceExternalTrafficPolicyLocal {
		return HealthCheck{}, false
	}
	// Only ready endpoints count, as kube-proxy counts them: with only terminating ones
	// the node still serves (fallback) but fails its health check, so that load balancers
	// drain it.
	addrs := map[netip.Addr]bool{}
	for _, p := range ports {
		if p.LocalTerminating {
			continue
		}
		for _, e := range p.Local {
			addrs[e.Addr] = true
		}
	}
	return HealthCheck{Namespace: svc.Namespace, Service: svc.Name, Port: uint16(svc.Spec.HealthCheckNodePort), LocalEndpoints: len(addrs)}, true
}

// families returns the Service's IP families with their cluster IPs (invalid when the
// family has none).
func families(svc *corev1.Service) map[int]netip.Addr {
	out := map[int]netip.Addr{}
	ips := svc.Spec.ClusterIPs
	if len(ips) == 0 && svc.Spec.ClusterIP != "" {
		ips = []string{svc.Spec.ClusterIP}
	}
	for _, s := range ips {
		if a, err := netip.ParseAddr(s); err == nil {
			a = a.Unmap()
			if _, ok := out[family(a)]; !ok {
				out[family(a)] = a
			}
		}
	}
	if len(out) == 0 {
		for _, f := range svc.Spec.IPFamilies {
			switch f {
			case corev1.IPv4Protocol:
				out[4] = netip.Addr{}
			case corev1.IPv6Protocol:
				out[6] = netip.Addr{}
			}
		}
	}
	return out
}

func family(a netip.Addr) int {
	if a.Unmap().Is4() {
		return 4
	}
	return 6
}

// externalAddrs returns the Service's externalIPs and LoadBalancer ingress IPs by family.
func externalAddrs(svc *corev1.Service) (ext, lb map[int][]netip.Addr) {
	ext, lb = map[int][]netip.Addr{}, map[int][]netip.Addr{}
	for _, s := range svc.Spec.ExternalIPs {
		if a, err := netip.ParseAddr(s); err == nil {
			ext[family(a)] = append(ext[family(a)], a.Unmap())
		}
	}
	if svc.Spec.Type == corev1.ServiceTypeLoadBalancer {
		for _, ing := range svc.Status.LoadBalancer.Ingress {
			if a, err := netip.ParseAddr(ing.IP); err == nil {
				lb[family(a)] = append(lb[family(a)], a.Unmap())
			}
		}
	}
	for _, m := range []map[int][]netip.Addr{ext, lb} {
		for f, as := range m {
			slices.SortFunc(as, netip.Addr.Compare)
			m[f] = slices.Compact(as)
		}
	}
	return ext, lb
}

func servicePorts(node string, svc *corev1.Service, sl []*discoveryv1.EndpointSlice) []Port {
	fams := families(svc)
	ext, lb := externalAddrs(svc)
	var affinity int32
	if svc.Spec.SessionAffinity == corev1.ServiceAffinityClientIP {
		affinity = DefaultAffinitySeconds
		if c := svc.Spec.SessionAffinityConfig; c != nil && c.ClientIP != nil && c.ClientIP.TimeoutSeconds != nil && *c.ClientIP.TimeoutSeconds > 0 {
			affinity = *c.ClientIP.TimeoutSeconds
		}
	}
	nodePorts := svc.Spec.Type == corev1.ServiceTypeNodePort || svc.Spec.Type == corev1.ServiceTypeLoadBalancer
	var out []Port
	for _, sp := range svc.Spec.Ports {
		proto := protocol(sp.Protocol)
		if proto == "" || sp.Port <= 0 || sp.Port > 65535 {
			continue
		}
		for fam, cip := range fams {
			p := Port{
				Namespace: svc.Namespace, Service: svc.Name, Name: sp.Name, Family: fam,
				Protocol: proto, Port: uint16(sp.Port), ClusterIP: cip,
				ExternalIPs: ext[fam], LoadBalancerIPs: lb[fam],
				InternalLocal:   svc.Spec.InternalTrafficPolicy != nil && *svc.Spec.InternalTrafficPolicy == corev1.ServiceInternalTrafficPolicyLocal,
				ExternalLocal:   svc.Spec.ExternalTrafficPolicy == corev1.ServiceExternalTrafficPolicyLocal,
				AffinitySeconds: affinity,
			}
			if nodePorts && sp.NodePort > 0 && sp.NodePort <= 65535 {
				p.NodePort = uint16(sp.NodePort)
			}
			p.Cluster, p.Local, p.LocalTerminating = endpoints(node, fam, sp, sl)
			out = append(out, p)
		}
	}
	return out
}

func protocol(p corev1.Protocol) string {
	switch p {
	case corev1.ProtocolTCP, "":
		return "tcp"
	case corev1.ProtocolUDP:
		return "udp"
	case corev1.ProtocolSCTP:
		return "sctp"
	}
	return ""
}

// candidate is an endpoint with its merged conditions.
type candidate struct {
	ep                          Endpoint
	ready, serving, terminating bool
}

// endpoints returns the cluster-wide and local usable endpoints of service port sp in
// family fam, and whether the local ones are the terminating fallback.
func endpoints(node string, fam int, sp corev1.ServicePort, sl []*discoveryv1.EndpointSlice) (cluster, local []Endpoint, localTerminating bool) {
	cands := map[netip.AddrPort]*candidate{}
	for _, s := range sl {
		if (fam == 4 && s.AddressType != discoveryv1.AddressTypeIPv4) || (fam == 6 && s.AddressType != discoveryv1.AddressTypeIPv6) {
			continue
		}
		port, ok := slicePort(s, sp)
		if !ok {
			continue
		}
		for _, e := range s.Endpoints {
			if len(e.Addresses) == 0 {
				continue
			}
			a, err := netip.ParseAddr(e.Addresses[0])
			if err != nil || family(a) != fam {
				continue
			}
			ep := Endpoint{Addr: a.Unmap(), Port: port}
			if e.NodeName != nil {
				ep.Node = *e.NodeName
			}
			ep.Local = ep.Node != "" && ep.Node == node
			ready := e.Conditions.Ready == nil || *e.Conditions.Ready
			serving := ready
			if e.Conditions.Serving != nil {
				serving = *e.Conditions.Serving
			}
			terminating := e.Conditions.Terminating != nil && *e.Conditions.Terminating
			c, ok := cands[ep.AddrPort()]
			if !ok {
				c = &candidate{ep: ep}
				cands[ep.AddrPort()] = c
			}
			if c.ep.Node == "" {
				c.ep.Node, c.ep.Local = ep.Node, ep.Local
			}
			c.ready = c.ready || ready
			c.serving = c.serving || serving
			c.terminating = c.terminating || terminating
		}
	}
	all := make([]*candidate, 0, len(cands))
	for _, c := range cands {
		all = append(all, c)
	}
	slices.SortFunc(all, func(a, b *candidate) int { return a.ep.AddrPort().Compare(b.ep.AddrPort()) })
	cluster, _ = usable(all, false)
	local, localTerminating = usable(all, true)
	return cluster, local, localTerminating
}

// usable picks the ready endpoints (only local ones when onlyLocal), or when there is
// none, the serving and terminating ones (fallback is then true).
func usable(all []*candidate, onlyLocal bool) (eps []Endpoint, fallback bool) {
	var ready, terminating []Endpoint
	for _, c := range all {
		if onlyLocal && !c.ep.Local {
			continue
		}
		if c.ready {
			ready = append(ready, c.ep)
		} else if c.serving && c.terminating {
			terminating = append(terminating, c.ep)
		}
	}
	if len(ready) > 0 {
		return ready, false
	}
	return terminating, len(terminating) > 0
}

// slicePort finds the slice port matching service port sp by name and protocol.
func slicePort(s *discoveryv1.EndpointSlice, sp corev1.ServicePort) (uint16, bool) {
	for _, p := range s.Ports {
		name := ""
		if p.Name != nil {
			name = *p.Name
		}
		proto := corev1.ProtocolTCP
		if p.Protocol != nil {
			proto = *p.Protocol
		}
		if name != sp.Name || !strings.EqualFold(string(proto), string(cmp.Or(sp.Protocol, corev1.ProtocolTCP))) {
			continue
		}
		if p.Port == nil || *p.Port <= 0 || *p.Port > 65535 {
			return 0, false
		}
		return uint16(*p.Port), true
	}
	return 0, false
}
