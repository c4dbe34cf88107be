package model

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// Group of Trellis's internal IPAM bookkeeping kinds.
const (
	GroupIPAM      = "ipam.trellis.dev"
	GroupTrellis   = "trellis.dev" // other internal kinds (EndpointStatus)
	VersionIPAM    = "v1"
	APIVersionIPAM = GroupIPAM + "/" + VersionIPAM
)

// IPAMBlock is one allocation block of an IP pool, named after its CIDR (10-0-0-64-26).
// +kubebuilder:resource:scope=Cluster,categories={trellis}
// +kubebuilder:printcolumn:name="CIDR",type=string,JSONPath=`.spec.cidr`
// +kubebuilder:printcolumn:name="Affinity",type=string,JSONPath=`.spec.affinity`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type IPAMBlock struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              IPAMBlockSpec `json:"spec"`
}

// IPAMBlockSpec is the allocation state of a block. allocations[i] is the index into
// attributes of the owner of the block's i-th address, or null when it is free;
// unallocated lists the free ordinals in hand-out order.
type IPAMBlockSpec struct {
	// CIDR of the block.
	CIDR string `json:"cidr"`
	// Affinity is the name of the node the block is affine to; empty: no node.
	Affinity string `json:"affinity,omitempty"` // node name; empty: affine to no node
	// Allocations[i] is the index into attributes of the owner of the i-th address, or null.
	// +optional
	Allocations []*int `json:"allocations"`
	// Unallocated lists the free ordinals in hand-out order.
	// +optional
	Unallocated []int `json:"unallocated"`
	// Attributes describe the owners of allocations; allocations index into them.
	Attributes []IPAMAttribute `json:"attributes,omitempty"`
	// SequenceNumber increases with every allocation.
	// +optional
	SequenceNumber uint64 `json:"sequenceNumber"`
	// SequenceNumberForAllocation maps an allocated ordinal (decimal) to the sequence number
	// it was allocated with.
	SequenceNumberForAllocation map[string]uint64 `json:"sequenceNumberForAllocation,omitempty"`
}

// IPAMAttribute describes the owner of allocations: its handle and free-form attributes
// (namespace, pod, node, containerID).
type IPAMAttribute struct {
	// HandleID is the owner's IPAMHandle (one per container).
	HandleID string `json:"handleID,omitempty"`
	// Attrs are free-form attributes: namespace, pod, node, containerID.
	Attrs map[string]string `json:"attrs,omitempty"`
}

// BlockAffinity ties a block to a node; named "<node>-<block name>".
// +kubebuilder:resource:scope=Cluster,categories={trellis}
// +kubebuilder:printcolumn:name="Node",type=string,JSONPath=`.spec.node`
// +kubebuilder:printcolumn:name="CIDR",type=string,JSONPath=`.spec.cidr`
// +kubebuilder:printcolumn:name="State",type=string,JSONPath=`.spec.state`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type BlockAffinity struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              BlockAffinitySpec `json:"spec"`
}

// BlockAffinitySpec is the state of an affinity: pending, confirmed or pendingDeletion.
type BlockAffinitySpec struct {
	// Node the block is affine to.
	Node string `json:"node"`
	// CIDR of the block.
	CIDR string `json:"cidr"`
	// State: pending, confirmed or pendingDeletion.
	State string `json:"state"`
}

// IPAMHandle counts the addresses one handle (one container) owns, per block name.
// +kubebuilder:resource:scope=Cluster,categories={trellis}
// +kubebuilder:printcolumn:name="HandleID",type=string,JSONPath=`.spec.handleID`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type IPAMHandle struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              IPAMHandleSpec `json:"spec"`
}

// IPAMHandleSpec is the content of an IPAMHandle.
type IPAMHandleSpec struct {
	// HandleID names the owner (a container's network).
	HandleID string `json:"handleID"`
	// Block counts the addresses the handle owns, by block name.
	Block map[string]int `json:"block,omitempty"`
}

func ipamKinds() []*Kind {
	k := func(kind, plural string, namespaced bool, newObj func() Object) *Kind {
		return &Kind{Group: GroupIPAM, Version: VersionIPAM, Kind: kind, Plural: plural,
			Namespaced: namespaced, Internal: true, New: newObj}
	}
	return []*Kind{
		k("IPAMBlock", "ipamblocks", false, func() Object {
			return &IPAMBlock{TypeMeta: typeMeta(APIVersionIPAM, "IPAMBlock")}
		}),
		k("BlockAffinity", "blockaffinities", false, func() Object {
			return &BlockAffinity{TypeMeta: typeMeta(APIVersionIPAM, "BlockAffinity")}
		}),
		k("IPAMHandle", "ipamhandles", false, func() Object {
			return &IPAMHandle{TypeMeta: typeMeta(APIVersionIPAM, "IPAMHandle")}
		}),
	}
}
