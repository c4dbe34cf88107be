package model

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// BGPFilter controls which routes are imported from and exported to the BGP peers whose
// BGPPeer lists it in spec.filters. Rules are evaluated in order and the first match
// decides; a route no rule matches gets the behaviour it would have without the filter.
type BGPFilter struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              BGPFilterSpec `json:"spec,omitempty"`
}

// BGPFilterSpec is the spec of a BGPFilter: one ordered rule list per direction and family.
type BGPFilterSpec struct {
	ExportV4 []BGPFilterRule `json:"exportV4,omitempty"`
	ImportV4 []BGPFilterRule `json:"importV4,omitempty"`
	ExportV6 []BGPFilterRule `json:"exportV6,omitempty"`
	ImportV6 []BGPFilterRule `json:"importV6,omitempty"`
}

// BGPFilterRule matches routes by CIDR (with MatchOperator and an optional PrefixLength
// range), by Source and by Interface; every field that is set must match. A rule with no
// match fields matches every route of its family.
type BGPFilterRule struct {
	CIDR          string                 `json:"cidr,omitempty"`
	PrefixLength  *BGPFilterPrefixLength `json:"prefixLength,omitempty"`
	Source        BGPFilterMatchSource   `json:"source,omitempty"`
	Interface     string                 `json:"interface,omitempty"`
	MatchOperator BGPFilterMatchOperator `json:"matchOperator,omitempty"`
	Action        BGPFilterAction        `json:"action"`
}

// BGPFilterPrefixLength bounds the prefix length of routes an In or NotIn rule matches.
type BGPFilterPrefixLength struct {
	Min *int32 `json:"min,omitempty"`
	Max *int32 `json:"max,omitempty"`
}

// BGPFilterMatchOperator says how a route's prefix is compared with a rule's CIDR.
type BGPFilterMatchOperator string

// Match operators.
const (
	BGPFilterEqual    BGPFilterMatchOperator = "Equal"
	BGPFilterNotEqual BGPFilterMatchOperator = "NotEqual"
	BGPFilterIn       BGPFilterMatchOperator = "In"
	BGPFilterNotIn    BGPFilterMatchOperator = "NotIn"
)

// BGPFilterAction is what a matching rule does with a route.
type BGPFilterAction string

// Actions.
const (
	BGPFilterAccept BGPFilterAction = "Accept"
	BGPFilterReject BGPFilterAction = "Reject"
)

// BGPFilterMatchSource restricts a rule to routes of one origin.
type BGPFilterMatchSource string

// BGPFilterSourceRemotePeers matches routes learned from BGP peers (not originated here).
const BGPFilterSourceRemotePeers BGPFilterMatchSource = "RemotePeers"
