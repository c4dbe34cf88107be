package model

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// NetworkSet is a namespaced, labelled set of networks that policy selectors can match.
// +kubebuilder:resource:scope=Namespaced,shortName={netset},categories={calico}
// +kubebuilder:printcolumn:name="Nets",type=string,JSONPath=`.spec.nets`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type NetworkSet struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              NetworkSetSpec `json:"spec,omitempty"`
}

// NetworkSetSpec is the spec of a NetworkSet.
type NetworkSetSpec struct {
	// Nets are the set's networks (CIDRs or single IPs); policy rules select the set by
	// its labels.
	// +trellis:validation:Net=cidr-or-ip
	Nets []string `json:"nets,omitempty"`
}

// GlobalNetworkSet is a cluster-wide, labelled set of networks.
// +kubebuilder:resource:scope=Cluster,shortName={gns,globalnetset},categories={calico}
// +kubebuilder:printcolumn:name="Nets",type=string,JSONPath=`.spec.nets`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type GlobalNetworkSet struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              GlobalNetworkSetSpec `json:"spec,omitempty"`
}

// GlobalNetworkSetSpec is the spec of a GlobalNetworkSet.
type GlobalNetworkSetSpec struct {
	// Nets are the set's networks (CIDRs or single IPs); policy rules select the set by
	// its labels.
	// +trellis:validation:Net=cidr-or-ip
	Nets []string `json:"nets,omitempty"`
}
