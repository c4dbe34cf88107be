package model

import (
	"fmt"
	"regexp"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	npa "sigs.k8s.io/network-policy-api/apis/v1beta1"
)

// Limits of ClusterNetworkPolicy (the upstream CRD's schema).
const (
	CNPMaxPriority   = 1000
	cnpMaxRules      = 25
	cnpMaxPeers      = 25
	cnpMaxProtocols  = 25
	cnpMaxNetworks   = 25
	cnpMaxRuleName   = 100
	cnpMaxCIDRLength = 43
)

// cnpDomainRE is the upstream schema's pattern of a domain name peer.
var cnpDomainRE = regexp.MustCompile(`^(\*\.)?([a-zA-Z0-9]([-a-zA-Z0-9_]*[a-zA-Z0-9])?\.)+[a-zA-Z0-9]([-a-zA-Z0-9_]*[a-zA-Z0-9])?\.?$`)

// validateCNP checks what the upstream CRD's schema and CEL rules check (both channels):
// enums, ranges, list sizes, masked CIDRs, port ranges and that each union has exactly one
// member.
func validateCNP(s *npa.ClusterNetworkPolicySpec, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	switch s.Tier {
	case "":
		errs = append(errs, field.Required(p.Child("tier"), "Admin or Baseline"))
	default:
		errs = append(errs, notSupported(p.Child("tier"), s.Tier, npa.AdminTier, npa.BaselineTier)...)
	}
	if s.Priority < 0 || s.Priority > CNPMaxPriority {
		errs = append(errs, field.Invalid(p.Child("priority"), s.Priority, fmt.Sprintf("must be between 0 and %d, inclusive", CNPMaxPriority)))
	}
	sp := p.Child("subject")
	if oneOf(&errs, sp, unionMember{"namespaces", s.Subject.Namespaces != nil}, unionMember{"pods", s.Subject.Pods != nil}) {
		errs = append(errs, cnpSelectors(s.Subject.Namespaces, s.Subject.Pods, sp)...)
	}
	if len(s.Ingress) > cnpMaxRules {
		errs = append(errs, field.TooMany(p.Child("ingress"), len(s.Ingress), cnpMaxRules))
	}
	for i := range s.Ingress {
		r := &s.Ingress[i]
		rp := p.Child("ingress").Index(i)
		errs = append(errs, cnpRuleHead(r.Name, r.Action, rp)...)
		errs = append(errs, listSize(r.From, true, cnpMaxPeers, rp.Child("from"))...)
		for j, peer := range r.From {
			pp := rp.Child("from").Index(j)
			if oneOf(&errs, pp, unionMember{"namespaces", peer.Namespaces != nil}, unionMember{"pods", peer.Pods != nil}) {
				errs = append(errs, cnpSelectors(peer.Namespaces, peer.Pods, pp)...)
			}
		}
		errs = append(errs, cnpProtocols(r.Protocols, rp.Child("protocols"))...)
	}
	if len(s.Egress) > cnpMaxRules {
		errs = append(errs, field.TooMany(p.Child("egress"), len(s.Egress), cnpMaxRules))
	}
	for i := range s.Egress {
		errs = append(errs, cnpEgressRule(&s.Egress[i], p.Child("egress").Index(i))...)
	}
	return errs
}

func cnpRuleHead(name string, action npa.ClusterNetworkPolicyRuleAction, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if len(name) > cnpMaxRuleName {
		errs = append(errs, field.TooLong(p.Child("name"), "", cnpMaxRuleName))
	}
	if action == "" {
		errs = append(errs, field.Required(p.Child("action"), "Accept, Deny or Pass"))
	} else {
		errs = append(errs, notSupported(p.Child("action"), action, npa.ClusterNetworkPolicyRuleActionAccept,
			npa.ClusterNetworkPolicyRuleActionDeny, npa.ClusterNetworkPolicyRuleActionPass)...)
	}
	return errs
}

func cnpEgressRule(r *npa.ClusterNetworkPolicyEgressRule, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	errs = append(errs, cnpRuleHead(r.Name, r.Action, p)...)
	errs = append(errs, listSize(r.To, true, cnpMaxPeers, p.Child("to"))...)
	nonPod := false
	for j, peer := range r.To {
		pp := p.Child("to").Index(j)
		if !oneOf(&errs, pp, unionMember{"namespaces", peer.Namespaces != nil}, unionMember{"pods", peer.Pods != nil},
			unionMember{"nodes", peer.Nodes != nil}, unionMember{"networks", peer.Networks != nil},
			unionMember{"domainNames", peer.DomainNames != nil}) {
			continue
		}
		errs = append(errs, cnpSelectors(peer.Namespaces, peer.Pods, pp)...)
		if peer.Nodes != nil {
			nonPod = true
			errs = append(errs, labelSelectorErrs(peer.Nodes, pp.Child("nodes"))...)
		}
		if peer.Networks != nil {
			nonPod = true
			errs = append(errs, cnpNetworks(peer.Networks, pp.Child("networks"))...)
		}
		if peer.DomainNames != nil {
			nonPod = true
			dp := pp.Child("domainNames")
			errs = append(errs, listSize(peer.DomainNames, true, cnpMaxNetworks, dp)...)
			seen := map[npa.DomainName]bool{}
			for k, d := range peer.DomainNames {
				if !cnpDomainRE.MatchString(string(d)) {
					errs = append(errs, field.Invalid(dp.Index(k), d, "must be a domain name, with '*.' only as a prefix (e.g. 'kubernetes.io' or '*.kubernetes.io')"))
				}
				if seen[d] {
					errs = append(errs, field.Duplicate(dp.Index(k), d))
				}
				seen[d] = true
			}
		}
	}
	errs = append(errs, cnpProtocols(r.Protocols, p.Child("protocols"))...)
	if nonPod {
		for k, pr := range r.Protocols {
			if pr.DestinationNamedPort != "" {
				errs = append(errs, field.Invalid(p.Child("protocols").Index(k).Child("destinationNamedPort"), pr.DestinationNamedPort,
					"a rule with networks, nodes or domainNames peers cannot use named ports: they have none"))
			}
		}
	}
	return errs
}

func cnpNetworks(nets []npa.CIDR, p *field.Path) field.ErrorList {
	errs := listSize(nets, true, cnpMaxNetworks, p)
	seen := map[npa.CIDR]bool{}
	for i, n := range nets {
		if len(n) > cnpMaxCIDRLength {
			errs = append(errs, field.TooLong(p.Index(i), "", cnpMaxCIDRLength))
			continue
		}
		errs = append(errs, validateCIDR(string(n), 0, true, p.Index(i))...)
		if seen[n] {
			errs = append(errs, field.Duplicate(p.Index(i), n))
		}
		seen[n] = true
	}
	return errs
}

// cnpSelectors checks the label selectors of a namespaces or pods member.
func cnpSelectors(ns *metav1.LabelSelector, pods *npa.NamespacedPod, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if ns != nil {
		errs = append(errs, labelSelectorErrs(ns, p.Child("namespaces"))...)
	}
	if pods != nil {
		errs = append(errs, labelSelectorErrs(&pods.NamespaceSelector, p.Child("pods", "namespaceSelector"))...)
		errs = append(errs, labelSelectorErrs(&pods.PodSelector, p.Child("pods", "podSelector"))...)
	}
	return errs
}

func cnpProtocols(protos []npa.ClusterNetworkPolicyProtocol, p *field.Path) field.ErrorList {
	errs := listSize(protos, false, cnpMaxProtocols, p)
	for i, pr := range protos {
		pp := p.Index(i)
		if !oneOf(&errs, pp, unionMember{"tcp", pr.TCP != nil}, unionMember{"udp", pr.UDP != nil}, unionMember{"sctp", pr.SCTP != nil},
			unionMember{"destinationNamedPort", pr.DestinationNamedPort != ""}) {
			continue
		}
		switch {
		case pr.TCP != nil:
			errs = append(errs, cnpPort(pr.TCP.DestinationPort, pp.Child("tcp", "destinationPort"))...)
		case pr.UDP != nil:
			errs = append(errs, cnpPort(pr.UDP.DestinationPort, pp.Child("udp", "destinationPort"))...)
		case pr.SCTP != nil:
			errs = append(errs, cnpPort(pr.SCTP.DestinationPort, pp.Child("sctp", "destinationPort"))...)
		default:
			for _, msg := range validation.IsValidPortName(pr.DestinationNamedPort) {
				errs = append(errs, field.Invalid(pp.Child("destinationNamedPort"), pr.DestinationNamedPort, msg))
			}
		}
	}
	return errs
}

func cnpPort(port *npa.Port, p *field.Path) field.ErrorList {
	if port == nil {
		return field.ErrorList{field.Required(p, "a number or a range")}
	}
	var errs field.ErrorList
	if !oneOf(&errs, p, unionMember{"number", port.Number != 0}, unionMember{"range", port.Range != nil}) {
		return errs
	}
	if port.Range == nil {
		return validatePortNumber(int(port.Number), p.Child("number"))
	}
	rp := p.Child("range")
	errs = append(errs, validatePortNumber(int(port.Range.Start), rp.Child("start"))...)
	errs = append(errs, validatePortNumber(int(port.Range.End), rp.Child("end"))...)
	if port.Range.Start >= port.Range.End {
		errs = append(errs, field.Invalid(rp, fmt.Sprintf("%d-%d", port.Range.Start, port.Range.End), "start must be less than end"))
	}
	return errs
}

// unionMember is one member of a union: its field name and whether it is set.
type unionMember struct {
	name string
	set  bool
}

// oneOf reports whether exactly one member of the union at p is set, adding the problem
// to errs when not.
func oneOf(errs *field.ErrorList, p *field.Path, members ...unionMember) bool {
	var names, set []string
	for _, m := range members {
		names = append(names, m.name)
		if m.set {
			set = append(set, m.name)
		}
	}
	switch len(set) {
	case 1:
		return true
	case 0:
		*errs = append(*errs, field.Required(p, "exactly one of "+strings.Join(names, ", ")+" must be set"))
	default:
		*errs = append(*errs, field.Forbidden(p, "exactly one of "+strings.Join(names, ", ")+" may be set, not "+strings.Join(set, " and ")))
	}
	return false
}

// listSize checks a list's length: at most max items, and at least one when the list is
// required or, given, must not be empty (the schema's minItems: 1).
func listSize[T any](list []T, required bool, limit int, p *field.Path) field.ErrorList {
	switch {
	case list == nil && required, list != nil && len(list) == 0:
		return field.ErrorList{field.Required(p, "at least one item")}
	case len(list) > limit:
		return field.ErrorList{field.TooMany(p, len(list), limit)}
	}
	return nil
}
