package model

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// BGPFilter controls which routes are imported from and exported to the BGP peers whose
// BGPPeer lists it in spec.filters. Rules are evaluated in order and the first match
// decides; a route no rule matches gets the behaviour it would have without the filter.
// +kubebuilder:resource:scope=Cluster,shortName={bgpf},categories={calico}
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type BGPFilter struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              BGPFilterSpec `json:"spec,omitempty"`
}

// BGPFilterSpec is the spec of a BGPFilter: one ordered rule list per direction and family.
type BGPFilterSpec struct {
	// ExportV4 rules filter the IPv4 routes advertised to the peers.
	ExportV4 []BGPFilterRule `json:"exportV4,omitempty"`
	// ImportV4 rules filter the IPv4 routes learned from the peers.
	ImportV4 []BGPFilterRule `json:"importV4,omitempty"`
	// ExportV6 rules filter the IPv6 routes advertised to the peers.
	ExportV6 []BGPFilterRule `json:"exportV6,omitempty"`
	// ImportV6 rules filter the IPv6 routes learned from the peers.
	ImportV6 []BGPFilterRule `json:"importV6,omitempty"`
}

// BGPFilterRule matches routes by CIDR (with MatchOperator and an optional PrefixLength
// range), by Source and by Interface; every field that is set must match. A rule with no
// match fields matches every route of its family.
// +kubebuilder:validation:XValidation:rule="has(self.cidr) == has(self.matchOperator)",message="cidr and matchOperator must be given together"
type BGPFilterRule struct {
	// CIDR the route's prefix is compared with (requires matchOperator).
	// +trellis:validation:Net=cidr
	CIDR string `json:"cidr,omitempty"`
	// PrefixLength bounds the prefix length of matched routes (matchOperator In or NotIn).
	PrefixLength *BGPFilterPrefixLength `json:"prefixLength,omitempty"`
	// Source restricts the rule to routes learned from peers (RemotePeers).
	Source BGPFilterMatchSource `json:"source,omitempty"`
	// Interface restricts the rule to routes through interfaces matching this glob.
	Interface string `json:"interface,omitempty"`
	// MatchOperator compares the route with cidr: Equal, NotEqual, In (within) or NotIn.
	MatchOperator BGPFilterMatchOperator `json:"matchOperator,omitempty"`
	// Action: Accept or Reject the route.
	Action BGPFilterAction `json:"action"`
}

// BGPFilterPrefixLength bounds the prefix length of routes an In or NotIn rule matches.
// +kubebuilder:validation:XValidation:rule="!has(self.min) || !has(self.max) || self.min <= self.max",message="min must not exceed max"
type BGPFilterPrefixLength struct {
	// Min prefix length.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=128
	Min *int32 `json:"min,omitempty"`
	// Max prefix length.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=128
	Max *int32 `json:"max,omitempty"`
}

// BGPFilterMatchOperator says how a route's prefix is compared with a rule's CIDR.
// +kubebuilder:validation:Enum=Equal;NotEqual;In;NotIn
type BGPFilterMatchOperator string

// Match operators.
const (
	BGPFilterEqual    BGPFilterMatchOperator = "Equal"
	BGPFilterNotEqual BGPFilterMatchOperator = "NotEqual"
	BGPFilterIn       BGPFilterMatchOperator = "In"
	BGPFilterNotIn    BGPFilterMatchOperator = "NotIn"
)

// BGPFilterAction is what a matching rule does with a route.
// +kubebuilder:validation:Enum=Accept;Reject
type BGPFilterAction string

// Actions.
const (
	BGPFilterAccept BGPFilterAction = "Accept"
	BGPFilterReject BGPFilterAction = "Reject"
)

// BGPFilterMatchSource restricts a rule to routes of one origin.
// +kubebuilder:validation:Enum=RemotePeers
type BGPFilterMatchSource string

// BGPFilterSourceRemotePeers matches routes learned from BGP peers (not originated here).
const BGPFilterSourceRemotePeers BGPFilterMatchSource = "RemotePeers"
