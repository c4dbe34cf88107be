package controller

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/trellisnet/trellis/internal/kube/kubetest"
	"github.com/trellisnet/trellis/internal/model"
	"github.com/trellisnet/trellis/internal/store"
	"github.com/trellisnet/trellis/internal/store/kube"
)

// TestRunKubernetesDatastore: over a real API server (store.DerivedEndpoints) only
// LoadBalancer IPAM runs. The API server gives the Service its cluster IP and node port,
// the controller its load-balancer address, and no EndpointSlice of Trellis appears for
// the pod the Service selects (kube-controller-manager's job; none runs here).
func TestRunKubernetesDatastore(t *testing.T) {
	if testing.Short() {
		t.Skip("starts kube-apiserver; skipped with -short")
	}
	c := kubetest.Start(t)
	c.InstallCRDs(t)
	st, err := kube.New(store.Config{Kubeconfig: c.Kubeconfig})
	if err != nil {
		t.Fatal(err)
	}
	startOn(t, st, 1)
	ctx := context.Background()
	p := lbPool("lb", "203.0.113.0/30", model.AllowedUseLoadBalancer)
	p.TypeMeta = metav1.TypeMeta{APIVersion: model.APIVersionCalico, Kind: "IPPool"}
	create(t, st, p)
	pod := model.KindPod.New().(*corev1.Pod)
	pod.Namespace, pod.Name, pod.Labels = "default", "web-1", map[string]string{"app": "web"}
	pod.Spec.Containers = []corev1.Container{{Name: "app", Image: "registry.example/app:1"}}
	create(t, st, pod)
	s := svc("lb", 0, func(s *corev1.Service) {
		s.Spec.Type = corev1.ServiceTypeLoadBalancer
		s.Spec.Selector = map[string]string{"app": "web"}
	})
	s.TypeMeta = metav1.TypeMeta{APIVersion: "v1", Kind: "Service"}
	s.CreationTimestamp = metav1.Time{}
	create(t, st, s)
	var got *corev1.Service
	eventually(t, "load-balancer IP assigned", func() string {
		o, err := st.Get(ctx, model.KindService, "default", "lb")
		if err != nil {
			return err.Error()
		}
		got = o.(*corev1.Service)
		if ips := lbIPs(got); len(ips) != 1 || ips[0] != "203.0.113.1" {
			return fmt.Sprintf("ingress %v", ips)
		}
		return ""
	})
	if got.Spec.ClusterIP == "" || got.Spec.Ports[0].NodePort == 0 {
		t.Errorf("the API server did not allocate: clusterIP %q, nodePort %d", got.Spec.ClusterIP, got.Spec.Ports[0].NodePort)
	}
	time.Sleep(time.Second) // an EndpointSlice controller would have written by now
	sel := labels.SelectorFromSet(labels.Set{LabelManagedBy: ManagedBy})
	res, err := st.List(ctx, model.KindEndpointSlice, store.ListOptions{Labels: sel})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Items) != 0 {
		t.Errorf("Trellis's EndpointSlice controller ran over a kubernetes datastore: %d slices", len(res.Items))
	}
}

func TestPlanLoadBalancersLeavesAllocationAlone(t *testing.T) {
	pools := []*model.IPPool{lbPool("lb", "203.0.113.0/30", model.AllowedUseLoadBalancer)}
	in := []*corev1.Service{
		svc("a", 0, func(s *corev1.Service) { s.Spec.Type = corev1.ServiceTypeLoadBalancer }),
		svc("b", 1, nil), // no cluster IP: the API server's to give, not ours
	}
	out, errs := PlanLoadBalancers(in, pools)
	if len(errs) != 0 {
		t.Fatal(errs)
	}
	if len(out) != 1 || out[0].Name != "a" || out[0].Spec.ClusterIP != "" || out[0].Spec.Ports[0].NodePort != 0 ||
		len(lbIPs(out[0])) != 1 {
		t.Errorf("plan %+v", out)
	}
}
