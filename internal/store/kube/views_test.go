package kube_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/trellisnet/trellis/internal/model"
	"github.com/trellisnet/trellis/internal/store"
	"github.com/trellisnet/trellis/internal/store/kube"
	"github.com/trellisnet/trellis/internal/store/storetest"
)

// TestDerivedKinds: in the kubernetes datastore a WorkloadEndpoint is a view of its Pod and
// a Calico Node one of the Kubernetes Node (Calico's data model).
func TestDerivedKinds(t *testing.T) {
	c := startAPIServer(t)
	s := newStore(t, c)
	if !store.DerivedEndpoints(s) {
		t.Fatal("store.DerivedEndpoints(kube store) = false")
	}
	t.Run("WorkloadEndpoint", func(t *testing.T) { podEndpoints(t, s, c.Kubeconfig) })
	t.Run("CalicoNode", func(t *testing.T) { calicoNodes(t, newStore(t, c)) })
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func kubeNode(name string, lbls map[string]string) *corev1.Node {
	n := model.KindK8sNode.New().(*corev1.Node)
	n.Name, n.Labels = name, lbls
	return n
}

func endpoint(node, ns, pod, cid string, nets ...string) *model.WorkloadEndpoint {
	w := model.KindWorkloadEndpoint.New().(*model.WorkloadEndpoint)
	w.Namespace, w.Name = ns, model.EndpointName(node, pod, cid, "eth0")
	w.Spec = model.WorkloadEndpointSpec{Orchestrator: model.OrchestratorK8s, Node: node, Pod: pod,
		ContainerID: cid, Endpoint: "eth0", IPNetworks: nets, MAC: "02:00:00:00:00:01"}
	return w
}

func podEndpoints(t *testing.T, s store.Store, kubeconfig string) {
	ctx := testCtx(t)
	for _, o := range []model.Object{kubeNode("kdd-1", nil), nsObj("web")} {
		if _, err := s.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { _, _ = s.Delete(context.Background(), model.KindK8sNode, "", "kdd-1", store.DeleteOptions{}) })
	res, err := s.List(ctx, model.KindWorkloadEndpoint, store.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	w, err := s.Watch(ctx, model.KindWorkloadEndpoint, store.WatchOptions{Revision: res.Revision})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()

	// A WEP for a pod that does not exist is refused.
	if _, err := s.Create(ctx, endpoint("kdd-1", "web", "missing", "c0", "10.244.1.4/32")); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("create endpoint of a missing pod: %v, want an error naming the missing pod", err)
	}
	pod := storetest.Pod("web", "frontend", map[string]string{"app": "frontend"})
	pod.Spec.NodeName = "kdd-1"
	pod.Spec.Containers[0].Ports = []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}}
	if _, err := s.Create(ctx, pod); err != nil {
		t.Fatal(err)
	}
	// A pod without the CNI's annotations shows no endpoint.
	if _, err := s.Get(ctx, model.KindWorkloadEndpoint, "web", model.EndpointName("kdd-1", "frontend", "c1", "eth0")); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("get endpoint before the CNI wrote it: %v, want ErrNotFound", err)
	}
	wep := endpoint("kdd-1", "web", "frontend", "c1", "10.244.1.5/32", "fd00::5/128")
	created, err := s.Create(ctx, wep)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Create(ctx, wep); !errors.Is(err, store.ErrAlreadyExists) {
		t.Errorf("second create: %v, want ErrAlreadyExists", err)
	}
	p, err := s.Get(ctx, model.KindPod, "web", "frontend")
	if err != nil {
		t.Fatal(err)
	}
	ann := p.GetAnnotations()
	if ann[model.AnnotationPodIPs] != "10.244.1.5/32,fd00::5/128" || ann[model.AnnotationPodIP] != "10.244.1.5/32" || ann[model.AnnotationContainerID] != "c1" {
		t.Errorf("pod annotations after the endpoint write: %v", ann)
	}
	got, err := s.Get(ctx, model.KindWorkloadEndpoint, "web", wep.Name)
	if err != nil {
		t.Fatal(err)
	}
	g := got.(*model.WorkloadEndpoint)
	if g.UID != p.GetUID() || g.ResourceVersion != p.GetResourceVersion() || created.GetResourceVersion() != p.GetResourceVersion() {
		t.Errorf("endpoint uid/resourceVersion %s/%s, pod's %s/%s", g.UID, g.ResourceVersion, p.GetUID(), p.GetResourceVersion())
	}
	if g.Labels["app"] != "frontend" || g.Labels[model.LabelNamespace] != "web" || g.Labels[model.LabelServiceAccount] != "default" {
		t.Errorf("endpoint labels %v", g.Labels)
	}
	if g.Spec.InterfaceName != model.HostVethName("web", "frontend", "c1") || len(g.Spec.Ports) != 1 || g.Spec.Ports[0].Name != "http" ||
		len(g.Spec.Profiles) != 2 || g.Spec.Profiles[1] != "ksa.web.default" || g.Spec.MAC != "" {
		t.Errorf("endpoint spec %+v", g.Spec)
	}
	if ev := storetest.Next(t, w); ev.Type != store.EventAdded || ev.Object.GetName() != wep.Name {
		t.Errorf("watch: %s, want ADDED %s", storetest.Describe(ev), wep.Name)
	}
	for sel, want := range map[string]int{"app == frontend": 1, "app=frontend,projectcalico.org/namespace=web": 1, "app=backend": 0} {
		ls, err := labels.Parse(strings.ReplaceAll(sel, "==", "="))
		if err != nil {
			t.Fatal(err)
		}
		l, err := s.List(ctx, model.KindWorkloadEndpoint, store.ListOptions{Labels: ls})
		if err != nil {
			t.Fatal(err)
		}
		if len(l.Items) != want {
			t.Errorf("list with %q: %d endpoints, want %d", sel, len(l.Items), want)
		}
	}
	// A stale compare-and-swap is a conflict; a current one writes.
	upd := model.Clone(got).(*model.WorkloadEndpoint)
	upd.Spec.IPNetworks = []string{"10.244.1.6/32"}
	upd.ResourceVersion = res.Revision
	if _, err := s.Update(ctx, upd); !errors.Is(err, store.ErrConflict) {
		t.Errorf("update with a stale resourceVersion: %v, want ErrConflict", err)
	}
	upd.ResourceVersion = got.GetResourceVersion()
	if _, err := s.Update(ctx, upd); err != nil {
		t.Fatal(err)
	}
	if ev := storetest.Next(t, w); ev.Type != store.EventModified || ev.Object.(*model.WorkloadEndpoint).Spec.IPNetworks[0] != "10.244.1.6/32" {
		t.Errorf("watch: %s, want MODIFIED with the new address", storetest.Describe(ev))
	}
	// A label change of the pod is one of the endpoint.
	p, _ = s.Get(ctx, model.KindPod, "web", "frontend")
	p.SetLabels(map[string]string{"app": "frontend", "tier": "web"})
	if _, err := s.Update(ctx, p); err != nil {
		t.Fatal(err)
	}
	if ev := storetest.Next(t, w); ev.Type != store.EventModified || ev.Object.GetLabels()["tier"] != "web" {
		t.Errorf("watch: %s, want MODIFIED with label tier", storetest.Describe(ev))
	}
	// Deleting the endpoint removes the annotations; the pod stays.
	if _, err := s.Delete(ctx, model.KindWorkloadEndpoint, "web", wep.Name, store.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	p, err = s.Get(ctx, model.KindPod, "web", "frontend")
	if err != nil {
		t.Fatal(err)
	}
	if a := p.GetAnnotations(); a[model.AnnotationContainerID] != "" || a[model.AnnotationPodIPs] != "" {
		t.Errorf("pod annotations after deleting the endpoint: %v", a)
	}
	if ev := storetest.Next(t, w); ev.Type != store.EventDeleted || ev.Object.GetName() != wep.Name {
		t.Errorf("watch: %s, want DELETED %s", storetest.Describe(ev), wep.Name)
	}
	if _, err := s.Delete(ctx, model.KindWorkloadEndpoint, "web", wep.Name, store.DeleteOptions{}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("second delete: %v, want ErrNotFound", err)
	}
	// Deleting the pod deletes its endpoint (grace period 0: no kubelet runs here).
	if _, err := s.Create(ctx, wep); err != nil {
		t.Fatal(err)
	}
	if ev := storetest.Next(t, w); ev.Type != store.EventAdded {
		t.Errorf("watch: %s, want ADDED", storetest.Describe(ev))
	}
	forceDeletePod(t, kubeconfig, "web", "frontend")
	ev := storetest.Next(t, w)
	if ev.Type == store.EventModified { // deletionTimestamp set first: still an endpoint
		ev = storetest.Next(t, w)
	}
	if ev.Type != store.EventDeleted || ev.Object.GetName() != wep.Name {
		t.Errorf("watch after deleting the pod: %s, want DELETED %s", storetest.Describe(ev), wep.Name)
	}
}

func nsObj(name string) *corev1.Namespace {
	n := model.KindNamespace.New().(*corev1.Namespace)
	n.Name = name
	return n
}

// forceDeletePod is the kubelet's part of a pod deletion, which the store never does.
func forceDeletePod(t *testing.T, kubeconfig, ns, name string) {
	t.Helper()
	rc, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	dyn, err := dynamic.NewForConfig(rc)
	if err != nil {
		t.Fatal(err)
	}
	zero := int64(0)
	if err := dyn.Resource(kube.Resource(model.KindPod)).Namespace(ns).Delete(context.Background(), name,
		metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil {
		t.Fatal(err)
	}
}

func calicoNodes(t *testing.T, s store.Store) {
	ctx := testCtx(t)
	cn := model.KindNode.New().(*model.Node)
	cn.Name = "kdd-2"
	if _, err := s.Create(ctx, cn); err == nil || !strings.Contains(err.Error(), "Kubernetes Node kdd-2 does not exist") {
		t.Errorf("create Calico Node without a Kubernetes Node: %v", err)
	}
	kn := kubeNode("kdd-2", map[string]string{"rack": "r1"})
	kn.Spec.PodCIDRs = []string{"10.244.2.0/24"}
	kn.Spec.PodCIDR = "10.244.2.0/24"
	if _, err := s.Create(ctx, kn); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = s.Delete(context.Background(), model.KindK8sNode, "", "kdd-2", store.DeleteOptions{}) })
	if _, err := s.Create(ctx, cn); !errors.Is(err, store.ErrAlreadyExists) {
		t.Errorf("create Calico Node of an existing Kubernetes Node: %v, want ErrAlreadyExists", err)
	}
	obj, err := s.Get(ctx, model.KindNode, "", "kdd-2")
	if err != nil {
		t.Fatal(err)
	}
	n := obj.(*model.Node)
	if n.Labels["rack"] != "r1" || n.Spec.BGP != nil || len(n.Status.PodCIDRs) != 1 || n.Spec.OrchRefs[0].NodeName != "kdd-2" {
		t.Errorf("Calico Node of a bare Kubernetes Node: %+v", n)
	}
	as := model.ASNumber(64513)
	n.Spec.BGP = &model.NodeBGPSpec{IPv4Address: "192.0.2.10/24", IPv6Address: "2001:db8::10/64", ASNumber: &as, RouteReflectorClusterID: "224.0.0.1"}
	n.Spec.IPv4VXLANTunnelAddr, n.Spec.VXLANTunnelMACAddr = "10.244.2.0", "02:00:00:00:00:02"
	upd, err := s.Update(ctx, n)
	if err != nil {
		t.Fatal(err)
	}
	k, err := s.Get(ctx, model.KindK8sNode, "", "kdd-2")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{kube.AnnotationIPv4Address: "192.0.2.10/24", kube.AnnotationIPv6Address: "2001:db8::10/64",
		kube.AnnotationASNumber: "64513", kube.AnnotationRouteReflectorClusterID: "224.0.0.1",
		kube.AnnotationIPv4VXLANTunnelAddr: "10.244.2.0", kube.AnnotationVXLANTunnelMACAddr: "02:00:00:00:00:02"}
	for a, v := range want {
		if got := k.GetAnnotations()[a]; got != v {
			t.Errorf("node annotation %s = %q, want %q", a, got, v)
		}
	}
	again, err := s.Get(ctx, model.KindNode, "", "kdd-2")
	if err != nil {
		t.Fatal(err)
	}
	g := again.(*model.Node)
	if g.Spec.BGP == nil || g.Spec.BGP.IPv4Address != "192.0.2.10/24" || *g.Spec.BGP.ASNumber != 64513 ||
		g.Spec.VXLANTunnelMACAddr != "02:00:00:00:00:02" || g.ResourceVersion != upd.GetResourceVersion() {
		t.Errorf("Calico Node after update: %+v", g.Spec)
	}
	if len(g.Spec.Addresses) == 0 || g.Spec.Addresses[0] != (model.NodeAddress{Address: "192.0.2.10/24", Type: model.NodeAddressCalicoNode}) {
		t.Errorf("addresses %v, want the BGP address first", g.Spec.Addresses)
	}
	n.ResourceVersion = "1"
	if _, err := s.Update(ctx, n); !errors.Is(err, store.ErrConflict) {
		t.Errorf("update with a stale resourceVersion: %v, want ErrConflict", err)
	}
	if _, err := s.Delete(ctx, model.KindNode, "", "kdd-2", store.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	after, err := s.Get(ctx, model.KindNode, "", "kdd-2")
	if err != nil {
		t.Fatal(err)
	}
	if b := after.(*model.Node).Spec.BGP; b != nil || after.(*model.Node).Spec.VXLANTunnelMACAddr != "" {
		t.Errorf("Calico Node after delete still has %+v", after.(*model.Node).Spec)
	}
	if _, err := s.Get(ctx, model.KindK8sNode, "", "kdd-2"); err != nil {
		t.Errorf("the Kubernetes Node must stay: %v", err)
	}
}
