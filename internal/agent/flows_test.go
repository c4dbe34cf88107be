package agent

import (
	"io"
	"log/slog"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/trellisnet/trellis/internal/model"
	"github.com/trellisnet/trellis/internal/policy"
)

// TestStagedViewOnlyWithStagedPolicies: the agent builds the staged view when the first
// staged policy arrives, from every input it had (the pending verdicts then see the
// endpoints fed before it), keeps it current, and drops it with the last staged policy.
func TestStagedViewOnlyWithStagedPolicies(t *testing.T) {
	f := newFlowLog(Config{NodeName: "n1", FlowLogGroup: 7}, slog.New(slog.NewTextHandler(io.Discard, nil)), prometheus.NewRegistry(), nil, nil)
	f.reset("n1")
	ep := &policy.EndpointInput{Kind: policy.KindWorkload, Name: "prod/db", Namespace: "prod", Node: "n1", Interface: "trldb",
		Labels: map[string]string{"app": "db"}, Profiles: []string{model.PrefixProfileNamespace + "prod"}}
	enforced := &policy.PolicyInput{ID: policy.PolicyID{Kind: policy.PolicyNamespaced, Namespace: "prod", Name: "db"},
		Selector: "app == 'db'", Types: []model.PolicyType{model.PolicyTypeIngress}}
	staged := &policy.PolicyInput{ID: policy.PolicyID{Kind: policy.PolicyStaged, Namespace: "prod", Name: "db"},
		Selector: "app == 'db'", Types: []model.PolicyType{model.PolicyTypeIngress}, Staged: true, StagedAction: model.StagedActionSet}
	f.stagedUpdate(ep)
	f.stagedUpdate(enforced)
	if f.staged != nil {
		t.Fatal("a staged view without any staged policy")
	}
	f.stagedUpdate(staged)
	if f.staged == nil {
		t.Fatal("no staged view after a staged policy arrived")
	}
	st := f.staged.State()
	if len(st.Endpoints) != 1 || len(st.Endpoints[0].Ingress.Tiers) != 1 || st.Endpoints[0].Ingress.Tiers[0].Policies[0] != staged.ID {
		t.Errorf("staged view: %s, want db's ingress decided by the staged policy in place of the enforced one", st)
	}
	f.stagedDelete(staged.Key())
	if f.staged != nil {
		t.Error("the staged view outlived the last staged policy")
	}
	if len(f.inputs) != 2 {
		t.Errorf("%d inputs remembered, want the endpoint and the enforced policy", len(f.inputs))
	}
}
