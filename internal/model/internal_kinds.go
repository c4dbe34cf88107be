package model

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// internalKinds are Trellis's own bookkeeping kinds (IPAM blocks, affinities, handles,
// endpoint status): stored and watched like any other kind, but not accepted from
// manifests by `trellis apply` (Kind.Internal).
func internalKinds() []*Kind {
	return append(ipamKinds(),
		&Kind{Group: GroupTrellis, Version: VersionIPAM, Kind: "EndpointStatus", Plural: "endpointstatuses",
			Namespaced: true, Internal: true, New: func() Object {
				return &EndpointStatus{TypeMeta: typeMeta(GroupTrellis+"/"+VersionIPAM, "EndpointStatus")}
			}},
	)
}

// EndpointStatus is the node agent's report on one WorkloadEndpoint, the contract behind
// the CNI plugin's policy wait. The agent writes it in the endpoint's namespace under the
// endpoint's name once the endpoint's policy is programmed in the dataplane; the plugin
// waits for an EndpointStatus whose endpointUID is the UID of the WorkloadEndpoint it wrote
// and whose policyProgrammed is true.
// +kubebuilder:resource:scope=Namespaced,categories={trellis}
// +kubebuilder:printcolumn:name="Node",type=string,JSONPath=`.status.node`
// +kubebuilder:printcolumn:name="Programmed",type=boolean,JSONPath=`.status.policyProgrammed`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type EndpointStatus struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Status            EndpointStatusStatus `json:"status"`
}

// EndpointStatusStatus is what the agent reports.
type EndpointStatusStatus struct {
	// Node whose agent wrote the status.
	Node string `json:"node"`
	// EndpointUID is the UID of the WorkloadEndpoint this status is about.
	EndpointUID string `json:"endpointUID"`
	// PolicyProgrammed is true once the endpoint's policy is in the dataplane.
	PolicyProgrammed bool `json:"policyProgrammed"`
}
