package controller

import (
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
)

// benchCluster is n services with a selector each, 3 ready pods per service.
func benchCluster(n int) ([]*corev1.Service, []*corev1.Pod) {
	var svcs []*corev1.Service
	var pods []*corev1.Pod
	for i := range n {
		lbl := map[string]string{"app": fmt.Sprintf("app%d", i)}
		svcs = append(svcs, svc(fmt.Sprintf("s%d", i), i, func(s *corev1.Service) {
			s.Spec.Selector = lbl
		}))
		for j := range 3 {
			k := 3*i + j
			pods = append(pods, pod(fmt.Sprintf("p%d", k), fmt.Sprintf("10.%d.%d.%d", 100+k>>16, (k>>8)&255, k&255), true, lbl))
		}
	}
	return svcs, pods
}

// BenchmarkPlanServices10k: allocating cluster IPs and node ports for 10k new services.
func BenchmarkPlanServices10k(b *testing.B) {
	svcs, _ := benchCluster(10000)
	b.ReportAllocs()
	for b.Loop() {
		if _, errs := PlanServices(svcs, nil, DefaultConfig()); len(errs) > 0 {
			b.Fatal(errs[0])
		}
	}
}

// BenchmarkPlanSlices10k: one full EndpointSlice pass over 10k services x 3 pods, nothing
// to change (the steady state after any single event).
func BenchmarkPlanSlices10k(b *testing.B) {
	svcs, pods := benchCluster(10000)
	var stored []*discoveryv1.EndpointSlice
	stored = append(stored, PlanSlices(svcs, pods, nil).Create...)
	b.ReportAllocs()
	for b.Loop() {
		if p := PlanSlices(svcs, pods, stored); len(p.Create)+len(p.Update)+len(p.Delete) != 0 {
			b.Fatalf("steady state changes: %d %d %d", len(p.Create), len(p.Update), len(p.Delete))
		}
	}
}
