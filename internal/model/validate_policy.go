package model

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/trellisnet/trellis/internal/selector"
)

// policyFields are the spec fields the four Calico policy kinds share.
type policyFields struct {
	tier, selector, saSelector, nsSelector string
	types                                  []PolicyType
	ingress, egress                        []Rule
	hints                                  []PolicyPerformanceHint
	order                                  *float64
	global                                 bool
	doNotTrack, preDNAT, applyOnForward    bool
}

// Tiers whose order Calico fixes.
const (
	AdminNetworkPolicyTierName         = "adminnetworkpolicy"
	AdminNetworkPolicyTierOrder        = 1_000.0
	BaselineAdminNetworkPolicyTierName = "baselineadminnetworkpolicy"
	BaselineAdminNetworkPolicyTier     = 10_000_000.0
)

const globalSelector = "global()"

func validatePolicy(f policyFields, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if f.tier != "" {
		for _, msg := range validation.IsDNS1123Label(f.tier) {
			errs = append(errs, field.Invalid(p.Child("tier"), f.tier, msg))
		}
	}
	if f.order != nil && (math.IsNaN(*f.order) || math.IsInf(*f.order, 0)) {
		errs = append(errs, field.Invalid(p.Child("order"), *f.order, "must be a finite number"))
	}
	for _, s := range []struct {
		name, value string
	}{{"selector", f.selector}, {"serviceAccountSelector", f.saSelector}, {"namespaceSelector", f.nsSelector}} {
		errs = append(errs, validateSelector(s.value, p.Child(s.name))...)
		if strings.Contains(s.value, globalSelector) {
			errs = append(errs, field.Invalid(p.Child(s.name), s.value, "global() can only be used in a rule's namespaceSelector"))
		}
	}
	seen := map[PolicyType]bool{}
	for i, t := range f.types {
		tp := p.Child("types").Index(i)
		if t != PolicyTypeIngress && t != PolicyTypeEgress {
			errs = append(errs, field.NotSupported(tp, string(t), []string{string(PolicyTypeIngress), string(PolicyTypeEgress)}))
		} else if seen[t] {
			errs = append(errs, field.Duplicate(tp, string(t)))
		}
		seen[t] = true
	}
	for i, h := range f.hints {
		errs = append(errs, notSupported(p.Child("performanceHints").Index(i), h, HintAssumeNeededOnEveryNode)...)
	}
	if f.global {
		if f.doNotTrack && f.preDNAT {
			errs = append(errs, field.Invalid(p.Child("preDNAT"), true, "preDNAT and doNotTrack cannot both be true"))
		}
		if (f.doNotTrack || f.preDNAT) && !f.applyOnForward {
			errs = append(errs, field.Invalid(p.Child("applyOnForward"), false, "must be true when preDNAT or doNotTrack is true"))
		}
		if f.preDNAT && len(f.egress) > 0 {
			errs = append(errs, field.Forbidden(p.Child("egress"), "a preDNAT policy cannot have egress rules"))
		}
		if f.preDNAT && seen[PolicyTypeEgress] {
			errs = append(errs, field.Forbidden(p.Child("types"), "a preDNAT policy cannot be of type Egress"))
		}
	}
	errs = append(errs, validateRules(f.ingress, PolicyTypeIngress, f.global, p.Child("ingress"))...)
	errs = append(errs, validateRules(f.egress, PolicyTypeEgress, f.global, p.Child("egress"))...)
	return errs
}

// validateStaged checks stagedAction; with Delete every spec field but the tier must be empty.
func validateStaged(a StagedAction, f policyFields, p *field.Path) field.ErrorList {
	errs := notSupported(p.Child("stagedAction"), a, StagedActionSet, StagedActionDelete, StagedActionLearn, StagedActionIgnore)
	if a == StagedActionDelete {
		if f.selector != "" || f.saSelector != "" || f.nsSelector != "" || len(f.types) > 0 || len(f.ingress) > 0 ||
			len(f.egress) > 0 || len(f.hints) > 0 || f.order != nil || f.doNotTrack || f.preDNAT || f.applyOnForward {
			errs = append(errs, field.Forbidden(p, "with stagedAction Delete every spec field except tier must be empty"))
		}
		return errs
	}
	return append(errs, validatePolicy(f, p)...)
}

func validateTier(t *Tier, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	fixed := map[string]float64{DefaultTierName: DefaultTierOrder, AdminNetworkPolicyTierName: AdminNetworkPolicyTierOrder,
		BaselineAdminNetworkPolicyTierName: BaselineAdminNetworkPolicyTier,
		KubeAdminTierName:                  KubeAdminTierOrder, KubeBaselineTierName: KubeBaselineTierOrder}
	o := t.Spec.Order
	if o != nil && (math.IsNaN(*o) || math.IsInf(*o, 0)) {
		errs = append(errs, field.Invalid(p.Child("order"), *o, "must be a finite number"))
	}
	if want, ok := fixed[t.Name]; ok && (o == nil || *o != want) {
		var got any = "null"
		if o != nil {
			got = *o
		}
		errs = append(errs, field.Invalid(p.Child("order"), got, fmt.Sprintf("the %s tier's order must be %.0f", t.Name, want)))
	}
	if a := t.Spec.DefaultAction; a != nil {
		errs = append(errs, notSupported(p.Child("defaultAction"), *a, Deny, Pass)...)
		if (t.Name == KubeAdminTierName || t.Name == KubeBaselineTierName) && *a != Pass {
			errs = append(errs, field.Invalid(p.Child("defaultAction"), *a, fmt.Sprintf("the %s tier's defaultAction must be Pass", t.Name)))
		}
	}
	return errs
}

func validateRules(rules []Rule, dir PolicyType, global bool, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i := range rules {
		errs = append(errs, validateRule(&rules[i], dir, global, p.Index(i))...)
	}
	return errs
}

var supportedProtocols = []string{ProtocolTCP, ProtocolUDP, ProtocolICMP, ProtocolICMPv6, ProtocolSCTP, ProtocolUDPLite}

func validateProtocol(pr *Protocol, p *field.Path) field.ErrorList {
	if pr == nil {
		return nil
	}
	if pr.IsNum {
		if pr.Num < 1 {
			return field.ErrorList{field.Invalid(p, int(pr.Num), "must be a protocol name or a number between 1 and 255")}
		}
		return nil
	}
	if !slices.Contains(supportedProtocols, pr.Str) {
		return field.ErrorList{field.NotSupported(p, pr.Str, append(slices.Clone(supportedProtocols), "1-255"))}
	}
	return nil
}

// icmpVersion is 4 for ICMP, 6 for ICMPv6 (by name or number), 0 otherwise.
func icmpVersion(pr *Protocol) int {
	if pr == nil {
		return 0
	}
	switch n, ok := pr.Number(); {
	case ok && n == 1:
		return 4
	case ok && n == 58:
		return 6
	}
	return 0
}

func validateRule(r *Rule, dir PolicyType, global bool, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if r.Action == "" {
		errs = append(errs, field.Required(p.Child("action"), "one of Allow, Deny, Log, Pass"))
	} else {
		errs = append(errs, notSupported(p.Child("action"), r.Action, Allow, Deny, Log, Pass)...)
	}
	ipVersion := 0
	if r.IPVersion != nil {
		ipVersion = *r.IPVersion
		if ipVersion != 4 && ipVersion != 6 {
			errs = append(errs, field.NotSupported(p.Child("ipVersion"), ipVersion, []string{"4", "6"}))
			ipVersion = 0
		}
	}
	errs = append(errs, validateProtocol(r.Protocol, p.Child("protocol"))...)
	errs = append(errs, validateProtocol(r.NotProtocol, p.Child("notProtocol"))...)
	for _, pr := range []*Protocol{r.Protocol, r.NotProtocol} {
		if v := icmpVersion(pr); v != 0 && ipVersion != 0 && v != ipVersion {
			errs = append(errs, field.Invalid(p.Child("ipVersion"), ipVersion, fmt.Sprintf("must be %d with protocol %s", v, pr)))
		}
	}
	if r.ICMP != nil && icmpVersion(r.Protocol) == 0 {
		errs = append(errs, field.Forbidden(p.Child("icmp"), "rules that specify ICMP fields must set protocol to ICMP or ICMPv6"))
	}
	errs = append(errs, validateICMPFields(r.ICMP, p.Child("icmp"))...)
	errs = append(errs, validateICMPFields(r.NotICMP, p.Child("notICMP"))...)
	errs = append(errs, validateRuleNets(r, ipVersion, p)...)
	errs = append(errs, validateEntity(&r.Source, r, p.Child("source"))...)
	errs = append(errs, validateEntity(&r.Destination, r, p.Child("destination"))...)
	if dir == PolicyTypeEgress && r.Source.Services != nil {
		errs = append(errs, field.Forbidden(p.Child("source", "services"), "not allowed in an egress rule's source"))
	}
	if dir == PolicyTypeIngress && r.Destination.Services != nil {
		errs = append(errs, field.Forbidden(p.Child("destination", "services"), "not allowed in an ingress rule's destination"))
	}
	if global {
		if s := r.Destination.Services; dir == PolicyTypeEgress && s != nil && s.Namespace == "" {
			errs = append(errs, field.Required(p.Child("destination", "services", "namespace"), "a global policy must name the Service's namespace"))
		}
		if s := r.Source.Services; dir == PolicyTypeIngress && s != nil && s.Namespace == "" {
			errs = append(errs, field.Required(p.Child("source", "services", "namespace"), "a global policy must name the Service's namespace"))
		}
	}
	if r.Destination.Services != nil && len(r.Destination.Ports)+len(r.Destination.NotPorts) > 0 {
		errs = append(errs, field.Forbidden(p.Child("destination", "ports"), "cannot be combined with destination.services (the Service's ports are used)"))
	}
	if r.HTTP != nil {
		errs = append(errs, validateHTTP(r, dir, p)...)
	}
	if r.Metadata != nil {
		for k := range r.Metadata.Annotations {
			for _, msg := range validation.IsQualifiedName(strings.ToLower(k)) {
				errs = append(errs, field.Invalid(p.Child("metadata", "annotations"), k, msg))
			}
		}
	}
	return errs
}

func validateICMPFields(f *ICMPFields, p *field.Path) field.ErrorList {
	if f == nil {
		return nil
	}
	var errs field.ErrorList
	if f.Type == nil && f.Code != nil {
		errs = append(errs, field.Required(p.Child("type"), "an ICMP code requires an ICMP type"))
	}
	if f.Type != nil && (*f.Type < 0 || *f.Type > 254) {
		errs = append(errs, field.Invalid(p.Child("type"), *f.Type, "must be between 0 and 254, inclusive"))
	}
	if f.Code != nil && (*f.Code < 0 || *f.Code > 255) {
		errs = append(errs, field.Invalid(p.Child("code"), *f.Code, "must be between 0 and 255, inclusive"))
	}
	return errs
}

// validateRuleNets checks every nets/notNets entry and that a rule does not mix IPv4 and IPv6
// networks (nor contradicts its ipVersion).
func validateRuleNets(r *Rule, ipVersion int, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	seen4, seen6 := false, false
	for _, c := range []struct {
		path *field.Path
		nets []string
	}{
		{p.Child("source", "nets"), r.Source.Nets}, {p.Child("source", "notNets"), r.Source.NotNets},
		{p.Child("destination", "nets"), r.Destination.Nets}, {p.Child("destination", "notNets"), r.Destination.NotNets},
	} {
		v4, v6 := false, false
		for i, n := range c.nets {
			pf, err := parseNet(n)
			if err != nil {
				errs = append(errs, field.Invalid(c.path.Index(i), n, "must be an IP address or a CIDR"))
				continue
			}
			v := ipVersionOf(pf.Addr())
			if ipVersion != 0 && v != ipVersion {
				errs = append(errs, field.Invalid(c.path.Index(i), n, fmt.Sprintf("is an IPv%d network but the rule's ipVersion is %d", v, ipVersion)))
			}
			v4, v6 = v4 || v == 4, v6 || v == 6
		}
		if (v4 && v6) || (v4 && seen6) || (v6 && seen4) {
			errs = append(errs, field.Invalid(c.path, c.nets, "a rule cannot mix IPv4 and IPv6 networks"))
		}
		seen4, seen6 = seen4 || v4, seen6 || v6
	}
	return errs
}

func validateHTTP(r *Rule, dir PolicyType, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	hp := p.Child("http")
	if r.Action != Allow {
		errs = append(errs, field.Forbidden(hp, "HTTP matches are only valid in Allow rules"))
	}
	if dir == PolicyTypeEgress {
		errs = append(errs, field.Forbidden(hp, "HTTP matches are not allowed in egress rules"))
	}
	if r.Protocol != nil && (r.Protocol.IsNum || r.Protocol.Str != ProtocolTCP) {
		errs = append(errs, field.Invalid(p.Child("protocol"), r.Protocol.String(), "rules with HTTP matches must have protocol TCP or none"))
	}
	seen := map[string]bool{}
	for i, m := range r.HTTP.Methods {
		if seen[m] {
			errs = append(errs, field.Duplicate(hp.Child("methods").Index(i), m))
		}
		seen[m] = true
	}
	for i, path := range r.HTTP.Paths {
		pp := hp.Child("paths").Index(i)
		if (path.Exact == "") == (path.Prefix == "") {
			errs = append(errs, field.Invalid(pp, fmt.Sprintf("exact=%q prefix=%q", path.Exact, path.Prefix), "exactly one of exact and prefix must be set"))
			continue
		}
		v := path.Exact + path.Prefix
		if !strings.HasPrefix(v, "/") || strings.ContainsAny(v, "? #") {
			errs = append(errs, field.Invalid(pp, v, "a path must start with '/' and contain no '?', '#' or space"))
		}
	}
	return errs
}

func validateEntity(e *EntityRule, r *Rule, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	errs = append(errs, validateSelector(e.Selector, p.Child("selector"))...)
	errs = append(errs, validateSelector(e.NotSelector, p.Child("notSelector"))...)
	errs = append(errs, validateSelector(e.NamespaceSelector, p.Child("namespaceSelector"))...)
	for _, s := range []struct{ name, value string }{{"selector", e.Selector}, {"notSelector", e.NotSelector}} {
		if strings.Contains(s.value, globalSelector) {
			errs = append(errs, field.Invalid(p.Child(s.name), s.value, "global() can only be used in a rule's namespaceSelector"))
		}
	}
	if ns := e.NamespaceSelector; strings.Contains(ns, "global(") {
		if sel, err := selector.Parse(ns); err == nil && sel.String() != globalSelector {
			errs = append(errs, field.Invalid(p.Child("namespaceSelector"), ns, "global() cannot be combined with other selectors"))
		}
	}
	for _, c := range []struct {
		name  string
		ports []Port
	}{{"ports", e.Ports}, {"notPorts", e.NotPorts}} {
		if len(c.ports) == 0 {
			continue
		}
		cp := p.Child(c.name)
		if r.Protocol == nil || !r.Protocol.SupportsPorts() {
			proto := "not set"
			if r.Protocol != nil {
				proto = r.Protocol.String()
			}
			errs = append(errs, field.Forbidden(cp, fmt.Sprintf("rules that specify ports must set protocol to TCP, UDP or SCTP (protocol is %s)", proto)))
		}
		for i, port := range c.ports {
			errs = append(errs, validateRulePort(port, cp.Index(i))...)
		}
	}
	if sa := e.ServiceAccounts; sa != nil {
		sp := p.Child("serviceAccounts")
		errs = append(errs, validateSelector(sa.Selector, sp.Child("selector"))...)
		for i, n := range sa.Names {
			for _, msg := range validation.IsDNS1123Subdomain(n) {
				errs = append(errs, field.Invalid(sp.Child("names").Index(i), n, msg))
			}
		}
	}
	if s := e.Services; s != nil {
		sp := p.Child("services")
		if s.Name == "" {
			errs = append(errs, field.Required(sp.Child("name"), "the name of a Service"))
		}
		if s.Namespace != "" {
			for _, msg := range validation.IsDNS1123Label(s.Namespace) {
				errs = append(errs, field.Invalid(sp.Child("namespace"), s.Namespace, msg))
			}
		}
		if len(e.Nets)+len(e.NotNets) > 0 || e.Selector != "" || e.NotSelector != "" || e.NamespaceSelector != "" || e.ServiceAccounts != nil {
			errs = append(errs, field.Forbidden(sp, "cannot be combined with nets, notNets, selectors or serviceAccounts"))
		}
	}
	return errs
}

func validateRulePort(port Port, p *field.Path) field.ErrorList {
	switch {
	case port.PortName != "":
		var errs field.ErrorList
		for _, msg := range validation.IsValidPortName(port.PortName) {
			errs = append(errs, field.Invalid(p, port.PortName, msg))
		}
		return errs
	case port.MinPort == port.MaxPort:
		return validatePortNumber(int(port.MinPort), p)
	case port.MinPort == 0 || port.MinPort > port.MaxPort:
		return field.ErrorList{field.Invalid(p, port.String(), "a port range min:max needs 1 <= min <= max <= 65535")}
	}
	return nil
}
