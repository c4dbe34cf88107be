package model

import (
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// StagedKubernetesNetworkPolicy is a Kubernetes NetworkPolicy that is evaluated but not
// enforced (projectcalico.org/v3): the spec of a networking.k8s.io/v1 NetworkPolicy plus
// stagedAction.
// +kubebuilder:resource:scope=Namespaced,categories={calico}
// +kubebuilder:printcolumn:name="Action",type=string,JSONPath=`.spec.stagedAction`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type StagedKubernetesNetworkPolicy struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              StagedKubernetesNetworkPolicySpec `json:"spec,omitempty"`
}

// StagedKubernetesNetworkPolicySpec is the spec of a StagedKubernetesNetworkPolicy.
type StagedKubernetesNetworkPolicySpec struct {
	// StagedAction is what the staged policy would do to its enforced counterpart: Set,
	// Delete, Learn or Ignore (default Set).
	StagedAction StagedAction `json:"stagedAction,omitempty"`
	// PodSelector selects the pods the policy applies to, as in a NetworkPolicy.
	PodSelector metav1.LabelSelector `json:"podSelector,omitempty"`
	// Ingress are the rules for traffic to the selected pods, as in a NetworkPolicy.
	Ingress []networkingv1.NetworkPolicyIngressRule `json:"ingress,omitempty"`
	// Egress are the rules for traffic from the selected pods, as in a NetworkPolicy.
	Egress []networkingv1.NetworkPolicyEgressRule `json:"egress,omitempty"`
	// PolicyTypes are the directions the policy applies to (Ingress, Egress), as in a
	// NetworkPolicy.
	PolicyTypes []networkingv1.PolicyType `json:"policyTypes,omitempty"`
}

// KubernetesPolicy is the Kubernetes NetworkPolicy the staged one stands for (same
// metadata and rules), for conversion and validation.
func (p *StagedKubernetesNetworkPolicy) KubernetesPolicy() *networkingv1.NetworkPolicy {
	return &networkingv1.NetworkPolicy{
		TypeMeta:   metav1.TypeMeta{APIVersion: "networking.k8s.io/v1", Kind: "NetworkPolicy"},
		ObjectMeta: p.ObjectMeta,
		Spec: networkingv1.NetworkPolicySpec{PodSelector: p.Spec.PodSelector, Ingress: p.Spec.Ingress,
			Egress: p.Spec.Egress, PolicyTypes: p.Spec.PolicyTypes},
	}
}
