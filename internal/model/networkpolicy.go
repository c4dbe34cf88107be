package model

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// NetworkPolicy is a namespaced Calico policy (projectcalico.org/v3).
// +kubebuilder:resource:scope=Namespaced,shortName={caliconetworkpolicy},categories={calico,calico-policy}
// +kubebuilder:printcolumn:name="Order",type=number,JSONPath=`.spec.order`
// +kubebuilder:printcolumn:name="Tier",type=string,JSONPath=`.spec.tier`
// +kubebuilder:printcolumn:name="Selector",type=string,JSONPath=`.spec.selector`
// +kubebuilder:printcolumn:name="Types",type=string,JSONPath=`.spec.types`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type NetworkPolicy struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              NetworkPolicySpec `json:"spec,omitempty"`
}

// NetworkPolicySpec is the spec of a NetworkPolicy.
type NetworkPolicySpec struct {
	// Tier is the name of the policy's tier; "default" when empty. A policy in another tier
	// is named "<tier>.<name>".
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:default=default
	Tier string `json:"tier,omitempty"`
	// Order orders the policies of a tier: lower first; a policy with no order comes last,
	// ties are broken by name.
	Order *float64 `json:"order,omitempty"`
	// Ingress are the rules for traffic to the selected endpoints, in order; the first
	// rule that matches with Allow, Deny or Pass decides.
	// +kubebuilder:validation:MaxItems=1000
	Ingress []Rule `json:"ingress,omitempty"`
	// Egress are the rules for traffic from the selected endpoints, in order.
	// +kubebuilder:validation:MaxItems=1000
	Egress []Rule `json:"egress,omitempty"`
	// Selector selects the endpoints the policy applies to, in the Calico selector
	// language (app == 'web', all(), has(role) && env in {'prod', 'staging'}).
	Selector string `json:"selector,omitempty"`
	// Types says whether the policy applies to ingress, egress or both; by default
	// Ingress, plus Egress when egress rules are given.
	Types []PolicyType `json:"types,omitempty"`
	// ServiceAccountSelector narrows the selected endpoints to those whose pod's service
	// account matches.
	ServiceAccountSelector string `json:"serviceAccountSelector,omitempty"`
	// PerformanceHints are optimisation hints (AssumeNeededOnEveryNode); they never change
	// what the policy matches.
	PerformanceHints []PolicyPerformanceHint `json:"performanceHints,omitempty"`
}

// GlobalNetworkPolicy is a cluster-wide Calico policy.
// +kubebuilder:resource:scope=Cluster,shortName={gnp,cgnp},categories={calico,calico-policy}
// +kubebuilder:printcolumn:name="Order",type=number,JSONPath=`.spec.order`
// +kubebuilder:printcolumn:name="Tier",type=string,JSONPath=`.spec.tier`
// +kubebuilder:printcolumn:name="Selector",type=string,JSONPath=`.spec.selector`
// +kubebuilder:printcolumn:name="Types",type=string,JSONPath=`.spec.types`,priority=1
// +kubebuilder:printcolumn:name="NamespaceSelector",type=string,JSONPath=`.spec.namespaceSelector`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type GlobalNetworkPolicy struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              GlobalNetworkPolicySpec `json:"spec,omitempty"`
}

// GlobalNetworkPolicySpec is the spec of a GlobalNetworkPolicy.
type GlobalNetworkPolicySpec struct {
	// Tier is the name of the policy's tier; "default" when empty. A policy in another tier
	// is named "<tier>.<name>".
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:default=default
	Tier string `json:"tier,omitempty"`
	// Order orders the policies of a tier: lower first; a policy with no order comes last,
	// ties are broken by name.
	Order *float64 `json:"order,omitempty"`
	// Ingress are the rules for traffic to the selected endpoints, in order; the first
	// rule that matches with Allow, Deny or Pass decides.
	// +kubebuilder:validation:MaxItems=1000
	Ingress []Rule `json:"ingress,omitempty"`
	// Egress are the rules for traffic from the selected endpoints, in order.
	// +kubebuilder:validation:MaxItems=1000
	Egress []Rule `json:"egress,omitempty"`
	// Selector selects the endpoints the policy applies to, in the Calico selector
	// language (app == 'web', all(), has(role) && env in {'prod', 'staging'}).
	Selector string `json:"selector,omitempty"`
	// Types says whether the policy applies to ingress, egress or both; by default
	// Ingress, plus Egress when egress rules are given.
	Types []PolicyType `json:"types,omitempty"`
	// DoNotTrack applies the rules before connection tracking, without tracking (host
	// endpoints only); requires applyOnForward.
	DoNotTrack bool `json:"doNotTrack,omitempty"`
	// PreDNAT applies the ingress rules before DNAT (host endpoints only, ingress only);
	// requires applyOnForward.
	PreDNAT bool `json:"preDNAT,omitempty"`
	// ApplyOnForward applies the policy to forwarded traffic through host endpoints too, not
	// only to traffic to and from the host.
	ApplyOnForward bool `json:"applyOnForward,omitempty"`
	// ServiceAccountSelector narrows the selected endpoints to those whose pod's service
	// account matches.
	ServiceAccountSelector string `json:"serviceAccountSelector,omitempty"`
	// NamespaceSelector narrows the selected endpoints to those in namespaces it matches.
	NamespaceSelector string `json:"namespaceSelector,omitempty"`
	// PerformanceHints are optimisation hints (AssumeNeededOnEveryNode); they never change
	// what the policy matches.
	PerformanceHints []PolicyPerformanceHint `json:"performanceHints,omitempty"`
}

// StagedAction says what a staged policy would do to its enforced counterpart.
// +kubebuilder:validation:Enum=Set;Delete;Learn;Ignore
type StagedAction string

// Staged actions.
const (
	StagedActionSet    StagedAction = "Set"
	StagedActionDelete StagedAction = "Delete"
	StagedActionLearn  StagedAction = "Learn"
	StagedActionIgnore StagedAction = "Ignore"
)

// StagedNetworkPolicy is a NetworkPolicy that is evaluated but not enforced.
// +kubebuilder:resource:scope=Namespaced,shortName={snp},categories={calico,calico-policy}
// +kubebuilder:printcolumn:name="Action",type=string,JSONPath=`.spec.stagedAction`
// +kubebuilder:printcolumn:name="Order",type=number,JSONPath=`.spec.order`
// +kubebuilder:printcolumn:name="Tier",type=string,JSONPath=`.spec.tier`
// +kubebuilder:printcolumn:name="Selector",type=string,JSONPath=`.spec.selector`
// +kubebuilder:printcolumn:name="Types",type=string,JSONPath=`.spec.types`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type StagedNetworkPolicy struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              StagedNetworkPolicySpec `json:"spec,omitempty"`
}

// StagedNetworkPolicySpec is the spec of a StagedNetworkPolicy.
type StagedNetworkPolicySpec struct {
	// StagedAction says what applying the staged policy would do to the enforced policy of
	// the same name: Set (create or replace it), Delete, Learn or Ignore.
	StagedAction StagedAction `json:"stagedAction,omitempty"`
	// Tier is the name of the policy's tier; "default" when empty. A policy in another tier
	// is named "<tier>.<name>".
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:default=default
	Tier string `json:"tier,omitempty"`
	// Order orders the policies of a tier: lower first; a policy with no order comes last,
	// ties are broken by name.
	Order *float64 `json:"order,omitempty"`
	// Ingress are the rules for traffic to the selected endpoints, in order; the first
	// rule that matches with Allow, Deny or Pass decides.
	// +kubebuilder:validation:MaxItems=1000
	Ingress []Rule `json:"ingress,omitempty"`
	// Egress are the rules for traffic from the selected endpoints, in order.
	// +kubebuilder:validation:MaxItems=1000
	Egress []Rule `json:"egress,omitempty"`
	// Selector selects the endpoints the policy applies to, in the Calico selector
	// language (app == 'web', all(), has(role) && env in {'prod', 'staging'}).
	Selector string `json:"selector,omitempty"`
	// Types says whether the policy applies to ingress, egress or both; by default
	// Ingress, plus Egress when egress rules are given.
	Types []PolicyType `json:"types,omitempty"`
	// ServiceAccountSelector narrows the selected endpoints to those whose pod's service
	// account matches.
	ServiceAccountSelector string `json:"serviceAccountSelector,omitempty"`
	// PerformanceHints are optimisation hints (AssumeNeededOnEveryNode); they never change
	// what the policy matches.
	PerformanceHints []PolicyPerformanceHint `json:"performanceHints,omitempty"`
}

// StagedGlobalNetworkPolicy is a GlobalNetworkPolicy that is evaluated but not enforced.
// +kubebuilder:resource:scope=Cluster,shortName={sgnp},categories={calico,calico-policy}
// +kubebuilder:printcolumn:name="Action",type=string,JSONPath=`.spec.stagedAction`
// +kubebuilder:printcolumn:name="Order",type=number,JSONPath=`.spec.order`
// +kubebuilder:printcolumn:name="Tier",type=string,JSONPath=`.spec.tier`
// +kubebuilder:printcolumn:name="Selector",type=string,JSONPath=`.spec.selector`
// +kubebuilder:printcolumn:name="Types",type=string,JSONPath=`.spec.types`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type StagedGlobalNetworkPolicy struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              StagedGlobalNetworkPolicySpec `json:"spec,omitempty"`
}

// StagedGlobalNetworkPolicySpec is the spec of a StagedGlobalNetworkPolicy.
type StagedGlobalNetworkPolicySpec struct {
	// StagedAction says what applying the staged policy would do to the enforced policy of
	// the same name: Set (create or replace it), Delete, Learn or Ignore.
	StagedAction StagedAction `json:"stagedAction,omitempty"`
	// Tier is the name of the policy's tier; "default" when empty. A policy in another tier
	// is named "<tier>.<name>".
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:default=default
	Tier string `json:"tier,omitempty"`
	// Order orders the policies of a tier: lower first; a policy with no order comes last,
	// ties are broken by name.
	Order *float64 `json:"order,omitempty"`
	// Ingress are the rules for traffic to the selected endpoints, in order; the first
	// rule that matches with Allow, Deny or Pass decides.
	// +kubebuilder:validation:MaxItems=1000
	Ingress []Rule `json:"ingress,omitempty"`
	// Egress are the rules for traffic from the selected endpoints, in order.
	// +kubebuilder:validation:MaxItems=1000
	Egress []Rule `json:"egress,omitempty"`
	// Selector selects the endpoints the policy applies to, in the Calico selector
	// language (app == 'web', all(), has(role) && env in {'prod', 'staging'}).
	Selector string `json:"selector,omitempty"`
	// Types says whether the policy applies to ingress, egress or both; by default
	// Ingress, plus Egress when egress rules are given.
	Types []PolicyType `json:"types,omitempty"`
	// DoNotTrack applies the rules before connection tracking, without tracking (host
	// endpoints only); requires applyOnForward.
	DoNotTrack bool `json:"doNotTrack,omitempty"`
	// PreDNAT applies the ingress rules before DNAT (host endpoints only, ingress only);
	// requires applyOnForward.
	PreDNAT bool `json:"preDNAT,omitempty"`
	// ApplyOnForward applies the policy to forwarded traffic through host endpoints too, not
	// only to traffic to and from the host.
	ApplyOnForward bool `json:"applyOnForward,omitempty"`
	// ServiceAccountSelector narrows the selected endpoints to those whose pod's service
	// account matches.
	ServiceAccountSelector string `json:"serviceAccountSelector,omitempty"`
	// NamespaceSelector narrows the selected endpoints to those in namespaces it matches.
	NamespaceSelector string `json:"namespaceSelector,omitempty"`
	// PerformanceHints are optimisation hints (AssumeNeededOnEveryNode); they never change
	// what the policy matches.
	PerformanceHints []PolicyPerformanceHint `json:"performanceHints,omitempty"`
}

// Tier orders groups of policies; a policy's tier is spec.tier ("default" when empty).
// +kubebuilder:resource:scope=Cluster,categories={calico,calico-policy}
// +kubebuilder:printcolumn:name="Order",type=number,JSONPath=`.spec.order`
// +kubebuilder:printcolumn:name="DefaultAction",type=string,JSONPath=`.spec.defaultAction`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type Tier struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              TierSpec `json:"spec,omitempty"`
}

// TierSpec is the spec of a Tier. A nil Order is last; DefaultAction (Deny or Pass) applies to
// endpoints selected by a policy in the tier when no policy of the tier decides.
type TierSpec struct {
	// Order orders the tiers: lower first; a tier with no order comes last.
	Order *float64 `json:"order,omitempty"`
	// DefaultAction (Deny or Pass) applies to endpoints selected by a policy of the tier
	// when no policy of the tier decides; Deny when unset.
	DefaultAction *Action `json:"defaultAction,omitempty"`
}

// DefaultTierName is the tier of policies that name none.
const DefaultTierName = "default"
