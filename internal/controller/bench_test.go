package controller

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/trellisnet/trellis/internal/model"
	"github.com/trellisnet/trellis/internal/store"
	"github.com/trellisnet/trellis/internal/store/memory"
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

// BenchmarkPodChangeToSlice measures, with the controllers running over a memory store
// holding 1k selector services of 5 pods each (5k pods), the time from one pod's write
// (its Ready condition flipped) to the write of its service's slice carrying the change;
// p50 and p99 are reported as metrics (run with -benchtime=Nx for enough samples).
func BenchmarkPodChangeToSlice(b *testing.B) {
	const nsvc, per = 1000, 5
	st := memory.New(0)
	defer st.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	bg := context.Background()
	for i := range nsvc {
		s := svc(fmt.Sprintf("s%d", i), i, func(s *corev1.Service) { s.Spec.Selector = map[string]string{"app": fmt.Sprintf("app%d", i)} })
		s.TypeMeta = metav1.TypeMeta{APIVersion: "v1", Kind: "Service"}
		if _, err := st.Create(bg, s); err != nil {
			b.Fatal(err)
		}
		for j := range per {
			k := per*i + j
			p := pod(fmt.Sprintf("p%d", k), fmt.Sprintf("10.%d.%d.%d", 100+k>>16, (k>>8)&255, k&255), true, map[string]string{"app": fmt.Sprintf("app%d", i)})
			p.TypeMeta, p.UID = metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"}, ""
			if _, err := st.Create(bg, p); err != nil {
				b.Fatal(err)
			}
		}
	}
	c, err := New(DefaultConfig(), st, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = c.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	for deadline := time.Now().Add(5 * time.Minute); ; {
		res, err := st.List(bg, model.KindEndpointSlice, store.ListOptions{})
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		for _, o := range res.Items {
			n += len(o.(*discoveryv1.EndpointSlice).Endpoints)
		}
		if n == nsvc*per {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("initial slices: %d endpoints, want %d", n, nsvc*per)
		}
		time.Sleep(100 * time.Millisecond)
	}
	w, err := st.Watch(ctx, model.KindEndpointSlice, store.WatchOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Stop()
	var lat []time.Duration
	i := 0
	b.ResetTimer()
	for b.Loop() {
		k := (i * 7919) % (nsvc * per)
		i++
		name := fmt.Sprintf("p%d", k)
		o, err := st.Get(bg, model.KindPod, "default", name)
		if err != nil {
			b.Fatal(err)
		}
		p := o.(*corev1.Pod)
		ready := p.Status.Conditions[0].Status != corev1.ConditionTrue
		p.Status.Conditions[0].Status = map[bool]corev1.ConditionStatus{true: corev1.ConditionTrue, false: corev1.ConditionFalse}[ready]
		t0 := time.Now()
		if _, err := st.Update(bg, p); err != nil {
			b.Fatal(err)
		}
		waitSlice(b, w, name, ready)
		lat = append(lat, time.Since(t0))
	}
	b.StopTimer()
	slices.Sort(lat)
	pct := func(q float64) float64 { return float64(lat[int(q*float64(len(lat)-1))].Microseconds()) / 1000 }
	b.ReportMetric(pct(0.5), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
}

// waitSlice reads slice events until one carries pod's endpoint with the Ready wanted.
func waitSlice(b *testing.B, w store.Watch, pod string, ready bool) {
	timeout := time.After(30 * time.Second)
	for {
		select {
		case ev, ok := <-w.Events():
			if !ok {
				b.Fatal("slice watch ended")
			}
			sl, _ := ev.Object.(*discoveryv1.EndpointSlice)
			if sl == nil || ev.Type == store.EventDeleted {
				continue
			}
			for _, e := range sl.Endpoints {
				if e.TargetRef != nil && e.TargetRef.Name == pod && e.Conditions.Ready != nil && *e.Conditions.Ready == ready {
					return
				}
			}
		case <-timeout:
			b.Fatalf("no slice update for pod %s", pod)
		}
	}
}
