package policy

import (
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	npa "sigs.k8s.io/network-policy-api/apis/v1beta1"

	"github.com/trellisnet/trellis/internal/model"
)

// PolicyCluster is the kind of a converted ClusterNetworkPolicy.
const PolicyCluster PolicyKind = "ClusterNetworkPolicy"

// Name prefixes Calico 3.32 gives converted ClusterNetworkPolicies, by tier.
const (
	CNPAdminPrefix    = "kcnp." + model.KubeAdminTierName + "."
	CNPBaselinePrefix = "kcnp." + model.KubeBaselineTierName + "."
)

// nodeSel selects the network sets of Kubernetes Nodes.
var nodeSel = "has(" + model.LabelKubernetesNode + ")"

// RuleOrigin names the source rule a converted rule comes from: its index in its direction
// and its name ("" when it has none). One source rule may give several converted rules.
type RuleOrigin struct {
	Index int
	Name  string
}

// cnpTier is the Calico tier and policy name of a ClusterNetworkPolicy.
func cnpTier(cnp *model.ClusterNetworkPolicy) (tier, name string, err error) {
	switch cnp.Spec.Tier {
	case npa.AdminTier:
		return model.KubeAdminTierName, CNPAdminPrefix + cnp.Name, nil
	case npa.BaselineTier:
		return model.KubeBaselineTierName, CNPBaselinePrefix + cnp.Name, nil
	}
	return "", "", fmt.Errorf("convert clusternetworkpolicy %s: spec.tier: unknown tier %q", cnp.Name, cnp.Spec.Tier)
}

// FromClusterNetworkPolicy converts a ClusterNetworkPolicy as Calico 3.32 does: a global
// policy kcnp.<tier>.<name> in tier kube-admin (Admin) or kube-baseline (Baseline), with
// the priority as its order, so that Calico policies in those tiers interleave with it by
// order. It selects Kubernetes pods (never host endpoints or network sets) by namespace or
// by namespace and pod; it applies only in the directions it has rules for. Each rule
// becomes one rule per peer and protocol, all with the source rule's index and name
// (RuleOrigin), so trace names the ClusterNetworkPolicy rule that decided. Accept is
// allow, Deny deny, Pass pass (the tiers' defaultAction is Pass too). A selector that
// cannot be expressed is an error.
func FromClusterNetworkPolicy(cnp *model.ClusterNetworkPolicy) (*PolicyInput, error) {
	tier, name, err := cnpTier(cnp)
	if err != nil {
		return nil, err
	}
	s := &cnp.Spec
	order := float64(s.Priority)
	p := &PolicyInput{ID: PolicyID{Kind: PolicyCluster, Name: name}, Tier: tier, Order: &order}
	p.Selector, p.NamespaceSelector, err = cnpPods(s.Subject.Namespaces, s.Subject.Pods)
	if err != nil {
		return nil, fmt.Errorf("convert clusternetworkpolicy %s: spec.subject: %w", cnp.Name, err)
	}
	if len(s.Ingress) > 0 {
		p.Types = append(p.Types, model.PolicyTypeIngress)
	}
	if len(s.Egress) > 0 {
		p.Types = append(p.Types, model.PolicyTypeEgress)
	}
	for i, r := range s.Ingress {
		peers := make([]cnpPeer, 0, len(r.From))
		for j, f := range r.From {
			e, err := cnpPeerOf(f.Namespaces, f.Pods)
			if err != nil {
				return nil, fmt.Errorf("convert clusternetworkpolicy %s: spec.ingress[%d].from[%d]: %w", cnp.Name, i, j, err)
			}
			peers = append(peers, e)
		}
		rules := cnpRules(r.Action, peers, r.Protocols, true)
		p.Ingress = append(p.Ingress, rules...)
		p.IngressOrigins = appendOrigins(p.IngressOrigins, len(rules), RuleOrigin{Index: i, Name: r.Name})
	}
	for i, r := range s.Egress {
		peers := make([]cnpPeer, 0, len(r.To))
		for j, t := range r.To {
			e, err := cnpEgressPeer(t)
			if err != nil {
				return nil, fmt.Errorf("convert clusternetworkpolicy %s: spec.egress[%d].to[%d]: %w", cnp.Name, i, j, err)
			}
			peers = append(peers, e)
		}
		rules := cnpRules(r.Action, peers, r.Protocols, false)
		p.Egress = append(p.Egress, rules...)
		p.EgressOrigins = appendOrigins(p.EgressOrigins, len(rules), RuleOrigin{Index: i, Name: r.Name})
	}
	return p, nil
}

func appendOrigins(out []RuleOrigin, n int, o RuleOrigin) []RuleOrigin {
	for range n {
		out = append(out, o)
	}
	return out
}

// cnpPeer is one converted peer. unknown is a peer Trellis does not implement (domainNames):
// it matches nothing in an Accept rule and makes a Deny or Pass rule deny everything, the
// upstream's fail-closed reading.
type cnpPeer struct {
	entity  model.EntityRule
	unknown bool
}

// cnpPods is the selector and namespace selector of a namespaces or pods member: Kubernetes
// pods (orchestrator k8s) of the selected namespaces, and of those the selected pods.
func cnpPods(ns *metav1.LabelSelector, pods *npa.NamespacedPod) (sel, nsSel string, err error) {
	switch {
	case ns != nil:
		if nsSel, err = labelSelector(ns); err != nil {
			return "", "", fmt.Errorf("namespaces: %w", err)
		}
		return orchestratorSel, nsSel, nil
	case pods != nil:
		if nsSel, err = labelSelector(&pods.NamespaceSelector); err != nil {
			return "", "", fmt.Errorf("pods.namespaceSelector: %w", err)
		}
		if sel, err = labelSelector(&pods.PodSelector); err != nil {
			return "", "", fmt.Errorf("pods.podSelector: %w", err)
		}
		return andSel(orchestratorSel, sel), nsSel, nil
	}
	return "", "", fmt.Errorf("neither namespaces nor pods is set")
}

func cnpPeerOf(ns *metav1.LabelSelector, pods *npa.NamespacedPod) (cnpPeer, error) {
	sel, nsSel, err := cnpPods(ns, pods)
	if err != nil {
		return cnpPeer{}, err
	}
	return cnpPeer{entity: model.EntityRule{Selector: sel, NamespaceSelector: nsSel}}, nil
}

func cnpEgressPeer(t npa.ClusterNetworkPolicyEgressPeer) (cnpPeer, error) {
	switch {
	case t.Networks != nil:
		nets := make([]string, len(t.Networks))
		for i, n := range t.Networks {
			nets[i] = string(n)
		}
		return cnpPeer{entity: model.EntityRule{Nets: nets}}, nil
	case t.Nodes != nil:
		sel, err := labelSelector(t.Nodes)
		if err != nil {
			return cnpPeer{}, fmt.Errorf("nodes: %w", err)
		}
		return cnpPeer{entity: model.EntityRule{Selector: andSel(nodeSel, sel), NamespaceSelector: "global()"}}, nil
	case t.DomainNames != nil:
		return cnpPeer{unknown: true}, nil
	}
	return cnpPeerOf(t.Namespaces, t.Pods)
}

// cnpProto is one protocols entry: a protocol with its destination ports (nil: every port).
type cnpProto struct {
	proto string
	ports []model.Port
}

// cnpProtocols expands a protocols list. An absent list matches every protocol (one entry
// with no protocol); a named port matches the port of that name of any protocol, so it
// gives one entry per protocol a container port can have.
func cnpProtocols(list []npa.ClusterNetworkPolicyProtocol) []cnpProto {
	if len(list) == 0 {
		return []cnpProto{{}}
	}
	port := func(p *npa.Port) []model.Port {
		switch {
		case p == nil:
			return nil
		case p.Range != nil:
			return []model.Port{model.PortRange(uint16(p.Range.Start), uint16(p.Range.End))}
		}
		return []model.Port{model.SinglePort(uint16(p.Number))}
	}
	var out []cnpProto
	for _, pr := range list {
		switch {
		case pr.TCP != nil:
			out = append(out, cnpProto{model.ProtocolTCP, port(pr.TCP.DestinationPort)})
		case pr.UDP != nil:
			out = append(out, cnpProto{model.ProtocolUDP, port(pr.UDP.DestinationPort)})
		case pr.SCTP != nil:
			out = append(out, cnpProto{model.ProtocolSCTP, port(pr.SCTP.DestinationPort)})
		case pr.DestinationNamedPort != "":
			named := []model.Port{model.NamedPort(pr.DestinationNamedPort)}
			out = append(out, cnpProto{model.ProtocolTCP, named}, cnpProto{model.ProtocolUDP, named},
				cnpProto{model.ProtocolSCTP, named})
		}
	}
	return out
}

// cnpRules converts one rule: one Calico rule per peer and protocol entry, in that order.
func cnpRules(action npa.ClusterNetworkPolicyRuleAction, peers []cnpPeer, protocols []npa.ClusterNetworkPolicyProtocol, ingress bool) []model.Rule {
	var act model.Action
	switch action {
	case npa.ClusterNetworkPolicyRuleActionAccept:
		act = model.Allow
	case npa.ClusterNetworkPolicyRuleActionDeny:
		act = model.Deny
	case npa.ClusterNetworkPolicyRuleActionPass:
		act = model.Pass
	default:
		// An action this version does not know: fail closed.
		return []model.Rule{{Action: model.Deny}}
	}
	protos := cnpProtocols(protocols)
	var out []model.Rule
	for _, peer := range peers {
		if peer.unknown {
			if act == model.Allow {
				continue
			}
			out = append(out, model.Rule{Action: model.Deny})
			continue
		}
		for _, pr := range protos {
			r := model.Rule{Action: act}
			if pr.proto != "" {
				proto := model.ProtocolFromString(pr.proto)
				r.Protocol = &proto
			}
			if ingress {
				r.Source = peer.entity
			} else {
				r.Destination = peer.entity
			}
			r.Destination.Ports = pr.ports
			out = append(out, r)
		}
	}
	return out
}
