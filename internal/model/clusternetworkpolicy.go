package model

import (
	"fmt"

	npav1beta1 "sigs.k8s.io/network-policy-api/apis/v1beta1"
)

// The Kubernetes network policy API (sigs.k8s.io/network-policy-api v0.3.0): its one kind,
// ClusterNetworkPolicy, is declared there and never re-declared here. v0.3.0 ships the same
// schema at v1alpha2 (what Calico 3.32 reads) and v1beta1 (its storage version); both
// decode into the v1beta1 Go type and are stored and printed at v1beta1.
const (
	GroupPolicyAPI             = "policy.networking.k8s.io"
	VersionPolicyAPI           = "v1beta1"
	VersionPolicyAPIAlpha      = "v1alpha2"
	APIVersionPolicyAPI        = GroupPolicyAPI + "/" + VersionPolicyAPI
	PolicyAPIBundleVersion     = "v0.3.0"
	ClusterNetworkPolicyKind   = "ClusterNetworkPolicy"
	clusterNetworkPolicyPlural = "clusternetworkpolicies"
)

// ClusterNetworkPolicy is the upstream type, named here so that the layers above need not
// import the upstream package for it.
type ClusterNetworkPolicy = npav1beta1.ClusterNetworkPolicy

// ExperimentalField is a field of the upstream experimental channel set in a manifest.
type ExperimentalField struct {
	Path string // "spec.egress[0].to[1].nodes"
	// Implemented is false for fields Trellis accepts without enforcing (domainNames: such
	// a peer matches nothing in an Accept rule and everything in a Deny or Pass rule).
	Implemented bool
}

// Message is the warning text.
func (e ExperimentalField) Message() string {
	if e.Implemented {
		return e.Path + ": experimental (the " + GroupPolicyAPI + " experimental channel); may change upstream"
	}
	return e.Path + ": experimental and not implemented by Trellis: an Accept rule's peer matches nothing, a Deny or Pass rule's everything"
}

// ExperimentalFields lists the experimental fields set in a ClusterNetworkPolicy, in field
// order; nil for other objects.
func ExperimentalFields(obj Object) []ExperimentalField {
	cnp, ok := obj.(*ClusterNetworkPolicy)
	if !ok {
		return nil
	}
	var out []ExperimentalField
	protos := func(ps []npav1beta1.ClusterNetworkPolicyProtocol, p string) {
		for i, pr := range ps {
			if pr.DestinationNamedPort != "" {
				out = append(out, ExperimentalField{Path: fmt.Sprintf("%s.protocols[%d].destinationNamedPort", p, i), Implemented: true})
			}
		}
	}
	for i, r := range cnp.Spec.Ingress {
		protos(r.Protocols, fmt.Sprintf("spec.ingress[%d]", i))
	}
	for i, r := range cnp.Spec.Egress {
		p := fmt.Sprintf("spec.egress[%d]", i)
		for j, peer := range r.To {
			if peer.Nodes != nil {
				out = append(out, ExperimentalField{Path: fmt.Sprintf("%s.to[%d].nodes", p, j), Implemented: true})
			}
			if peer.DomainNames != nil {
				out = append(out, ExperimentalField{Path: fmt.Sprintf("%s.to[%d].domainNames", p, j)})
			}
		}
		protos(r.Protocols, p)
	}
	return out
}

// policyAPIKinds are the kinds of policy.networking.k8s.io.
func policyAPIKinds() []*Kind {
	return []*Kind{
		{Group: GroupPolicyAPI, Version: VersionPolicyAPI, OtherVersions: []string{VersionPolicyAPIAlpha},
			Kind: ClusterNetworkPolicyKind, Plural: clusterNetworkPolicyPlural, Short: []string{"cnp", "cnps"},
			UpstreamCRD: true,
			New: func() Object {
				return &ClusterNetworkPolicy{TypeMeta: typeMeta(APIVersionPolicyAPI, ClusterNetworkPolicyKind)}
			}},
	}
}
