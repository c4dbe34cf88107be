package connectivity

import "github.com/trellisnet/trellis/internal/policy"

// TraceReport is a trace's JSON form (policy trace -o json, the flow UI's explanation
// of a flow).
type TraceReport struct {
	Verdict string         `json:"verdict"`
	From    string         `json:"from"`
	To      string         `json:"to"`
	Port    string         `json:"port"`
	Egress  DecisionReport `json:"egress"`
	Ingress DecisionReport `json:"ingress"`
}

// DecisionReport is one side's decision in a TraceReport. Rule is set when a rule or a
// profile decided; Policy names the policy (or "profile NAME").
type DecisionReport struct {
	Verdict   string   `json:"verdict"`
	Endpoint  string   `json:"endpoint,omitempty"`
	Reason    string   `json:"reason"`
	Tier      string   `json:"tier,omitempty"`
	Policy    string   `json:"policy,omitempty"`
	Namespace string   `json:"namespace,omitempty"`
	Kind      string   `json:"kind,omitempty"`
	Profile   string   `json:"profile,omitempty"`
	Rule      *int     `json:"rule,omitempty"`
	RuleName  string   `json:"ruleName,omitempty"`
	Logged    []string `json:"logged,omitempty"`
	Passed    []string `json:"passed,omitempty"`
}

// NewTraceReport is the report of r, a trace from from to to on port.
func NewTraceReport(from, to string, port Port, r policy.Result) TraceReport {
	return TraceReport{Verdict: string(r.Verdict), From: from, To: to, Port: port.String(),
		Egress: newDecisionReport(r.Egress), Ingress: newDecisionReport(r.Ingress)}
}

func newDecisionReport(d policy.Decision) DecisionReport {
	out := DecisionReport{Verdict: string(d.Verdict), Endpoint: d.Endpoint, Reason: d.Reason, Tier: d.Tier,
		Profile: d.Profile, RuleName: d.RuleName, Logged: d.Logged, Passed: d.Passed}
	if d.Reason == policy.ReasonRule || d.Reason == policy.ReasonProfile {
		r := d.Rule
		out.Rule = &r
	}
	switch d.Reason {
	case policy.ReasonRule:
		out.Policy, out.Namespace, out.Kind = d.Policy.Name, d.Policy.Namespace, string(d.Policy.Kind)
	case policy.ReasonProfile:
		out.Policy = "profile " + d.Profile
	}
	return out
}
