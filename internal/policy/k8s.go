package policy

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/trellisnet/trellis/internal/model"
)

// K8sPolicyPrefix is the name prefix Calico gives converted Kubernetes policies.
const K8sPolicyPrefix = "knp.default."

// K8sPolicyOrder is the order Calico gives converted Kubernetes policies.
const K8sPolicyOrder = 1000.0

// FromKubernetesPolicy converts a Kubernetes NetworkPolicy as Calico does: policy
// knp.default.<name> in tier default with order 1000, selecting pods (orchestrator k8s) in the
// namespace; one rule per protocol and peer; ipBlock except as notNets; an empty peer list
// means any source or destination; policyTypes default to Ingress, plus Egress when egress
// rules exist. A label selector that cannot be expressed is an error.
func FromKubernetesPolicy(np *networkingv1.NetworkPolicy) (*PolicyInput, error) {
	sel, err := labelSelector(&np.Spec.PodSelector)
	if err != nil {
		return nil, fmt.Errorf("convert networkpolicy %s/%s: spec.podSelector: %w", np.Namespace, np.Name, err)
	}
	order := K8sPolicyOrder
	p := &PolicyInput{
		ID:       PolicyID{Kind: PolicyKubernetes, Namespace: np.Namespace, Name: K8sPolicyPrefix + np.Name},
		Tier:     "default",
		Order:    &order,
		Selector: andSel(orchestratorSel, sel),
	}
	types := np.Spec.PolicyTypes
	if len(types) == 0 {
		types = []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}
		if len(np.Spec.Egress) > 0 {
			types = append(types, networkingv1.PolicyTypeEgress)
		}
	}
	for _, t := range types {
		switch t {
		case networkingv1.PolicyTypeIngress:
			p.Types = append(p.Types, model.PolicyTypeIngress)
		case networkingv1.PolicyTypeEgress:
			p.Types = append(p.Types, model.PolicyTypeEgress)
		}
	}
	if slices.Contains(p.Types, model.PolicyTypeIngress) {
		for i, r := range np.Spec.Ingress {
			rules, err := k8sRules(r.Ports, r.From, true)
			if err != nil {
				return nil, fmt.Errorf("convert networkpolicy %s/%s: spec.ingress[%d]: %w", np.Namespace, np.Name, i, err)
			}
			p.Ingress = append(p.Ingress, rules...)
		}
	}
	if slices.Contains(p.Types, model.PolicyTypeEgress) {
		for i, r := range np.Spec.Egress {
			rules, err := k8sRules(r.Ports, r.To, false)
			if err != nil {
				return nil, fmt.Errorf("convert networkpolicy %s/%s: spec.egress[%d]: %w", np.Namespace, np.Name, i, err)
			}
			p.Egress = append(p.Egress, rules...)
		}
	}
	return p, nil
}

// FromStagedKubernetesPolicy converts a StagedKubernetesNetworkPolicy as the Kubernetes
// NetworkPolicy it stands for, marked staged (never enforced) and kept apart by its kind.
// A staged delete converts with an empty spec.
func FromStagedKubernetesPolicy(sp *model.StagedKubernetesNetworkPolicy) (*PolicyInput, error) {
	p, err := FromKubernetesPolicy(sp.KubernetesPolicy())
	if err != nil {
		return nil, fmt.Errorf("staged: %w", err)
	}
	p.ID.Kind = PolicyStagedKubernetes
	p.Staged, p.StagedAction = true, sp.Spec.StagedAction
	return p, nil
}

var orchestratorSel = model.LabelOrchestrator + " == \"" + model.OrchestratorK8s + "\""

func andSel(a, b string) string {
	if b == "" || b == "all()" {
		return a
	}
	return a + " && (" + b + ")"
}

// k8sRules expands one Kubernetes rule into Calico rules: for each peer (or none), one rule per
// protocol carrying that protocol's ports.
func k8sRules(ports []networkingv1.NetworkPolicyPort, peers []networkingv1.NetworkPolicyPeer, ingress bool) ([]model.Rule, error) {
	type protoPorts struct {
		proto string
		all   bool // a port-less entry allows every port of the protocol
		ports []model.Port
	}
	var groups []protoPorts
	for _, pp := range ports {
		proto := "TCP"
		if pp.Protocol != nil {
			proto = string(*pp.Protocol)
		}
		i := slices.IndexFunc(groups, func(g protoPorts) bool { return g.proto == proto })
		if i < 0 {
			groups = append(groups, protoPorts{proto: proto})
			i = len(groups) - 1
		}
		switch {
		case pp.Port == nil:
			groups[i].all = true
		case pp.Port.Type == intstr.String:
			groups[i].ports = append(groups[i].ports, model.NamedPort(pp.Port.StrVal))
		case pp.EndPort != nil:
			groups[i].ports = append(groups[i].ports, model.PortRange(uint16(pp.Port.IntVal), uint16(*pp.EndPort)))
		default:
			groups[i].ports = append(groups[i].ports, model.SinglePort(uint16(pp.Port.IntVal)))
		}
	}
	entities := []model.EntityRule{{}}
	if len(peers) > 0 {
		entities = entities[:0]
		for j, peer := range peers {
			e, err := k8sPeer(peer)
			if err != nil {
				return nil, fmt.Errorf("peer %d: %w", j, err)
			}
			entities = append(entities, e)
		}
	}
	var out []model.Rule
	for _, e := range entities {
		if len(groups) == 0 {
			out = append(out, k8sRule(nil, nil, e, ingress))
			continue
		}
		for _, g := range groups {
			proto := model.ProtocolFromString(g.proto)
			ports := g.ports
			if g.all {
				ports = nil
			}
			out = append(out, k8sRule(&proto, ports, e, ingress))
		}
	}
	return out, nil
}

func k8sRule(proto *model.Protocol, ports []model.Port, peer model.EntityRule, ingress bool) model.Rule {
	r := model.Rule{Action: model.Allow, Protocol: proto}
	if ingress {
		r.Source = peer
		r.Destination.Ports = ports
	} else {
		r.Destination = peer
		r.Destination.Ports = ports
	}
	return r
}

func k8sPeer(peer networkingv1.NetworkPolicyPeer) (model.EntityRule, error) {
	var e model.EntityRule
	if peer.IPBlock != nil {
		e.Nets = []string{peer.IPBlock.CIDR}
		e.NotNets = slices.Clone(peer.IPBlock.Except)
		return e, nil
	}
	if peer.PodSelector != nil {
		s, err := labelSelector(peer.PodSelector)
		if err != nil {
			return e, fmt.Errorf("podSelector: %w", err)
		}
		e.Selector = andSel(orchestratorSel, s)
	} else {
		e.Selector = orchestratorSel
	}
	if peer.NamespaceSelector != nil {
		s, err := labelSelector(peer.NamespaceSelector)
		if err != nil {
			return e, fmt.Errorf("namespaceSelector: %w", err)
		}
		e.NamespaceSelector = s
	}
	return e, nil
}

// labelSelector converts a Kubernetes label selector to a Calico selector ("all()" if empty).
func labelSelector(ls *metav1.LabelSelector) (string, error) {
	var terms []string
	keys := make([]string, 0, len(ls.MatchLabels))
	for k := range ls.MatchLabels {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		terms = append(terms, k+" == "+quoteValue(ls.MatchLabels[k]))
	}
	for _, ex := range ls.MatchExpressions {
		vals := make([]string, len(ex.Values))
		for i, v := range ex.Values {
			vals[i] = quoteValue(v)
		}
		switch ex.Operator {
		case metav1.LabelSelectorOpIn:
			terms = append(terms, ex.Key+" in {"+strings.Join(vals, ", ")+"}")
		case metav1.LabelSelectorOpNotIn:
			terms = append(terms, ex.Key+" not in {"+strings.Join(vals, ", ")+"}")
		case metav1.LabelSelectorOpExists:
			terms = append(terms, "has("+ex.Key+")")
		case metav1.LabelSelectorOpDoesNotExist:
			terms = append(terms, "!has("+ex.Key+")")
		default:
			return "", fmt.Errorf("unknown operator %q", ex.Operator)
		}
	}
	if len(terms) == 0 {
		return "all()", nil
	}
	return strings.Join(terms, " && "), nil
}

func quoteValue(v string) string {
	if strings.Contains(v, "\"") {
		return "'" + v + "'"
	}
	return strconv.Quote(v)
}

// protoLower maps a Kubernetes protocol to Trellis's lower-case name.
func protoLower(p corev1.Protocol) string {
	if p == "" {
		return "tcp"
	}
	return strings.ToLower(string(p))
}
