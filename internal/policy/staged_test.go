package policy

import (
	"net/netip"
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
	want.ID.Kind, want.Staged, want.StagedAction = PolicyStagedKubernetes, true, model.StagedActionSet
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

// stagedK8s is a StagedKubernetesNetworkPolicy in prod selecting app=db for ingress with
// the given action and rules.
func stagedK8s(name string, action model.StagedAction, ingress []networkingv1.NetworkPolicyIngressRule) Resource {
	sp := &model.StagedKubernetesNetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "prod"},
		Spec: model.StagedKubernetesNetworkPolicySpec{StagedAction: action,
			PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}},
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}, Ingress: ingress}}
	r, err := FromObject(sp)
	if err != nil {
		panic(err)
	}
	return r
}

// TestStagedView: with Options.Staged a staged Set policy is enforced in place of the
// enforced policy of its name, a staged Delete removes it, Learn changes nothing; the
// enforced view never changes; and the view depends only on the inputs present, in
// whatever order they came and whatever was deleted on the way.
func TestStagedView(t *testing.T) {
	sc := loadScenario(t, "testdata/calc/k8s_basic.txt")
	web, db := netip.MustParseAddr("10.0.1.1"), netip.MustParseAddr("10.0.1.2")
	pkt := Packet{Src: web, Dst: db, Proto: "tcp", Port: 5432}
	trace := func(opts Options, extra ...Resource) Decision {
		return Trace(Compute(opts, append(append([]Resource{}, sc.resources...), extra...)), pkt).Ingress
	}
	// The scenario's staged web-deny-all isolates web's ingress in the staged view only.
	toWeb := Packet{Src: db, Dst: web, Proto: "tcp", Port: 80}
	if d := Trace(Compute(Options{}, sc.resources), toWeb).Ingress; d.Verdict != ActionAllow {
		t.Errorf("enforced view, db to web: %+v, want allowed (no policy isolates web's ingress)", d)
	}
	if d := Trace(Compute(Options{Staged: true}, sc.resources), toWeb).Ingress; d.Verdict != ActionDeny || d.Reason != ReasonEndOfTier {
		t.Errorf("staged view, db to web: %+v, want the staged deny-all's end of tier", d)
	}
	denyAll := stagedK8s("db", model.StagedActionSet, nil) // replaces KNP prod/db: no ingress allowed
	cases := []struct {
		name        string
		extra       Resource
		wantVerdict Action
		wantKind    PolicyKind
		wantReason  string
	}{
		{"set replaces the enforced policy", denyAll, ActionDeny, PolicyStagedKubernetes, ReasonEndOfTier},
		{"delete removes it", stagedK8s("db", model.StagedActionDelete, nil), ActionAllow, "", ReasonProfile},
		{"learn changes nothing", stagedK8s("db", model.StagedActionLearn, nil), ActionAllow, PolicyKubernetes, ReasonRule},
	}
	for _, c := range cases {
		if d := trace(Options{}, c.extra); d.Verdict != ActionAllow || d.Policy.Kind != PolicyKubernetes {
			t.Errorf("%s: enforced view %+v, want the enforced KNP's allow", c.name, d)
		}
		d := trace(Options{Staged: true}, c.extra)
		if d.Verdict != c.wantVerdict || d.Reason != c.wantReason || (c.wantKind != "" && d.Reason == ReasonRule && d.Policy.Kind != c.wantKind) {
			t.Errorf("%s: staged view %+v, want %s (%s)", c.name, d, c.wantVerdict, c.wantReason)
		}
	}
	// Order independence: staged first, enforced last; and a deleted staged twin gives the
	// enforced policy back.
	all := append([]Resource{denyAll}, sc.resources...)
	want := Compute(Options{Staged: true}, append(append([]Resource{}, sc.resources...), denyAll)).String()
	if got := Compute(Options{Staged: true}, all).String(); got != want {
		t.Errorf("staged view depends on order:\n%s", cmp.Diff(want, got))
	}
	c := NewCalculator(Options{Staged: true})
	for _, r := range all {
		c.Update(r)
	}
	c.Delete(denyAll.Key())
	if got, want := c.State().String(), Compute(Options{Staged: true}, sc.resources).String(); got != want {
		t.Errorf("after deleting the staged twin:\n%s", cmp.Diff(want, got))
	}
}
