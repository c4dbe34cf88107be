package controller

import (
	"cmp"
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"

	corev1 "k8s.io/api/core/v1"

	"github.com/trellisnet/trellis/internal/ipmath"
	"github.com/trellisnet/trellis/internal/model"
)

// AnnotationLoadBalancerIPs requests specific load-balancer addresses, as a JSON list
// (Calico's annotation): projectcalico.org/loadBalancerIPs: '["192.0.2.10"]'.
const AnnotationLoadBalancerIPs = "projectcalico.org/loadBalancerIPs"

// LoadBalancerClass is the spec.loadBalancerClass Trellis serves (besides none).
const LoadBalancerClass = "calico"

func loadBalancerPools(pools []*model.IPPool) []netip.Prefix {
	sorted := slices.Clone(pools)
	slices.SortFunc(sorted, func(a, b *model.IPPool) int { return cmp.Compare(a.Name, b.Name) })
	var out []netip.Prefix
	for _, p := range sorted {
		if p.Spec.Disabled || !slices.Contains(p.Spec.AllowedUses, model.AllowedUseLoadBalancer) {
			continue
		}
		if pfx, err := netip.ParsePrefix(p.Spec.CIDR); err == nil {
			out = append(out, pfx.Masked())
		}
	}
	return out
}

func inPools(pools []netip.Prefix, a netip.Addr) bool {
	return slices.ContainsFunc(pools, func(p netip.Prefix) bool { return p.Contains(a) })
}

// requestedLBIPs returns the addresses the annotation or spec.loadBalancerIP ask for.
func requestedLBIPs(s *corev1.Service) ([]netip.Addr, error) {
	var raw []string
	if v, ok := s.Annotations[AnnotationLoadBalancerIPs]; ok {
		if err := json.Unmarshal([]byte(v), &raw); err != nil {
			return nil, fmt.Errorf("annotation %s: %q is not a JSON list of addresses", AnnotationLoadBalancerIPs, v)
		}
	} else if s.Spec.LoadBalancerIP != "" {
		raw = []string{s.Spec.LoadBalancerIP}
	}
	var out []netip.Addr
	for _, r := range raw {
		a, err := netip.ParseAddr(r)
		if err != nil {
			return nil, fmt.Errorf("requested load-balancer IP %q: not an address", r)
		}
		out = append(out, a)
	}
	return out, nil
}

// assignLoadBalancer keeps status.loadBalancer.ingress of a LoadBalancer service filled
// from the pools and empties it when the service is no longer one.
func assignLoadBalancer(s *corev1.Service, cl claims, pools []netip.Prefix) error {
	key := Key(s.Namespace, s.Name)
	if s.Spec.Type != corev1.ServiceTypeLoadBalancer {
		s.Status.LoadBalancer.Ingress = nil
		return nil
	}
	if c := s.Spec.LoadBalancerClass; c != nil && *c != LoadBalancerClass {
		return nil // another implementation's
	}
	req, err := requestedLBIPs(s)
	if err != nil {
		return err
	}
	release := func(in []corev1.LoadBalancerIngress, keep func(netip.Addr) bool) []corev1.LoadBalancerIngress {
		var out []corev1.LoadBalancerIngress
		for _, x := range in {
			a, err := netip.ParseAddr(x.IP)
			if err == nil && keep(a) {
				out = append(out, x)
			} else if err == nil && cl.lbIPs[a] == key {
				delete(cl.lbIPs, a)
			}
		}
		return out
	}
	if len(req) > 0 {
		release(s.Status.LoadBalancer.Ingress, func(a netip.Addr) bool { return slices.Contains(req, a) })
		var bad []string
		var ingress []corev1.LoadBalancerIngress
		for _, a := range req {
			if !inPools(pools, a) {
				bad = append(bad, a.String()+" is in no IPPool with allowedUses LoadBalancer")
				continue
			}
			if !claimIP(cl.lbIPs, a, key) {
				bad = append(bad, a.String()+" is used by service "+cl.lbIPs[a])
				continue
			}
			ingress = append(ingress, corev1.LoadBalancerIngress{IP: a.String()})
		}
		s.Status.LoadBalancer.Ingress = ingress
		if len(bad) > 0 {
			return fmt.Errorf("requested %v", bad)
		}
		return nil
	}
	// Automatic: keep what is still in a pool, one address per family of the service.
	have := map[corev1.IPFamily]bool{}
	s.Status.LoadBalancer.Ingress = release(s.Status.LoadBalancer.Ingress, func(a netip.Addr) bool {
		f := familyOf(a)
		if !inPools(pools, a) || have[f] {
			return false
		}
		have[f] = true
		return true
	})
	fams := s.Spec.IPFamilies
	if len(fams) == 0 {
		fams = []corev1.IPFamily{corev1.IPv4Protocol}
	}
	var missing []corev1.IPFamily
	for _, f := range fams {
		if have[f] {
			continue
		}
		a, ok := firstFree(pools, f, cl.lbIPs)
		if !ok {
			missing = append(missing, f)
			continue
		}
		cl.lbIPs[a] = key
		s.Status.LoadBalancer.Ingress = append(s.Status.LoadBalancer.Ingress, corev1.LoadBalancerIngress{IP: a.String()})
	}
	if len(missing) == len(fams) {
		return fmt.Errorf("no free address of family %v in the IPPools with allowedUses LoadBalancer: %w", missing, ErrExhausted)
	}
	return nil
}

// firstFree returns the lowest free address of family f, pools in name order.
func firstFree(pools []netip.Prefix, f corev1.IPFamily, used map[netip.Addr]string) (netip.Addr, bool) {
	for _, p := range pools {
		if familyOf(p.Addr()) != f {
			continue
		}
		first, n := hostRange(p)
		for i := uint64(0); i < min(n, maxScan); i++ {
			a, _ := ipmath.Add(p.Addr(), first+i)
			if _, taken := used[a]; !taken {
				return a, true
			}
		}
	}
	return netip.Addr{}, false
}
