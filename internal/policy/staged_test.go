package policy

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/trellisnet/trellis/internal/model"
)

// TestStagedKubernetesPolicyConvertsStaged: a StagedKubernetesNetworkPolicy converts like
// the Kubernetes NetworkPolicy it stands for, but staged and under its own kind, so that it
// never replaces or collides with the enforced policy of the same name.
func TestStagedKubernetesPolicyConvertsStaged(t *testing.T) {
	meta := metav1.ObjectMeta{Name: "db", Namespace: "prod"}
	spec := networkingv1.NetworkPolicySpec{
		PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}},
		PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
		Ingress:     []networkingv1.NetworkPolicyIngressRule{{}},
	}
	knp := &networkingv1.NetworkPolicy{ObjectMeta: meta, Spec: spec}
	sknp := &model.StagedKubernetesNetworkPolicy{ObjectMeta: meta, Spec: model.StagedKubernetesNetworkPolicySpec{
		StagedAction: model.StagedActionSet, PodSelector: spec.PodSelector, PolicyTypes: spec.PolicyTypes, Ingress: spec.Ingress}}

	want, err := FromKubernetesPolicy(knp)
	if err != nil {
		t.Fatal(err)
	}
	r, err := FromObject(sknp)
	if err != nil {
		t.Fatal(err)
	}
	got, ok := r.(*PolicyInput)
	if !ok {
		t.Fatalf("FromObject gave %T, want *PolicyInput", r)
	}
	want.ID.Kind, want.Staged = PolicyStagedKubernetes, true
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("converted (-want +got):\n%s", diff)
	}
	key, ok := KeyOf(sknp)
	knpKey, _ := KeyOf(knp)
	if !ok || key.Sub != string(PolicyStagedKubernetes) || key.Name != K8sPolicyPrefix+"db" || key == knpKey {
		t.Errorf("KeyOf = %+v, %v; the enforced policy's key is %+v", key, ok, knpKey)
	}
}

// TestStagedKubernetesPolicyNeverEnforced: a staged deny-all changes no verdict.
func TestStagedKubernetesPolicyNeverEnforced(t *testing.T) {
	sc := loadScenario(t, "testdata/calc/k8s_basic.txt")
	var without []Resource
	staged := 0
	for _, r := range sc.resources {
		if p, ok := r.(*PolicyInput); ok && p.ID.Kind == PolicyStagedKubernetes {
			staged++
			continue
		}
		without = append(without, r)
	}
	if staged != 1 {
		t.Fatalf("scenario has %d staged Kubernetes policies, want 1", staged)
	}
	a, b := Compute(Options{}, sc.resources), Compute(Options{}, without)
	if diff := cmp.Diff(b.String()+runTraces(t, b, sc.traces), a.String()+runTraces(t, a, sc.traces)); diff != "" {
		t.Errorf("a staged policy changed the state (-without +with):\n%s", diff)
	}
}

// TestKeyOfEveryKindFromEmpty: the agent and the trace choose the kinds they list by
// probing KeyOf with an empty object, so every kind the engine converts must answer ok for
// one; a ClusterNetworkPolicy without a tier once did not, and Kubernetes-mode agents never
// watched ClusterNetworkPolicies (found by network-policy-api's conformance suite).
func TestKeyOfEveryKindFromEmpty(t *testing.T) {
	for _, k := range []*model.Kind{model.KindClusterNetworkPolicy, model.KindGlobalNetworkPolicy, model.KindNetworkPolicy, model.KindTier} {
		if _, ok := KeyOf(k.New()); !ok {
			t.Errorf("KeyOf(empty %s): not ok", k.Kind)
		}
	}
}
