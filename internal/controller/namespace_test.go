package controller

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/trellisnet/trellis/internal/model"
	"github.com/trellisnet/trellis/internal/store"
	"github.com/trellisnet/trellis/internal/store/memory"
)

func nsObj(name string) *corev1.Namespace {
	return &corev1.Namespace{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"}, ObjectMeta: metav1.ObjectMeta{Name: name}}
}

// contents are one object of each namespaced kind the issue names, in ns.
func contents(ns string) []model.Object {
	meta := func(name string) metav1.ObjectMeta { return metav1.ObjectMeta{Namespace: ns, Name: name} }
	return []model.Object{
		&corev1.Pod{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"}, ObjectMeta: meta("web"),
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Command: []string{"true"}}}}},
		&model.NetworkPolicy{TypeMeta: metav1.TypeMeta{APIVersion: model.APIVersionCalico, Kind: "NetworkPolicy"}, ObjectMeta: meta("deny")},
		&model.StagedNetworkPolicy{TypeMeta: metav1.TypeMeta{APIVersion: model.APIVersionCalico, Kind: "StagedNetworkPolicy"}, ObjectMeta: meta("staged")},
		&networkingv1.NetworkPolicy{TypeMeta: metav1.TypeMeta{APIVersion: "networking.k8s.io/v1", Kind: "NetworkPolicy"}, ObjectMeta: meta("knp")},
		&model.NetworkSet{TypeMeta: metav1.TypeMeta{APIVersion: model.APIVersionCalico, Kind: "NetworkSet"}, ObjectMeta: meta("nets")},
		&corev1.ServiceAccount{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ServiceAccount"}, ObjectMeta: meta("api")},
		&corev1.Service{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Service"}, ObjectMeta: meta("svc"),
			Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80}}}},
		&discoveryv1.EndpointSlice{TypeMeta: metav1.TypeMeta{APIVersion: "discovery.k8s.io/v1", Kind: "EndpointSlice"}, ObjectMeta: meta("svc-1"),
			AddressType: discoveryv1.AddressTypeIPv4},
		&model.WorkloadEndpoint{TypeMeta: metav1.TypeMeta{APIVersion: model.APIVersionCalico, Kind: "WorkloadEndpoint"}, ObjectMeta: meta("node1-k8s-web-eth0"),
			Spec: model.WorkloadEndpointSpec{Orchestrator: "k8s", Pod: "web", Workload: "web", Node: "node1", Endpoint: "eth0",
				InterfaceName: "trl0123456789a", IPNetworks: []string{"10.244.0.5/32"}}},
	}
}

func names(objs []model.Object) []string {
	var out []string
	for _, o := range objs {
		out = append(out, kindName(o)+" "+Key(o.GetNamespace(), o.GetName()))
	}
	return out
}

func TestPlanNamespaceCleanup(t *testing.T) {
	global := &model.GlobalNetworkPolicy{TypeMeta: metav1.TypeMeta{APIVersion: model.APIVersionCalico, Kind: "GlobalNetworkPolicy"}, ObjectMeta: metav1.ObjectMeta{Name: "g"}}
	all := append(append(append(contents("shop"), contents("bank")...), global), nsObj("bank"))
	for _, tc := range []struct {
		name string
		gone []string
		live []*corev1.Namespace
		want []string
	}{
		{name: "nothing gone", want: nil},
		{name: "shop gone", gone: []string{"shop"}, live: []*corev1.Namespace{nsObj("bank")}, want: []string{
			"EndpointSlice.discovery.k8s.io shop/svc-1", "NetworkPolicy.networking.k8s.io shop/knp",
			"NetworkPolicy.projectcalico.org shop/deny", "NetworkSet.projectcalico.org shop/nets", "Pod. shop/web",
			"Service. shop/svc", "ServiceAccount. shop/api", "StagedNetworkPolicy.projectcalico.org shop/staged",
			"WorkloadEndpoint.projectcalico.org shop/node1-k8s-web-eth0"}},
		{name: "gone but created again", gone: []string{"bank"}, live: []*corev1.Namespace{nsObj("bank")}, want: nil},
		{name: "an unknown namespace holds nothing", gone: []string{"other"}, want: nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			shuffled := slices.Clone(all)
			slices.Reverse(shuffled)
			got := names(PlanNamespaceCleanup(tc.gone, tc.live, shuffled))
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// count returns how many objects of any namespaced kind are stored in ns.
func count(t *testing.T, st store.Store, ns string) []string {
	t.Helper()
	var out []string
	for _, k := range model.Default.Kinds() {
		if !k.Namespaced {
			continue
		}
		res, err := st.List(context.Background(), k, store.ListOptions{Namespace: ns})
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range res.Items {
			out = append(out, k.Kind+" "+o.GetName())
		}
	}
	return out
}

func TestRunNamespaceDeletionDeletesItsObjects(t *testing.T) {
	// The namespaces exist before the controller starts, so its first listing sees them (a
	// namespace it never saw exist is never gone: see namespaceCache). Created after the
	// start, the namespace loop's listing could come after the delete on a loaded machine.
	st := memory.New(0)
	ctx := context.Background()
	for _, ns := range []string{"shop", "bank"} {
		create(t, st, nsObj(ns))
	}
	startOn(t, st, 1)
	for _, ns := range []string{"shop", "bank"} {
		for _, o := range contents(ns) {
			create(t, st, o)
		}
	}
	// A namespace without a Namespace object (Calico's etcd mode) is never cleaned.
	for _, o := range contents("calico-only") {
		create(t, st, o)
	}
	eventually(t, "service allocated", func() string { // the controller has seen "shop"
		o, err := st.Get(ctx, model.KindService, "shop", "svc")
		if err != nil || o.(*corev1.Service).Spec.ClusterIP == "" {
			return fmt.Sprintf("no cluster IP yet (%v)", err)
		}
		return ""
	})
	if _, err := st.Delete(ctx, model.KindNamespace, "", "shop", store.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "shop emptied", func() string {
		if left := count(t, st, "shop"); len(left) > 0 {
			return fmt.Sprintf("left: %v", left)
		}
		return ""
	})
	// Written into the gone namespace afterwards: deleted again (here on the next
	// Namespace event; otherwise on the resync).
	create(t, st, contents("shop")[1])
	create(t, st, nsObj("poke"))
	eventually(t, "late policy deleted", func() string {
		if left := count(t, st, "shop"); len(left) > 0 {
			return fmt.Sprintf("left: %v", left)
		}
		return ""
	})
	if got, want := len(count(t, st, "bank")), len(contents("bank")); got < want {
		t.Errorf("bank has %d objects, want at least %d: %v", got, want, count(t, st, "bank"))
	}
	if got, want := len(count(t, st, "calico-only")), len(contents("calico-only")); got < want {
		t.Errorf("calico-only has %d objects, want at least %d", got, want)
	}
	// Created again, the namespace keeps what is written into it.
	create(t, st, nsObj("shop"))
	create(t, st, contents("shop")[1])
	create(t, st, nsObj("poke2"))
	time.Sleep(300 * time.Millisecond) // many runs of the loop (coalescing 20ms)
	if left := count(t, st, "shop"); len(left) != 1 {
		t.Errorf("re-created shop holds %v, want its one policy", left)
	}
}
