package route

import (
	"net/netip"
	"slices"
	"sort"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"

	"github.com/trellisnet/trellis/internal/model"
)

// LabelExcludeFromLB on a Node keeps it from advertising any service address.
const LabelExcludeFromLB = "node.kubernetes.io/exclude-from-external-load-balancers"

// Service is what BGP service advertisement needs of a Service and its EndpointSlices.
type Service struct {
	Name            string // namespace/name
	ClusterIPs      []netip.Addr
	ExternalIPs     []netip.Addr
	LoadBalancerIPs []netip.Addr
	// Local is externalTrafficPolicy: Local.
	Local bool
	// Nodes are the nodes with at least one ready endpoint of the service.
	Nodes []string
}

// ServicesFromModel extracts the services' addresses and, from the EndpointSlices
// (matched by the kubernetes.io/service-name label in the same namespace), the nodes with
// a ready endpoint (conditions.ready unset counts as ready). Headless services have no
// cluster IP; unparsable addresses are skipped.
func ServicesFromModel(svcs []*corev1.Service, eps []*discoveryv1.EndpointSlice) []Service {
	nodes := map[string]map[string]bool{}
	for _, es := range eps {
		svc := es.Labels[discoveryv1.LabelServiceName]
		if svc == "" {
			continue
		}
		key := es.Namespace + "/" + svc
		for _, ep := range es.Endpoints {
			if ep.NodeName == nil || *ep.NodeName == "" || (ep.Conditions.Ready != nil && !*ep.Conditions.Ready) {
				continue
			}
			if nodes[key] == nil {
				nodes[key] = map[string]bool{}
			}
			nodes[key][*ep.NodeName] = true
		}
	}
	var out []Service
	for _, s := range svcs {
		key := s.Namespace + "/" + s.Name
		sv := Service{Name: key, Local: s.Spec.ExternalTrafficPolicy == corev1.ServiceExternalTrafficPolicyLocal}
		ips := s.Spec.ClusterIPs
		if len(ips) == 0 && s.Spec.ClusterIP != "" {
			ips = []string{s.Spec.ClusterIP}
		}
		sv.ClusterIPs = parseAddrs(ips)
		sv.ExternalIPs = parseAddrs(s.Spec.ExternalIPs)
		var lb []string
		for _, in := range s.Status.LoadBalancer.Ingress {
			lb = append(lb, in.IP)
		}
		sv.LoadBalancerIPs = parseAddrs(lb)
		for n := range nodes[key] {
			sv.Nodes = append(sv.Nodes, n)
		}
		slices.Sort(sv.Nodes)
		out = append(out, sv)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// parseAddrs parses addresses, skipping "None" and anything unparsable.
func parseAddrs(in []string) []netip.Addr {
	var out []netip.Addr
	for _, s := range in {
		if a, err := netip.ParseAddr(s); err == nil {
			out = append(out, a.Unmap())
		}
	}
	return out
}

// serviceCIDRs are the default BGPConfiguration's service address ranges.
type serviceCIDRs struct {
	cluster, external, lb []netip.Prefix
}

func (c serviceCIDRs) all() []netip.Prefix {
	return sortPrefixes(slices.Concat(c.cluster, c.external, c.lb))
}

func parseServiceCIDRs(cfgs []*model.BGPConfiguration, prob *problems) serviceCIDRs {
	var out serviceCIDRs
	for _, c := range cfgs {
		if c.Name != model.DefaultBGPConfigName {
			continue
		}
		obj := "BGPConfiguration/" + c.Name
		parse := func(field string, cidrs []string) []netip.Prefix {
			var ps []netip.Prefix
			for _, s := range cidrs {
				p, err := netip.ParsePrefix(s)
				if err != nil {
					prob.add(obj, "spec."+field+": invalid CIDR "+s)
					continue
				}
				ps = append(ps, p.Masked())
			}
			return sortPrefixes(ps)
		}
		var cl, ex, lb []string
		for _, b := range c.Spec.ServiceClusterIPs {
			cl = append(cl, b.CIDR)
		}
		for _, b := range c.Spec.ServiceExternalIPs {
			ex = append(ex, b.CIDR)
		}
		for _, b := range c.Spec.ServiceLoadBalancerIPs {
			lb = append(lb, b.CIDR)
		}
		out.cluster = parse("serviceClusterIPs", cl)
		out.external = parse("serviceExternalIPs", ex)
		out.lb = parse("serviceLoadBalancerIPs", lb)
	}
	return out
}

func sortPrefixes(ps []netip.Prefix) []netip.Prefix {
	out := slices.Clone(ps)
	sort.Slice(out, func(i, j int) bool { return prefixLess(out[i], out[j]) })
	return slices.Compact(out)
}

func within(cidrs []netip.Prefix, a netip.Addr) bool {
	for _, c := range cidrs {
		if c.Contains(a) {
			return true
		}
	}
	return false
}

// serviceAdvertisements are the service prefixes node n announces: every configured CIDR
// and, for each externalTrafficPolicy Local service with a ready endpoint on n, a host
// route for each of its addresses inside a configured range of its type. A node labelled
// LabelExcludeFromLB announces none.
func serviceAdvertisements(n *nodeInfo, cidrs serviceCIDRs, svcs []Service) []netip.Prefix {
	if _, excluded := n.labels[LabelExcludeFromLB]; excluded {
		return nil
	}
	out := cidrs.all()
	for _, s := range svcs {
		if !s.Local || !slices.Contains(s.Nodes, n.name) {
			continue
		}
		for _, set := range []struct {
			addrs []netip.Addr
			cidrs []netip.Prefix
		}{{s.ClusterIPs, cidrs.cluster}, {s.ExternalIPs, cidrs.external}, {s.LoadBalancerIPs, cidrs.lb}} {
			for _, a := range set.addrs {
				if within(set.cidrs, a) {
					out = append(out, hostPrefix(a))
				}
			}
		}
	}
	return out
}
