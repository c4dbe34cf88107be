package controller

import (
	"cmp"
	"errors"
	"fmt"
	"hash/fnv"
	"net/netip"
	"slices"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"

	"github.com/trellisnet/trellis/internal/ipmath"
	"github.com/trellisnet/trellis/internal/model"
)

// ErrExhausted: no free address or port is left in a range.
var ErrExhausted = errors.New("range exhausted")

// maxScan bounds how many addresses of one range are tried (IPv6 ranges are huge).
const maxScan = 1 << 20

// claims records which Service owns each cluster IP, node port and load-balancer IP.
type claims struct {
	ips   map[netip.Addr]string
	ports map[int32]string
	lbIPs map[netip.Addr]string
}

// claimIP gives ip to owner unless another holds it; false means "taken".
func claimIP(m map[netip.Addr]string, ip netip.Addr, owner string) bool {
	if o, ok := m[ip]; ok && o != owner {
		return false
	}
	m[ip] = owner
	return true
}

func claimPort(m map[int32]string, p int32, owner string) bool {
	if o, ok := m[p]; ok && o != owner {
		return false
	}
	m[p] = owner
	return true
}

// Key is a namespaced object's "namespace/name".
func Key(ns, name string) string { return ns + "/" + name }

// olderFirst orders Services by creationTimestamp, then namespace/name: the order in which
// duplicate claims are settled.
func olderFirst(a, b *corev1.Service) int {
	if c := a.CreationTimestamp.Time.Compare(b.CreationTimestamp.Time); c != 0 {
		return c
	}
	return cmp.Compare(Key(a.Namespace, a.Name), Key(b.Namespace, b.Name))
}

// PlanServices returns the Services whose spec or status must change (changed copies,
// sorted by namespace/name) and the problems that kept some from being completed. It is
// pure: the same inputs give the same output.
func PlanServices(svcs []*corev1.Service, pools []*model.IPPool, cfg Config) ([]*corev1.Service, []error) {
	return planServices(svcs, pools, cfg, true)
}

// PlanLoadBalancers is PlanServices for a cluster whose API server allocates cluster IPs
// and node ports (the kubernetes datastore): it changes status.loadBalancer only.
func PlanLoadBalancers(svcs []*corev1.Service, pools []*model.IPPool) ([]*corev1.Service, []error) {
	return planServices(svcs, pools, Config{}, false)
}

// planServices plans load-balancer addresses and, when allocate is set, cluster IPs and
// node ports.
func planServices(svcs []*corev1.Service, pools []*model.IPPool, cfg Config, allocate bool) ([]*corev1.Service, []error) {
	cfg = cfg.withDefaults()
	work := make([]*corev1.Service, len(svcs))
	for i, s := range svcs {
		work[i] = s.DeepCopy()
	}
	slices.SortFunc(work, olderFirst)
	cl := claims{ips: map[netip.Addr]string{}, ports: map[int32]string{}, lbIPs: map[netip.Addr]string{}}
	for _, s := range work {
		if allocate {
			claimExisting(s, cl)
		}
		claimLoadBalancer(s, cl)
	}
	lbPools := loadBalancerPools(pools)
	var errs []error
	for _, s := range work {
		if allocate {
			if err := allocateService(s, cl, cfg); err != nil {
				errs = append(errs, fmt.Errorf("allocate service %s: %w", Key(s.Namespace, s.Name), err))
			}
		}
		if err := assignLoadBalancer(s, cl, lbPools); err != nil {
			errs = append(errs, fmt.Errorf("assign load-balancer IP to service %s: %w", Key(s.Namespace, s.Name), err))
		}
	}
	orig := map[string]*corev1.Service{}
	for _, s := range svcs {
		orig[Key(s.Namespace, s.Name)] = s
	}
	var out []*corev1.Service
	for _, s := range work {
		o := orig[Key(s.Namespace, s.Name)]
		if !equality.Semantic.DeepEqual(o.Spec, s.Spec) || !equality.Semantic.DeepEqual(o.Status, s.Status) {
			out = append(out, s)
		}
	}
	slices.SortFunc(out, func(a, b *corev1.Service) int {
		return cmp.Compare(Key(a.Namespace, a.Name), Key(b.Namespace, b.Name))
	})
	return out, errs
}

// claimExisting records what s holds, in age order, and drops from s what an older
// Service holds already.
func claimExisting(s *corev1.Service, cl claims) {
	key := Key(s.Namespace, s.Name)
	if s.Spec.Type == corev1.ServiceTypeExternalName {
		return
	}
	if hasClusterIP(s) {
		ips := s.Spec.ClusterIPs
		if len(ips) == 0 && s.Spec.ClusterIP != "" {
			ips = []string{s.Spec.ClusterIP}
		}
		var kept []string
		for _, ip := range ips {
			a, err := netip.ParseAddr(ip)
			if err != nil || !claimIP(cl.ips, a, key) {
				continue // unusable or taken by an older service: allocated again
			}
			kept = append(kept, a.String())
		}
		setClusterIPs(s, kept)
	}
	for i := range s.Spec.Ports {
		if p := s.Spec.Ports[i].NodePort; p != 0 && !claimPort(cl.ports, p, key) {
			s.Spec.Ports[i].NodePort = 0
		}
	}
	if p := s.Spec.HealthCheckNodePort; p != 0 && !claimPort(cl.ports, p, key) {
		s.Spec.HealthCheckNodePort = 0
	}
}

// claimLoadBalancer records the load-balancer addresses s holds, in age order, and drops
// from s those an older Service holds already.
func claimLoadBalancer(s *corev1.Service, cl claims) {
	key := Key(s.Namespace, s.Name)
	if s.Spec.Type == corev1.ServiceTypeLoadBalancer {
		var kept []corev1.LoadBalancerIngress
		for _, in := range s.Status.LoadBalancer.Ingress {
			a, err := netip.ParseAddr(in.IP)
			if err == nil && !claimIP(cl.lbIPs, a, key) {
				continue
			}
			kept = append(kept, in)
		}
		s.Status.LoadBalancer.Ingress = kept
	}
}

func hasClusterIP(s *corev1.Service) bool {
	return s.Spec.Type != corev1.ServiceTypeExternalName && s.Spec.ClusterIP != corev1.ClusterIPNone
}

// setClusterIPs writes clusterIPs and clusterIP (the first), and the families they imply.
func setClusterIPs(s *corev1.Service, ips []string) {
	if len(ips) == 0 {
		s.Spec.ClusterIP, s.Spec.ClusterIPs = "", nil
		return
	}
	s.Spec.ClusterIPs = ips
	s.Spec.ClusterIP = ips[0]
}

func familyOf(a netip.Addr) corev1.IPFamily {
	if a.Is4() {
		return corev1.IPv4Protocol
	}
	return corev1.IPv6Protocol
}

// wantFamilies is the ordered list of families s must have a cluster IP of.
func wantFamilies(s *corev1.Service, cfg Config) ([]corev1.IPFamily, error) {
	var have []corev1.IPFamily
	for _, p := range cfg.ServiceCIDRs {
		have = append(have, familyOf(p.Addr()))
	}
	if len(s.Spec.IPFamilies) > 0 {
		for _, f := range s.Spec.IPFamilies {
			if !slices.Contains(have, f) {
				return nil, fmt.Errorf("spec.ipFamilies: no %s service CIDR is configured", f)
			}
		}
		return slices.Clone(s.Spec.IPFamilies), nil
	}
	if len(s.Spec.ClusterIPs) > 0 {
		var out []corev1.IPFamily
		for _, ip := range s.Spec.ClusterIPs {
			out = append(out, familyOf(netip.MustParseAddr(ip)))
		}
		return out, nil
	}
	policy := corev1.IPFamilyPolicySingleStack
	if s.Spec.IPFamilyPolicy != nil {
		policy = *s.Spec.IPFamilyPolicy
	}
	switch policy {
	case corev1.IPFamilyPolicyRequireDualStack:
		if len(have) < 2 {
			return nil, errors.New("spec.ipFamilyPolicy: RequireDualStack but the cluster has one service CIDR")
		}
		return have, nil
	case corev1.IPFamilyPolicyPreferDualStack:
		return have, nil
	}
	return have[:1], nil
}

// allocateService completes cluster IPs, families, node ports and the health-check port.
func allocateService(s *corev1.Service, cl claims, cfg Config) error {
	key := Key(s.Namespace, s.Name)
	if s.Spec.Type == corev1.ServiceTypeExternalName {
		return nil
	}
	var errs []error
	fams, err := wantFamilies(s, cfg)
	if err != nil {
		errs = append(errs, err)
	} else if !hasClusterIP(s) {
		// Headless: families only.
		s.Spec.ClusterIPs = []string{corev1.ClusterIPNone}
		s.Spec.IPFamilies = fams
	} else {
		ips := slices.Clone(s.Spec.ClusterIPs)
		got := map[corev1.IPFamily]bool{}
		for _, ip := range ips {
			got[familyOf(netip.MustParseAddr(ip))] = true
		}
		for _, f := range fams {
			if got[f] {
				continue
			}
			a, err := allocIP(cidrOf(cfg, f), key, cl.ips, cfg.Reserved)
			if err != nil {
				errs = append(errs, fmt.Errorf("cluster IP (%s): %w", f, err))
				continue
			}
			cl.ips[a] = key
			ips = append(ips, a.String())
			got[f] = true
		}
		setClusterIPs(s, ips)
		s.Spec.IPFamilies = nil
		for _, ip := range ips {
			s.Spec.IPFamilies = append(s.Spec.IPFamilies, familyOf(netip.MustParseAddr(ip)))
		}
	}
	if s.Spec.IPFamilyPolicy == nil && len(s.Spec.IPFamilies) > 0 {
		p := corev1.IPFamilyPolicySingleStack
		if len(s.Spec.IPFamilies) > 1 {
			p = corev1.IPFamilyPolicyPreferDualStack
		}
		s.Spec.IPFamilyPolicy = &p
	}
	external := s.Spec.Type == corev1.ServiceTypeNodePort || s.Spec.Type == corev1.ServiceTypeLoadBalancer
	allocPorts := s.Spec.Type == corev1.ServiceTypeNodePort ||
		(s.Spec.Type == corev1.ServiceTypeLoadBalancer && (s.Spec.AllocateLoadBalancerNodePorts == nil || *s.Spec.AllocateLoadBalancerNodePorts))
	for i := range s.Spec.Ports {
		p := &s.Spec.Ports[i]
		switch {
		case !external:
			p.NodePort = 0
		case p.NodePort == 0 && allocPorts:
			n, err := allocPort(cfg, key+"/"+p.Name+"/"+strconv.Itoa(i), cl.ports)
			if err != nil {
				errs = append(errs, fmt.Errorf("spec.ports[%d].nodePort: %w", i, err))
				continue
			}
			cl.ports[n] = key
			p.NodePort = n
		}
	}
	if external && s.Spec.ExternalTrafficPolicy == corev1.ServiceExternalTrafficPolicyLocal {
		if s.Spec.HealthCheckNodePort == 0 {
			n, err := allocPort(cfg, key+"/healthz", cl.ports)
			if err != nil {
				errs = append(errs, fmt.Errorf("spec.healthCheckNodePort: %w", err))
			} else {
				cl.ports[n] = key
				s.Spec.HealthCheckNodePort = n
			}
		}
	} else {
		s.Spec.HealthCheckNodePort = 0
	}
	return errors.Join(errs...)
}

func cidrOf(cfg Config, f corev1.IPFamily) netip.Prefix {
	for _, p := range cfg.ServiceCIDRs {
		if familyOf(p.Addr()) == f {
			return p
		}
	}
	return netip.Prefix{}
}

func hash64(s string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(s))
	return h.Sum64()
}

// hostRange is the first usable offset and the count of usable addresses of p: the network
// address and, for IPv4, the broadcast address are never used.
func hostRange(p netip.Prefix) (first, n uint64) {
	bits := p.Addr().BitLen() - p.Bits()
	if bits >= 63 {
		return 1, maxScan
	}
	size := uint64(1) << bits
	if p.Addr().Is4() {
		if size <= 2 {
			return 0, size
		}
		return 1, size - 2
	}
	return 1, size - 1
}

// allocIP picks a free address of p for key: it starts at a point derived from key and
// scans forward, so concurrent allocations for different services rarely collide.
func allocIP(p netip.Prefix, key string, used map[netip.Addr]string, reserved []netip.Addr) (netip.Addr, error) {
	if !p.IsValid() {
		return netip.Addr{}, errors.New("no service CIDR of this family")
	}
	first, n := hostRange(p)
	start := hash64(key) % n
	for i := uint64(0); i < min(n, maxScan); i++ {
		a, _ := ipmath.Add(p.Masked().Addr(), first+(start+i)%n)
		if _, taken := used[a]; taken || slices.Contains(reserved, a) {
			continue
		}
		return a, nil
	}
	return netip.Addr{}, fmt.Errorf("%s: %w", p, ErrExhausted)
}

func allocPort(cfg Config, key string, used map[int32]string) (int32, error) {
	n := int64(cfg.NodePortMax-cfg.NodePortMin) + 1
	start := int64(hash64(key) % uint64(n))
	for i := int64(0); i < n; i++ {
		p := cfg.NodePortMin + int32((start+i)%n)
		if _, taken := used[p]; !taken {
			return p, nil
		}
	}
	return 0, fmt.Errorf("node ports %d-%d: %w", cfg.NodePortMin, cfg.NodePortMax, ErrExhausted)
}
