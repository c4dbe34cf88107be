package model

import (
	"fmt"
	"maps"
	"net/netip"
	"regexp"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/trellisnet/trellis/internal/selector"
)

// Validate checks obj as Calico's validator (projectcalico.org/v3 kinds) or the Kubernetes
// API server (Kubernetes kinds) would on create, after SetDefaults. It is pure and collects
// every problem, each with a field path such as "spec.ingress[0].action".
func Validate(obj Object) field.ErrorList {
	key, ok := KeyOf(obj)
	if !ok {
		gvk := obj.GetObjectKind().GroupVersionKind()
		return field.ErrorList{field.NotSupported[string](field.NewPath("kind"), gvk.Kind, nil)}
	}
	meta := field.NewPath("metadata")
	spec := field.NewPath("spec")
	var errs field.ErrorList
	switch o := obj.(type) {
	case *Tier:
		errs = append(errs, validateMeta(&o.ObjectMeta, false, tierName, meta)...)
		errs = append(errs, validateTier(o, spec)...)
	case *NetworkSet:
		errs = append(errs, validateMeta(&o.ObjectMeta, true, subdomainName, meta)...)
		errs = append(errs, reservedLabel(o.Labels, meta.Child("labels"))...)
		errs = append(errs, validateNets(o.Spec.Nets, 0, spec.Child("nets"))...)
	case *GlobalNetworkSet:
		errs = append(errs, validateMeta(&o.ObjectMeta, false, subdomainName, meta)...)
		errs = append(errs, reservedLabel(o.Labels, meta.Child("labels"))...)
		errs = append(errs, validateNets(o.Spec.Nets, 0, spec.Child("nets"))...)
	case *HostEndpoint:
		errs = append(errs, validateMeta(&o.ObjectMeta, false, subdomainName, meta)...)
		errs = append(errs, validateHostEndpoint(&o.Spec, spec)...)
	case *WorkloadEndpoint:
		errs = append(errs, validateMeta(&o.ObjectMeta, true, subdomainName, meta)...)
		errs = append(errs, validateWorkloadEndpoint(&o.Spec, spec)...)
	case *Profile:
		errs = append(errs, validateMeta(&o.ObjectMeta, false, subdomainName, meta)...)
		errs = append(errs, validateRules(o.Spec.Ingress, PolicyTypeIngress, false, spec.Child("ingress"))...)
		errs = append(errs, validateRules(o.Spec.Egress, PolicyTypeEgress, false, spec.Child("egress"))...)
		errs = append(errs, labelErrs(o.Spec.LabelsToApply, spec.Child("labelsToApply"))...)
	case *IPPool:
		errs = append(errs, validateMeta(&o.ObjectMeta, false, subdomainName, meta)...)
		errs = append(errs, validateIPPool(&o.Spec, spec)...)
	case *IPReservation:
		errs = append(errs, validateMeta(&o.ObjectMeta, false, subdomainName, meta)...)
		errs = append(errs, validateNets(o.Spec.ReservedCIDRs, 0, spec.Child("reservedCIDRs"))...)
	case *IPAMConfiguration:
		errs = append(errs, validateMeta(&o.ObjectMeta, false, onlyDefaultName, meta)...)
		if o.Spec.MaxBlocksPerHost < 0 {
			errs = append(errs, field.Invalid(spec.Child("maxBlocksPerHost"), o.Spec.MaxBlocksPerHost, "must be 0 (no limit) or more"))
		}
	case *BGPConfiguration:
		errs = append(errs, validateMeta(&o.ObjectMeta, false, subdomainName, meta)...)
		errs = append(errs, validateBGPConfiguration(o, spec)...)
	case *BGPPeer:
		errs = append(errs, validateMeta(&o.ObjectMeta, false, subdomainName, meta)...)
		errs = append(errs, validateBGPPeer(&o.Spec, spec)...)
	case *BGPFilter:
		errs = append(errs, validateMeta(&o.ObjectMeta, false, subdomainName, meta)...)
		errs = append(errs, validateBGPFilter(&o.Spec, spec)...)
	case *Node:
		errs = append(errs, validateMeta(&o.ObjectMeta, false, subdomainName, meta)...)
		errs = append(errs, validateNode(o, spec)...)
	case *FelixConfiguration:
		errs = append(errs, validateMeta(&o.ObjectMeta, false, subdomainName, meta)...)
		errs = append(errs, validateFelix(&o.Spec, spec)...)
	case *StagedKubernetesNetworkPolicy:
		errs = append(errs, validateMeta(&o.ObjectMeta, true, apivalidation.NameIsDNSSubdomain, meta)...)
		errs = append(errs, validateStagedK8sPolicy(o, spec)...)
	case *KubeControllersConfiguration:
		errs = append(errs, validateMeta(&o.ObjectMeta, false, onlyDefaultName, meta)...)
		errs = append(errs, validateKubeControllers(&o.Spec, spec)...)
	case *ClusterInformation:
		errs = append(errs, validateMeta(&o.ObjectMeta, false, onlyDefaultName, meta)...)
		errs = append(errs, validateClusterInformation(&o.Spec, spec)...)
	case *ClusterNetworkPolicy:
		errs = append(errs, validateMeta(&o.ObjectMeta, false, apivalidation.NameIsDNSSubdomain, meta)...)
		errs = append(errs, validateCNP(&o.Spec, spec)...)
	default:
		if polErrs, ok := validateCalicoPolicy(obj, meta, spec); ok {
			return append(errs, polErrs...)
		}
		if k8sErrs, ok := validateKubernetes(obj, meta, spec); ok {
			return append(errs, k8sErrs...)
		}
		// A registered kind without rules of its own (Trellis internal kinds): metadata only.
		errs = append(errs, apivalidation.ValidateObjectMetaAccessor(obj, key.Kind.Namespaced, apivalidation.NameIsDNSSubdomain, meta)...)
	}
	return errs
}

// validateCalicoPolicy checks the four Calico policy kinds; ok is false for any other kind.
func validateCalicoPolicy(obj Object, meta, spec *field.Path) (errs field.ErrorList, ok bool) {
	switch o := obj.(type) {
	case *NetworkPolicy:
		errs = append(errs, validateMeta(&o.ObjectMeta, true, policyName, meta)...)
		errs = append(errs, validatePolicy(policyFields{tier: o.Spec.Tier, selector: o.Spec.Selector,
			saSelector: o.Spec.ServiceAccountSelector, types: o.Spec.Types, ingress: o.Spec.Ingress,
			egress: o.Spec.Egress, hints: o.Spec.PerformanceHints, order: o.Spec.Order}, spec)...)
	case *GlobalNetworkPolicy:
		errs = append(errs, validateMeta(&o.ObjectMeta, false, globalPolicyName, meta)...)
		errs = append(errs, validatePolicy(policyFields{tier: o.Spec.Tier, selector: o.Spec.Selector,
			saSelector: o.Spec.ServiceAccountSelector, nsSelector: o.Spec.NamespaceSelector,
			types: o.Spec.Types, ingress: o.Spec.Ingress, egress: o.Spec.Egress, hints: o.Spec.PerformanceHints,
			order: o.Spec.Order, global: true, doNotTrack: o.Spec.DoNotTrack, preDNAT: o.Spec.PreDNAT,
			applyOnForward: o.Spec.ApplyOnForward}, spec)...)
	case *StagedNetworkPolicy:
		errs = append(errs, validateMeta(&o.ObjectMeta, true, policyName, meta)...)
		errs = append(errs, validateStaged(o.Spec.StagedAction, policyFields{tier: o.Spec.Tier, selector: o.Spec.Selector,
			saSelector: o.Spec.ServiceAccountSelector, types: o.Spec.Types, ingress: o.Spec.Ingress,
			egress: o.Spec.Egress, hints: o.Spec.PerformanceHints, order: o.Spec.Order}, spec)...)
	case *StagedGlobalNetworkPolicy:
		errs = append(errs, validateMeta(&o.ObjectMeta, false, globalPolicyName, meta)...)
		errs = append(errs, validateStaged(o.Spec.StagedAction, policyFields{tier: o.Spec.Tier, selector: o.Spec.Selector,
			saSelector: o.Spec.ServiceAccountSelector, nsSelector: o.Spec.NamespaceSelector,
			types: o.Spec.Types, ingress: o.Spec.Ingress, egress: o.Spec.Egress, hints: o.Spec.PerformanceHints,
			order: o.Spec.Order, global: true, doNotTrack: o.Spec.DoNotTrack, preDNAT: o.Spec.PreDNAT,
			applyOnForward: o.Spec.ApplyOnForward}, spec)...)
	default:
		return nil, false
	}
	return errs, true
}

// validateKubernetes checks the Kubernetes kinds as the API server would; ok is false for
// any other kind.
func validateKubernetes(obj Object, meta, spec *field.Path) (errs field.ErrorList, ok bool) {
	switch o := obj.(type) {
	case *corev1.Namespace:
		errs = append(errs, validateMeta(&o.ObjectMeta, false, apivalidation.NameIsDNSLabel, meta)...)
	case *corev1.Pod:
		errs = append(errs, validateMeta(&o.ObjectMeta, true, apivalidation.NameIsDNSSubdomain, meta)...)
		errs = append(errs, validatePod(o)...)
	case *corev1.ServiceAccount:
		errs = append(errs, validateMeta(&o.ObjectMeta, true, apivalidation.NameIsDNSSubdomain, meta)...)
	case *corev1.Service:
		errs = append(errs, validateMeta(&o.ObjectMeta, true, apivalidation.NameIsDNS1035Label, meta)...)
		errs = append(errs, validateService(o, spec)...)
	case *corev1.Node:
		errs = append(errs, validateMeta(&o.ObjectMeta, false, apivalidation.NameIsDNSSubdomain, meta)...)
		errs = append(errs, validateK8sNode(o, spec)...)
	case *discoveryv1.EndpointSlice:
		errs = append(errs, validateMeta(&o.ObjectMeta, true, apivalidation.NameIsDNSSubdomain, meta)...)
		errs = append(errs, validateEndpointSlice(o)...)
	case *networkingv1.NetworkPolicy:
		errs = append(errs, validateMeta(&o.ObjectMeta, true, apivalidation.NameIsDNSSubdomain, meta)...)
		errs = append(errs, validateK8sNetworkPolicy(o, spec)...)
	default:
		return nil, false
	}
	return errs, true
}

// validateMeta checks name, namespace, labels and annotations as the API server does. A
// namespaced kind needs a namespace (manifest loaders fill in "default" first, as kubectl and
// calicoctl do).
func validateMeta(m *metav1.ObjectMeta, namespaced bool, nameFn apivalidation.ValidateNameFunc, p *field.Path) field.ErrorList {
	return apivalidation.ValidateObjectMeta(m, namespaced, nameFn, p)
}

func subdomainName(name string, prefix bool) []string {
	return apivalidation.NameIsDNSSubdomain(name, prefix)
}

var (
	labelFmt = `[a-z0-9]([-a-z0-9]*[a-z0-9])?`
	// A namespaced policy is "label" or "label.label", or a name derived from a Kubernetes
	// object ("knp.default.NAME", "ossg.default.NAME"); a global one is "label" or
	// "label.label" (Calico's rules).
	policyNameRE       = regexp.MustCompile(`^((` + labelFmt + `)(\.` + labelFmt + `)?|((knp|ossg)\.default\.` + labelFmt + `(\.` + labelFmt + `)*))$`)
	globalPolicyNameRE = regexp.MustCompile(`^(` + labelFmt + `\.)?` + labelFmt + `$`)
)

func policyName(name string, prefix bool) []string {
	if msgs := apivalidation.NameIsDNSSubdomain(name, prefix); len(msgs) > 0 {
		return msgs
	}
	if !policyNameRE.MatchString(name) {
		return []string{"a policy name is one or two DNS-1123 labels joined by a dot (e.g. 'allow-dns' or 'security.allow-dns')"}
	}
	return nil
}

func globalPolicyName(name string, prefix bool) []string {
	if msgs := apivalidation.NameIsDNSSubdomain(name, prefix); len(msgs) > 0 {
		return msgs
	}
	if !globalPolicyNameRE.MatchString(name) {
		return []string{"a global policy name is one or two DNS-1123 labels joined by a dot (e.g. 'allow-dns' or 'security.allow-dns')"}
	}
	return nil
}

// tierName: tier names are DNS-1123 labels (no dots: a dot separates tier and policy name).
func tierName(name string, prefix bool) []string {
	return apivalidation.NameIsDNSLabel(name, prefix)
}

func onlyDefaultName(name string, _ bool) []string {
	if name != "default" {
		return []string{`must be "default": there is one cluster-wide instance`}
	}
	return nil
}

// reservedLabel: LabelNamespace is set by Calico itself on namespaced objects; users may not
// set it.
func reservedLabel(labels map[string]string, p *field.Path) field.ErrorList {
	if _, ok := labels[LabelNamespace]; ok {
		return field.ErrorList{field.Forbidden(p.Key(LabelNamespace), "this label is reserved for Calico")}
	}
	if _, ok := labels[LabelKubernetesNode]; ok {
		return field.ErrorList{field.Forbidden(p.Key(LabelKubernetesNode), "this label is reserved for Trellis")}
	}
	return nil
}

func labelErrs(labels map[string]string, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		v := labels[k]
		for _, msg := range validation.IsQualifiedName(k) {
			errs = append(errs, field.Invalid(p, k, msg))
		}
		for _, msg := range validation.IsValidLabelValue(v) {
			errs = append(errs, field.Invalid(p.Key(k), v, msg))
		}
	}
	return errs
}

// validateSelector parses a Calico selector expression.
func validateSelector(s string, p *field.Path) field.ErrorList {
	if s == "" {
		return nil
	}
	if _, err := selector.Parse(s); err != nil {
		msg := err.Error()
		if pe, ok := err.(*selector.ParseError); ok {
			msg = fmt.Sprintf("%s at offset %d", pe.Msg, pe.Offset)
		}
		return field.ErrorList{field.Invalid(p, s, msg)}
	}
	return nil
}

// parseNet parses a CIDR or a bare IP address (taken as a host route), as Calico does for
// nets, reserved CIDRs and the like. Host bits are allowed.
func parseNet(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		return netip.ParsePrefix(s)
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	if a.Zone() != "" {
		return netip.Prefix{}, fmt.Errorf("zones are not allowed")
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// validateNets checks each entry is an IP or CIDR, of family ipVersion when that is 4 or 6.
func validateNets(nets []string, ipVersion int, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, n := range nets {
		pf, err := parseNet(n)
		if err != nil {
			errs = append(errs, field.Invalid(p.Index(i), n, "must be an IP address or a CIDR"))
			continue
		}
		if v := ipVersionOf(pf.Addr()); ipVersion != 0 && v != ipVersion {
			errs = append(errs, field.Invalid(p.Index(i), n, fmt.Sprintf("is an IPv%d network but the rule's ipVersion is %d", v, ipVersion)))
		}
	}
	return errs
}

func ipVersionOf(a netip.Addr) int {
	if a.Is4() || a.Is4In6() {
		return 4
	}
	return 6
}

// validateIP checks a plain IP address, of family version (0: either).
func validateIP(s string, version int, p *field.Path) field.ErrorList {
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return field.ErrorList{field.Invalid(p, s, "must be a valid IP address")}
	}
	if version != 0 && ipVersionOf(a) != version {
		return field.ErrorList{field.Invalid(p, s, fmt.Sprintf("must be an IPv%d address", version))}
	}
	return nil
}

// validateCIDR checks a CIDR (host bits allowed unless masked), of family version (0: either).
func validateCIDR(s string, version int, masked bool, p *field.Path) field.ErrorList {
	pf, err := netip.ParsePrefix(s)
	if err != nil {
		return field.ErrorList{field.Invalid(p, s, "must be a valid CIDR")}
	}
	if version != 0 && ipVersionOf(pf.Addr()) != version {
		return field.ErrorList{field.Invalid(p, s, fmt.Sprintf("must be an IPv%d CIDR", version))}
	}
	if masked && pf.Masked() != pf {
		return field.ErrorList{field.Invalid(p, s, fmt.Sprintf("has host bits set: did you mean %s?", pf.Masked()))}
	}
	return nil
}

var macRE = regexp.MustCompile(`^([0-9A-Fa-f]{2}[:-]){5}[0-9A-Fa-f]{2}$`)

func validateMAC(s string, p *field.Path) field.ErrorList {
	if !macRE.MatchString(s) {
		return field.ErrorList{field.Invalid(p, s, "must be a MAC address like 02:00:00:00:00:01")}
	}
	return nil
}

// ifaceRE matches an interface name as Calico accepts it.
var ifaceRE = regexp.MustCompile(`^[a-zA-Z0-9_.\-]{1,15}$`)

func validatePortNumber(n int, p *field.Path) field.ErrorList {
	if n < 1 || n > 65535 {
		return field.ErrorList{field.Invalid(p, n, "must be between 1 and 65535, inclusive")}
	}
	return nil
}

func notSupported[T ~string](p *field.Path, v T, allowed ...T) field.ErrorList {
	for _, a := range allowed {
		if v == a {
			return nil
		}
	}
	strs := make([]string, len(allowed))
	for i, a := range allowed {
		strs[i] = string(a)
	}
	return field.ErrorList{field.NotSupported(p, string(v), strs)}
}
