package controller

import (
	"errors"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/trellisnet/trellis/internal/model"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func svc(name string, age int, mod func(*corev1.Service)) *corev1.Service {
	s := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name, CreationTimestamp: metav1.NewTime(t0.Add(time.Duration(age) * time.Second))},
		Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, Ports: []corev1.ServicePort{{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP}}},
	}
	if mod != nil {
		mod(s)
	}
	return s
}

func byName(out []*corev1.Service) map[string]*corev1.Service {
	m := map[string]*corev1.Service{}
	for _, s := range out {
		m[s.Name] = s
	}
	return m
}

func TestPlanServicesClusterIP(t *testing.T) {
	cfg := DefaultConfig()
	tests := []struct {
		name  string
		svcs  []*corev1.Service
		check func(t *testing.T, got map[string]*corev1.Service)
	}{
		{"allocates an address in the CIDR with family and policy", []*corev1.Service{svc("a", 0, nil)}, func(t *testing.T, got map[string]*corev1.Service) {
			s := got["a"]
			a := netip.MustParseAddr(s.Spec.ClusterIP)
			if !DefaultServiceCIDR.Contains(a) || a == DefaultDNSAddr {
				t.Errorf("clusterIP %s not in %s or reserved", a, DefaultServiceCIDR)
			}
			if diff := cmp.Diff([]string{s.Spec.ClusterIP}, s.Spec.ClusterIPs); diff != "" {
				t.Errorf("clusterIPs (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff([]corev1.IPFamily{corev1.IPv4Protocol}, s.Spec.IPFamilies); diff != "" {
				t.Errorf("ipFamilies (-want +got):\n%s", diff)
			}
			if s.Spec.IPFamilyPolicy == nil || *s.Spec.IPFamilyPolicy != corev1.IPFamilyPolicySingleStack {
				t.Errorf("ipFamilyPolicy = %v, want SingleStack", s.Spec.IPFamilyPolicy)
			}
		}},
		{"a complete service is left alone", []*corev1.Service{svc("a", 0, func(s *corev1.Service) {
			pol := corev1.IPFamilyPolicySingleStack
			s.Spec.ClusterIP, s.Spec.ClusterIPs, s.Spec.IPFamilies, s.Spec.IPFamilyPolicy = "10.96.0.20", []string{"10.96.0.20"}, []corev1.IPFamily{corev1.IPv4Protocol}, &pol
		})}, func(t *testing.T, got map[string]*corev1.Service) {
			if len(got) != 0 {
				t.Errorf("updates = %v, want none", got)
			}
		}},
		{"the older service keeps a duplicate address", []*corev1.Service{
			svc("young", 5, func(s *corev1.Service) { s.Spec.ClusterIP = "10.96.0.20" }),
			svc("old", 1, func(s *corev1.Service) { s.Spec.ClusterIP = "10.96.0.20" }),
		}, func(t *testing.T, got map[string]*corev1.Service) {
			if got["old"].Spec.ClusterIP != "10.96.0.20" {
				t.Errorf("old clusterIP = %s, want 10.96.0.20", got["old"].Spec.ClusterIP)
			}
			if ip := got["young"].Spec.ClusterIP; ip == "10.96.0.20" || ip == "" {
				t.Errorf("young clusterIP = %q, want a new address", ip)
			}
		}},
		{"headless gets families only", []*corev1.Service{svc("h", 0, func(s *corev1.Service) { s.Spec.ClusterIP = corev1.ClusterIPNone })},
			func(t *testing.T, got map[string]*corev1.Service) {
				s := got["h"]
				if s.Spec.ClusterIP != corev1.ClusterIPNone || len(s.Spec.ClusterIPs) != 1 || s.Spec.ClusterIPs[0] != corev1.ClusterIPNone {
					t.Errorf("headless clusterIP(s) = %q %q", s.Spec.ClusterIP, s.Spec.ClusterIPs)
				}
				if len(s.Spec.IPFamilies) != 1 {
					t.Errorf("ipFamilies = %v", s.Spec.IPFamilies)
				}
			}},
		{"ExternalName is left alone", []*corev1.Service{svc("x", 0, func(s *corev1.Service) {
			s.Spec.Type, s.Spec.ExternalName, s.Spec.Ports = corev1.ServiceTypeExternalName, "example.org", nil
		})}, func(t *testing.T, got map[string]*corev1.Service) {
			if len(got) != 0 {
				t.Errorf("updates = %v, want none", got)
			}
		}},
		{"NodePort gets distinct node ports in range", []*corev1.Service{
			svc("np", 0, func(s *corev1.Service) {
				s.Spec.Type = corev1.ServiceTypeNodePort
				s.Spec.Ports = append(s.Spec.Ports, corev1.ServicePort{Name: "https", Port: 443, Protocol: corev1.ProtocolTCP})
			}),
			svc("fixed", 0, func(s *corev1.Service) {
				s.Spec.Type = corev1.ServiceTypeNodePort
				s.Spec.Ports[0].NodePort = 30180
			}),
		}, func(t *testing.T, got map[string]*corev1.Service) {
			p := got["np"].Spec.Ports
			if p[0].NodePort < 30000 || p[0].NodePort > 32767 || p[1].NodePort < 30000 || p[1].NodePort > 32767 {
				t.Errorf("node ports %d %d out of range", p[0].NodePort, p[1].NodePort)
			}
			if p[0].NodePort == p[1].NodePort || p[0].NodePort == 30180 || p[1].NodePort == 30180 {
				t.Errorf("node ports %d %d collide", p[0].NodePort, p[1].NodePort)
			}
			if got["fixed"].Spec.Ports[0].NodePort != 30180 {
				t.Errorf("fixed node port changed to %d", got["fixed"].Spec.Ports[0].NodePort)
			}
			if got["np"].Spec.HealthCheckNodePort != 0 {
				t.Errorf("Cluster policy got a health-check port %d", got["np"].Spec.HealthCheckNodePort)
			}
		}},
		{"Local traffic policy gets a health-check node port", []*corev1.Service{svc("local", 0, func(s *corev1.Service) {
			s.Spec.Type, s.Spec.ExternalTrafficPolicy = corev1.ServiceTypeNodePort, corev1.ServiceExternalTrafficPolicyLocal
		})}, func(t *testing.T, got map[string]*corev1.Service) {
			s := got["local"]
			if h := s.Spec.HealthCheckNodePort; h < 30000 || h > 32767 || h == s.Spec.Ports[0].NodePort {
				t.Errorf("healthCheckNodePort = %d (node port %d)", h, s.Spec.Ports[0].NodePort)
			}
		}},
		{"back to ClusterIP releases node ports", []*corev1.Service{svc("back", 0, func(s *corev1.Service) {
			s.Spec.ClusterIP = "10.96.0.30"
			s.Spec.Ports[0].NodePort = 30001
			s.Spec.HealthCheckNodePort = 30002
		})}, func(t *testing.T, got map[string]*corev1.Service) {
			s := got["back"]
			if s.Spec.Ports[0].NodePort != 0 || s.Spec.HealthCheckNodePort != 0 || s.Spec.ClusterIP != "10.96.0.30" {
				t.Errorf("got nodePort %d healthCheckNodePort %d clusterIP %s", s.Spec.Ports[0].NodePort, s.Spec.HealthCheckNodePort, s.Spec.ClusterIP)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errs := PlanServices(tt.svcs, nil, cfg)
			if len(errs) > 0 {
				t.Fatalf("problems: %v", errs)
			}
			tt.check(t, byName(out))
		})
	}
}

func TestPlanServicesExhaustedAndReserved(t *testing.T) {
	cfg := Config{ServiceCIDRs: []netip.Prefix{netip.MustParsePrefix("198.51.100.0/29")}, Reserved: []netip.Addr{netip.MustParseAddr("198.51.100.3")}}
	var svcs []*corev1.Service
	for i := range 6 {
		svcs = append(svcs, svc(fmt.Sprintf("s%d", i), i, nil))
	}
	out, errs := PlanServices(svcs, nil, cfg)
	// 6 usable addresses (.1-.6), one reserved: 5 services get one, the youngest none.
	seen := map[string]bool{}
	for _, s := range out {
		if s.Spec.ClusterIP == "" {
			continue
		}
		if seen[s.Spec.ClusterIP] || s.Spec.ClusterIP == "198.51.100.3" {
			t.Errorf("address %s handed out twice or reserved", s.Spec.ClusterIP)
		}
		seen[s.Spec.ClusterIP] = true
	}
	if len(seen) != 5 {
		t.Errorf("allocated %d addresses, want 5", len(seen))
	}
	if len(errs) != 1 || !errors.Is(errs[0], ErrExhausted) {
		t.Errorf("problems = %v, want one ErrExhausted", errs)
	}
}

func TestPlanServicesDeterministic(t *testing.T) {
	var svcs []*corev1.Service
	for i := range 50 {
		svcs = append(svcs, svc(fmt.Sprintf("s%d", i), i%7, func(s *corev1.Service) { s.Spec.Type = corev1.ServiceTypeNodePort }))
	}
	a, _ := PlanServices(svcs, nil, DefaultConfig())
	rev := make([]*corev1.Service, len(svcs))
	for i, s := range svcs {
		rev[len(svcs)-1-i] = s
	}
	b, _ := PlanServices(rev, nil, DefaultConfig())
	if diff := cmp.Diff(a, b); diff != "" {
		t.Errorf("plan depends on input order (-forward +reversed):\n%s", diff)
	}
}

func lbPool(name, cidr string, uses ...model.IPPoolAllowedUse) *model.IPPool {
	return &model.IPPool{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: model.IPPoolSpec{CIDR: cidr, AllowedUses: uses}}
}

func ingress(s *corev1.Service) []string { return lbIPs(s) }

func TestPlanServicesLoadBalancer(t *testing.T) {
	pools := []*model.IPPool{
		lbPool("workloads", "10.244.0.0/16", model.AllowedUseWorkload),
		lbPool("lb", "203.0.113.0/30", model.AllowedUseLoadBalancer),
	}
	lb := func(name string, age int, mod func(*corev1.Service)) *corev1.Service {
		return svc(name, age, func(s *corev1.Service) {
			s.Spec.Type = corev1.ServiceTypeLoadBalancer
			if mod != nil {
				mod(s)
			}
		})
	}
	tests := []struct {
		name     string
		svcs     []*corev1.Service
		want     map[string][]string
		problems int
	}{
		{"from the LoadBalancer pool only, lowest first", []*corev1.Service{lb("a", 0, nil), lb("b", 1, nil)},
			map[string][]string{"a": {"203.0.113.1"}, "b": {"203.0.113.2"}}, 0},
		{"the pool runs out", []*corev1.Service{lb("a", 0, nil), lb("b", 1, nil), lb("c", 2, nil)},
			map[string][]string{"a": {"203.0.113.1"}, "b": {"203.0.113.2"}, "c": nil}, 1},
		{"annotation requests an address", []*corev1.Service{lb("a", 0, func(s *corev1.Service) {
			s.Annotations = map[string]string{AnnotationLoadBalancerIPs: `["203.0.113.2"]`}
		})}, map[string][]string{"a": {"203.0.113.2"}}, 0},
		{"spec.loadBalancerIP outside the pools is refused", []*corev1.Service{lb("a", 0, func(s *corev1.Service) {
			s.Spec.LoadBalancerIP = "192.0.2.1"
		})}, map[string][]string{"a": nil}, 1},
		{"an assigned address is kept", []*corev1.Service{lb("a", 0, func(s *corev1.Service) {
			s.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "203.0.113.2"}}
		}), lb("b", 1, nil)}, map[string][]string{"a": {"203.0.113.2"}, "b": {"203.0.113.1"}}, 0},
		{"no longer a LoadBalancer: released", []*corev1.Service{svc("a", 0, func(s *corev1.Service) {
			s.Spec.Type = corev1.ServiceTypeNodePort
			s.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "203.0.113.2"}}
		})}, map[string][]string{"a": nil}, 0},
		{"another class is not ours", []*corev1.Service{lb("a", 0, func(s *corev1.Service) {
			cls := "metallb"
			s.Spec.LoadBalancerClass = &cls
		})}, map[string][]string{"a": nil}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errs := PlanServices(tt.svcs, pools, DefaultConfig())
			got := map[string][]string{}
			for _, s := range tt.svcs {
				got[s.Name] = ingress(s)
			}
			for _, s := range out {
				got[s.Name] = ingress(s)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ingress (-want +got):\n%s", diff)
			}
			if len(errs) != tt.problems {
				t.Errorf("problems = %v, want %d", errs, tt.problems)
			}
		})
	}
}
