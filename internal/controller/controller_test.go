package controller

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/trellisnet/trellis/internal/model"
	"github.com/trellisnet/trellis/internal/store"
	"github.com/trellisnet/trellis/internal/store/memory"
)

// start runs n controllers over one memory store until the test ends.
func start(t *testing.T, n int) store.Store {
	t.Helper()
	return startOn(t, memory.New(0), n)
}

// startOn runs n controller instances over st until the test ends.
func startOn(t *testing.T, st store.Store, n int) store.Store {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait(); st.Close() })
	for range n {
		c, err := New(DefaultConfig(), st, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() { _ = c.Run(ctx) })
	}
	return st
}

// eventually polls cond until it returns "" or 10s pass.
func eventually(t *testing.T, what string, cond func() string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	msg := ""
	for time.Now().Before(deadline) {
		if msg = cond(); msg == "" {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s: %s", what, msg)
}

func mustList[T any](t *testing.T, st store.Store, k *model.Kind) []T {
	t.Helper()
	out, err := list[T](context.Background(), st, k)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func create(t *testing.T, st store.Store, o model.Object) {
	t.Helper()
	model.SetDefaults(o)
	if _, err := st.Create(context.Background(), o); err != nil {
		t.Fatalf("create %s: %v", o.GetName(), err)
	}
}

func TestRunAllocatesWithoutDuplicatesUnderConcurrency(t *testing.T) {
	st := start(t, 2) // two allocators racing
	var wg sync.WaitGroup
	const n = 40
	for i := range n {
		wg.Go(func() {
			s := svc(fmt.Sprintf("s%02d", i), 0, func(s *corev1.Service) { s.Spec.Type = corev1.ServiceTypeNodePort })
			s.CreationTimestamp = metav1.Time{}
			s.TypeMeta = metav1.TypeMeta{APIVersion: "v1", Kind: "Service"}
			create(t, st, s)
		})
	}
	wg.Wait()
	eventually(t, "every service allocated, no duplicates", func() string {
		svcs := mustList[*corev1.Service](t, st, model.KindService)
		ips, ports := map[string]string{}, map[int32]string{}
		for _, s := range svcs {
			if s.Spec.ClusterIP == "" || s.Spec.Ports[0].NodePort == 0 {
				return s.Name + " not allocated yet"
			}
			if o, dup := ips[s.Spec.ClusterIP]; dup {
				return fmt.Sprintf("%s and %s share %s", o, s.Name, s.Spec.ClusterIP)
			}
			if o, dup := ports[s.Spec.Ports[0].NodePort]; dup {
				return fmt.Sprintf("%s and %s share node port %d", o, s.Name, s.Spec.Ports[0].NodePort)
			}
			ips[s.Spec.ClusterIP], ports[s.Spec.Ports[0].NodePort] = s.Name, s.Name
		}
		if len(svcs) != n {
			return fmt.Sprintf("%d services", len(svcs))
		}
		return ""
	})
}

func TestRunLoadBalancerFromPools(t *testing.T) {
	st := start(t, 1)
	p := lbPool("lb", "203.0.113.0/30", model.AllowedUseLoadBalancer)
	p.TypeMeta = metav1.TypeMeta{APIVersion: model.APIVersionCalico, Kind: "IPPool"}
	create(t, st, p)
	s := svc("lb", 0, func(s *corev1.Service) { s.Spec.Type = corev1.ServiceTypeLoadBalancer })
	s.TypeMeta = metav1.TypeMeta{APIVersion: "v1", Kind: "Service"}
	create(t, st, s)
	get := func() *corev1.Service {
		o, err := st.Get(context.Background(), model.KindService, "default", "lb")
		if err != nil {
			t.Fatal(err)
		}
		return o.(*corev1.Service)
	}
	eventually(t, "load-balancer IP assigned", func() string {
		if got := lbIPs(get()); len(got) != 1 || got[0] != "203.0.113.1" {
			return fmt.Sprintf("ingress %v", got)
		}
		return ""
	})
	// Changing the type releases the address.
	for {
		s := get()
		s.Spec.Type = corev1.ServiceTypeClusterIP
		for i := range s.Spec.Ports {
			s.Spec.Ports[i].NodePort = 0
		}
		if _, err := st.Update(context.Background(), s); err == nil {
			break
		}
	}
	eventually(t, "load-balancer IP released", func() string {
		if got := lbIPs(get()); len(got) != 0 {
			return fmt.Sprintf("ingress %v", got)
		}
		return ""
	})
}

func TestRunEndpointSlicesFollowPods(t *testing.T) {
	st := start(t, 1)
	ctx := context.Background()
	web := map[string]string{"app": "web"}
	s := svc("web", 0, func(s *corev1.Service) {
		s.Spec.Selector = web
		s.Spec.Ports[0].TargetPort = intstr.FromString("web")
	})
	s.TypeMeta = metav1.TypeMeta{APIVersion: "v1", Kind: "Service"}
	create(t, st, s)
	manual := svc("manual", 0, nil)
	manual.TypeMeta = metav1.TypeMeta{APIVersion: "v1", Kind: "Service"}
	create(t, st, manual)
	foreign := &discoveryv1.EndpointSlice{TypeMeta: metav1.TypeMeta{APIVersion: "discovery.k8s.io/v1", Kind: "EndpointSlice"},
		ObjectMeta:  metav1.ObjectMeta{Namespace: "default", Name: "manual-1", Labels: map[string]string{LabelServiceName: "manual"}},
		AddressType: discoveryv1.AddressTypeIPv4, Endpoints: []discoveryv1.Endpoint{{Addresses: []string{"192.0.2.7"}}}}
	create(t, st, foreign)
	for _, p := range []*corev1.Pod{pod("a", "10.244.0.10", true, web), pod("b", "10.244.0.11", false, web)} {
		p.TypeMeta = metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"}
		p.UID = ""
		create(t, st, p)
	}
	endpoints := func(svcName string) []string {
		var all []*discoveryv1.EndpointSlice
		for _, sl := range mustList[*discoveryv1.EndpointSlice](t, st, model.KindEndpointSlice) {
			if sl.Labels[LabelServiceName] == svcName {
				all = append(all, sl)
			}
		}
		return summary(all)
	}
	expect := func(what string, want ...string) {
		t.Helper()
		eventually(t, what, func() string {
			if got := endpoints("web"); fmt.Sprint(got) != fmt.Sprint(want) {
				return fmt.Sprintf("endpoints %q, want %q", got, want)
			}
			return ""
		})
	}
	expect("ready and unready pods", "IPv4 10.244.0.10 TTF node1 a http=TCP/8080", "IPv4 10.244.0.11 FFF node1 b http=TCP/8080")
	update := func(name string, mod func(*corev1.Pod)) {
		t.Helper()
		for {
			o, err := st.Get(ctx, model.KindPod, "default", name)
			if err != nil {
				t.Fatal(err)
			}
			p := o.(*corev1.Pod)
			mod(p)
			if _, err := st.Update(ctx, p); err == nil {
				return
			}
		}
	}
	update("b", func(p *corev1.Pod) { p.Status.Conditions[0].Status = corev1.ConditionTrue })
	expect("b became ready", "IPv4 10.244.0.10 TTF node1 a http=TCP/8080", "IPv4 10.244.0.11 TTF node1 b http=TCP/8080")
	update("a", func(p *corev1.Pod) { p.Labels = map[string]string{"app": "other"} })
	expect("a relabelled out", "IPv4 10.244.0.11 TTF node1 b http=TCP/8080")
	if _, err := st.Delete(ctx, model.KindPod, "default", "b", store.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	expect("b deleted", "IPv4 (none)")
	if _, err := st.Delete(ctx, model.KindService, "default", "web", store.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	expect("service deleted")
	o, err := st.Get(ctx, model.KindEndpointSlice, "default", "manual-1")
	if err != nil || len(o.(*discoveryv1.EndpointSlice).Endpoints) != 1 {
		t.Errorf("the selector-less service's own slice changed: %v %v", o, err)
	}
}
