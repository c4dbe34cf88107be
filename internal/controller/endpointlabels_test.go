package controller

import (
	"context"
	"fmt"
	"maps"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/trellisnet/trellis/internal/model"
)

func TestRunEndpointLabelsFollowPodNamespaceAndServiceAccount(t *testing.T) {
	st := start(t, 1)
	ctx := context.Background()
	create(t, st, &corev1.Namespace{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"}, ObjectMeta: metav1.ObjectMeta{Name: "shop", Labels: map[string]string{"tier": "gold"}}})
	create(t, st, &corev1.ServiceAccount{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ServiceAccount"}, ObjectMeta: metav1.ObjectMeta{Name: "api", Namespace: "shop", Labels: map[string]string{"team": "a"}}})
	create(t, st, &corev1.Pod{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"}, ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop", Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{ServiceAccountName: "api", Containers: []corev1.Container{{Name: "c", Command: []string{"true"}}}}})
	wep := &model.WorkloadEndpoint{TypeMeta: metav1.TypeMeta{APIVersion: model.APIVersionCalico, Kind: "WorkloadEndpoint"}, ObjectMeta: metav1.ObjectMeta{Name: "node1-k8s-web-eth0", Namespace: "shop",
		Labels: map[string]string{"app": "web", "stale": "yes"}},
		Spec: model.WorkloadEndpointSpec{Orchestrator: "k8s", Pod: "web", Workload: "web", Node: "node1", Endpoint: "eth0",
			InterfaceName: "trl0123456789a", IPNetworks: []string{"10.244.0.5/32"}}}
	create(t, st, wep)
	// A cni-orchestrated endpoint (no pod) is left alone.
	other := &model.WorkloadEndpoint{TypeMeta: metav1.TypeMeta{APIVersion: model.APIVersionCalico, Kind: "WorkloadEndpoint"}, ObjectMeta: metav1.ObjectMeta{Name: "node1-cni-abc-eth0", Namespace: "shop", Labels: map[string]string{"x": "y"}},
		Spec: model.WorkloadEndpointSpec{Orchestrator: "cni", Workload: "abc", Node: "node1", Endpoint: "eth0",
			InterfaceName: "trl0123456789b", IPNetworks: []string{"10.244.0.6/32"}}}
	create(t, st, other)

	labels := func(name string) map[string]string {
		obj, err := st.Get(ctx, model.KindWorkloadEndpoint, "shop", name)
		if err != nil {
			t.Fatal(err)
		}
		return obj.GetLabels()
	}
	expect := func(what string, want map[string]string) {
		t.Helper()
		eventually(t, what, func() string {
			if got := labels(wep.Name); !maps.Equal(got, want) {
				return fmt.Sprintf("labels %v, want %v", got, want)
			}
			return ""
		})
	}
	base := map[string]string{"projectcalico.org/namespace": "shop", "projectcalico.org/orchestrator": "k8s",
		"projectcalico.org/serviceaccount": "api", "pcns.tier": "gold", "pcsa.team": "a",
		"pcns.kubernetes.io/metadata.name": "shop"}
	with := func(extra map[string]string) map[string]string {
		out := maps.Clone(base)
		maps.Copy(out, extra)
		return out
	}
	expect("initial sync drops the stale label", with(map[string]string{"app": "web"}))

	relabel := func(k *model.Kind, ns, name string, l map[string]string) {
		obj, err := st.Get(ctx, k, ns, name)
		if err != nil {
			t.Fatal(err)
		}
		obj.SetLabels(l)
		if _, err := st.Update(ctx, obj); err != nil {
			t.Fatal(err)
		}
	}
	relabel(model.KindPod, "shop", "web", map[string]string{"app": "web", "version": "v2"})
	expect("pod label added", with(map[string]string{"app": "web", "version": "v2"}))
	relabel(model.KindNamespace, "", "shop", map[string]string{"tier": "silver", "kubernetes.io/metadata.name": "shop"})
	base["pcns.tier"] = "silver"
	expect("namespace label changed", with(map[string]string{"app": "web", "version": "v2"}))
	relabel(model.KindServiceAccount, "shop", "api", nil)
	delete(base, "pcsa.team")
	expect("service account labels removed", with(map[string]string{"app": "web", "version": "v2"}))

	if got := labels(other.Name); !maps.Equal(got, map[string]string{"x": "y"}) {
		t.Errorf("cni endpoint labels changed to %v", got)
	}
}
