package model

import (
	"fmt"
	"net/netip"
	"slices"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// The API server's default NodePort range.
const (
	nodePortMin = 30000
	nodePortMax = 32767
)

var k8sProtocols = []corev1.Protocol{corev1.ProtocolTCP, corev1.ProtocolUDP, corev1.ProtocolSCTP}

func validateK8sProtocol(pr corev1.Protocol, p *field.Path) field.ErrorList {
	if pr == "" {
		return field.ErrorList{field.Required(p, "")}
	}
	return notSupported(p, pr, k8sProtocols...)
}

func labelSelectorErrs(ls *metav1.LabelSelector, p *field.Path) field.ErrorList {
	return metav1validation.ValidateLabelSelector(ls, metav1validation.LabelSelectorValidationOptions{}, p)
}

func validateK8sNetworkPolicy(np *networkingv1.NetworkPolicy, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	errs = append(errs, labelSelectorErrs(&np.Spec.PodSelector, p.Child("podSelector"))...)
	for i, r := range np.Spec.Ingress {
		rp := p.Child("ingress").Index(i)
		errs = append(errs, validateNPPorts(r.Ports, rp.Child("ports"))...)
		errs = append(errs, validateNPPeers(r.From, rp.Child("from"))...)
	}
	for i, r := range np.Spec.Egress {
		rp := p.Child("egress").Index(i)
		errs = append(errs, validateNPPorts(r.Ports, rp.Child("ports"))...)
		errs = append(errs, validateNPPeers(r.To, rp.Child("to"))...)
	}
	seen := map[networkingv1.PolicyType]bool{}
	for i, t := range np.Spec.PolicyTypes {
		tp := p.Child("policyTypes").Index(i)
		errs = append(errs, notSupported(tp, t, networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress)...)
		if seen[t] {
			errs = append(errs, field.Duplicate(tp, string(t)))
		}
		seen[t] = true
	}
	if len(np.Spec.PolicyTypes) > 2 {
		errs = append(errs, field.TooMany(p.Child("policyTypes"), len(np.Spec.PolicyTypes), 2))
	}
	return errs
}

func validateNPPorts(ports []networkingv1.NetworkPolicyPort, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, port := range ports {
		pp := p.Index(i)
		if port.Protocol != nil {
			errs = append(errs, notSupported(pp.Child("protocol"), *port.Protocol, k8sProtocols...)...)
		}
		if port.Port != nil {
			errs = append(errs, validateIntOrStringPort(*port.Port, pp.Child("port"))...)
		}
		if port.EndPort != nil {
			ep := pp.Child("endPort")
			switch {
			case port.Port == nil:
				errs = append(errs, field.Required(pp.Child("port"), "must be specified when endPort is specified"))
			case port.Port.Type == intstr.String:
				errs = append(errs, field.Invalid(ep, *port.EndPort, "may not be specified when port is non-numeric"))
			case *port.EndPort < port.Port.IntVal:
				errs = append(errs, field.Invalid(ep, *port.EndPort, "must be greater than or equal to port"))
			}
			errs = append(errs, validatePortNumber(int(*port.EndPort), ep)...)
		}
	}
	return errs
}

// validateIntOrStringPort: 1-65535 or an IANA service name.
func validateIntOrStringPort(v intstr.IntOrString, p *field.Path) field.ErrorList {
	if v.Type == intstr.String {
		var errs field.ErrorList
		for _, msg := range validation.IsValidPortName(v.StrVal) {
			errs = append(errs, field.Invalid(p, v.StrVal, msg))
		}
		return errs
	}
	return validatePortNumber(int(v.IntVal), p)
}

func validateNPPeers(peers []networkingv1.NetworkPolicyPeer, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, peer := range peers {
		pp := p.Index(i)
		n := 0
		if peer.PodSelector != nil {
			n++
			errs = append(errs, labelSelectorErrs(peer.PodSelector, pp.Child("podSelector"))...)
		}
		if peer.NamespaceSelector != nil {
			n++
			errs = append(errs, labelSelectorErrs(peer.NamespaceSelector, pp.Child("namespaceSelector"))...)
		}
		if peer.IPBlock != nil {
			errs = append(errs, validateIPBlock(peer.IPBlock, pp.Child("ipBlock"))...)
			if n > 0 {
				errs = append(errs, field.Forbidden(pp, "may not specify both ipBlock and another peer"))
			}
			n++
		}
		if n == 0 {
			errs = append(errs, field.Required(pp, "must specify a peer"))
		}
	}
	return errs
}

func validateIPBlock(b *networkingv1.IPBlock, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if b.CIDR == "" {
		return append(errs, field.Required(p.Child("cidr"), ""))
	}
	cidr, err := netip.ParsePrefix(b.CIDR)
	if err != nil {
		return append(errs, field.Invalid(p.Child("cidr"), b.CIDR, "must be a valid CIDR"))
	}
	for i, ex := range b.Except {
		ep := p.Child("except").Index(i)
		e, err := netip.ParsePrefix(ex)
		if err != nil {
			errs = append(errs, field.Invalid(ep, ex, "must be a valid CIDR"))
			continue
		}
		if e.Addr().Is4() != cidr.Addr().Is4() || e.Bits() <= cidr.Bits() || !cidr.Masked().Contains(e.Addr()) {
			errs = append(errs, field.Invalid(ep, ex, fmt.Sprintf("must be a strict subset of `cidr` (%s)", b.CIDR)))
		}
	}
	return errs
}

var serviceTypes = []corev1.ServiceType{corev1.ServiceTypeClusterIP, corev1.ServiceTypeNodePort,
	corev1.ServiceTypeLoadBalancer, corev1.ServiceTypeExternalName}

func validateService(s *corev1.Service, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	sp := &s.Spec
	errs = append(errs, notSupported(p.Child("type"), sp.Type, serviceTypes...)...)
	if sp.Type == corev1.ServiceTypeExternalName {
		if sp.ExternalName == "" {
			errs = append(errs, field.Required(p.Child("externalName"), "required for type ExternalName"))
		}
	} else if len(sp.Ports) == 0 && sp.ClusterIP != corev1.ClusterIPNone {
		errs = append(errs, field.Required(p.Child("ports"), ""))
	}
	if ip := sp.ClusterIP; ip != "" && ip != corev1.ClusterIPNone {
		errs = append(errs, validateIP(ip, 0, p.Child("clusterIP"))...)
	}
	for i, ip := range sp.ClusterIPs {
		if ip != corev1.ClusterIPNone && ip != "" {
			errs = append(errs, validateIP(ip, 0, p.Child("clusterIPs").Index(i))...)
		}
	}
	if sp.ClusterIP == corev1.ClusterIPNone && (sp.Type == corev1.ServiceTypeNodePort || sp.Type == corev1.ServiceTypeLoadBalancer) {
		errs = append(errs, field.Invalid(p.Child("clusterIP"), sp.ClusterIP, fmt.Sprintf("may not be set to 'None' for %s services", sp.Type)))
	}
	for i, ip := range sp.ExternalIPs {
		errs = append(errs, validateIP(ip, 0, p.Child("externalIPs").Index(i))...)
	}
	names := map[string]bool{}
	for i, port := range sp.Ports {
		pp := p.Child("ports").Index(i)
		if len(sp.Ports) > 1 && port.Name == "" {
			errs = append(errs, field.Required(pp.Child("name"), "a name is required when a Service has several ports"))
		}
		if port.Name != "" {
			for _, msg := range validation.IsDNS1123Label(port.Name) {
				errs = append(errs, field.Invalid(pp.Child("name"), port.Name, msg))
			}
			if names[port.Name] {
				errs = append(errs, field.Duplicate(pp.Child("name"), port.Name))
			}
			names[port.Name] = true
		}
		errs = append(errs, validateK8sProtocol(port.Protocol, pp.Child("protocol"))...)
		errs = append(errs, validatePortNumber(int(port.Port), pp.Child("port"))...)
		if port.TargetPort.Type == intstr.String || port.TargetPort.IntVal != 0 {
			errs = append(errs, validateIntOrStringPort(port.TargetPort, pp.Child("targetPort"))...)
		}
		if port.NodePort != 0 {
			np := pp.Child("nodePort")
			if sp.Type != corev1.ServiceTypeNodePort && sp.Type != corev1.ServiceTypeLoadBalancer {
				errs = append(errs, field.Forbidden(np, "may only be set for NodePort and LoadBalancer services"))
			} else if port.NodePort < nodePortMin || port.NodePort > nodePortMax {
				errs = append(errs, field.Invalid(np, port.NodePort, fmt.Sprintf("provided port is not in the valid range. The range of valid ports is %d-%d", nodePortMin, nodePortMax)))
			}
		}
	}
	errs = append(errs, metav1validation.ValidateLabels(sp.Selector, p.Child("selector"))...)
	if sp.SessionAffinity != "" {
		errs = append(errs, notSupported(p.Child("sessionAffinity"), sp.SessionAffinity, corev1.ServiceAffinityNone, corev1.ServiceAffinityClientIP)...)
	}
	for i, f := range sp.IPFamilies {
		errs = append(errs, notSupported(p.Child("ipFamilies").Index(i), f, corev1.IPv4Protocol, corev1.IPv6Protocol)...)
	}
	if sp.ExternalTrafficPolicy != "" {
		errs = append(errs, notSupported(p.Child("externalTrafficPolicy"), sp.ExternalTrafficPolicy,
			corev1.ServiceExternalTrafficPolicyCluster, corev1.ServiceExternalTrafficPolicyLocal)...)
	}
	return errs
}

func validatePod(pod *corev1.Pod) field.ErrorList {
	var errs field.ErrorList
	p := field.NewPath("spec")
	if len(pod.Spec.Containers) == 0 {
		errs = append(errs, field.Required(p.Child("containers"), ""))
	}
	names := map[string]bool{}
	for _, group := range []struct {
		name string
		cs   []corev1.Container
	}{{"initContainers", pod.Spec.InitContainers}, {"containers", pod.Spec.Containers}} {
		for i, c := range group.cs {
			cp := p.Child(group.name).Index(i)
			if c.Name == "" {
				errs = append(errs, field.Required(cp.Child("name"), ""))
			} else {
				for _, msg := range validation.IsDNS1123Label(c.Name) {
					errs = append(errs, field.Invalid(cp.Child("name"), c.Name, msg))
				}
				if names[c.Name] {
					errs = append(errs, field.Duplicate(cp.Child("name"), c.Name))
				}
				names[c.Name] = true
			}
			for j, port := range c.Ports {
				pp := cp.Child("ports").Index(j)
				errs = append(errs, validatePortNumber(int(port.ContainerPort), pp.Child("containerPort"))...)
				if port.HostPort != 0 {
					errs = append(errs, validatePortNumber(int(port.HostPort), pp.Child("hostPort"))...)
				}
				errs = append(errs, validateK8sProtocol(port.Protocol, pp.Child("protocol"))...)
				if port.Name != "" {
					for _, msg := range validation.IsValidPortName(port.Name) {
						errs = append(errs, field.Invalid(pp.Child("name"), port.Name, msg))
					}
				}
			}
		}
	}
	if sa := pod.Spec.ServiceAccountName; sa != "" {
		errs = append(errs, subdomainErrs(sa, p.Child("serviceAccountName"))...)
	}
	if pod.Spec.NodeName != "" {
		errs = append(errs, subdomainErrs(pod.Spec.NodeName, p.Child("nodeName"))...)
	}
	st := field.NewPath("status")
	if pod.Status.PodIP != "" {
		errs = append(errs, validateIP(pod.Status.PodIP, 0, st.Child("podIP"))...)
	}
	for i, ip := range pod.Status.PodIPs {
		errs = append(errs, validateIP(ip.IP, 0, st.Child("podIPs").Index(i).Child("ip"))...)
	}
	if pod.Status.HostIP != "" {
		errs = append(errs, validateIP(pod.Status.HostIP, 0, st.Child("hostIP"))...)
	}
	return errs
}

func validateK8sNode(n *corev1.Node, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if n.Spec.PodCIDR != "" {
		errs = append(errs, validateCIDR(n.Spec.PodCIDR, 0, false, p.Child("podCIDR"))...)
	}
	for i, c := range n.Spec.PodCIDRs {
		errs = append(errs, validateCIDR(c, 0, false, p.Child("podCIDRs").Index(i))...)
	}
	if len(n.Spec.PodCIDRs) > 0 && n.Spec.PodCIDR != "" && n.Spec.PodCIDRs[0] != n.Spec.PodCIDR {
		errs = append(errs, field.Invalid(p.Child("podCIDRs"), n.Spec.PodCIDRs, "the first entry must match spec.podCIDR"))
	}
	for i, a := range n.Status.Addresses {
		ap := field.NewPath("status", "addresses").Index(i)
		if a.Type == corev1.NodeInternalIP || a.Type == corev1.NodeExternalIP {
			errs = append(errs, validateIP(a.Address, 0, ap.Child("address"))...)
		}
	}
	return errs
}

func validateEndpointSlice(es *discoveryv1.EndpointSlice) field.ErrorList {
	var errs field.ErrorList
	types := []discoveryv1.AddressType{discoveryv1.AddressTypeIPv4, discoveryv1.AddressTypeIPv6, discoveryv1.AddressTypeFQDN}
	atp := field.NewPath("addressType")
	if es.AddressType == "" {
		errs = append(errs, field.Required(atp, ""))
	} else {
		errs = append(errs, notSupported(atp, es.AddressType, types...)...)
	}
	for i, ep := range es.Endpoints {
		epp := field.NewPath("endpoints").Index(i)
		if len(ep.Addresses) == 0 || len(ep.Addresses) > 100 {
			errs = append(errs, field.Invalid(epp.Child("addresses"), len(ep.Addresses), "must have between 1 and 100 addresses"))
		}
		for j, a := range ep.Addresses {
			ap := epp.Child("addresses").Index(j)
			switch es.AddressType {
			case discoveryv1.AddressTypeIPv4:
				errs = append(errs, validateIP(a, 4, ap)...)
			case discoveryv1.AddressTypeIPv6:
				errs = append(errs, validateIP(a, 6, ap)...)
			case discoveryv1.AddressTypeFQDN:
				for _, msg := range validation.IsDNS1123Subdomain(a) {
					errs = append(errs, field.Invalid(ap, a, msg))
				}
			}
		}
		if ep.NodeName != nil {
			errs = append(errs, subdomainErrs(*ep.NodeName, epp.Child("nodeName"))...)
		}
	}
	names := []string{}
	for i, port := range es.Ports {
		pp := field.NewPath("ports").Index(i)
		if port.Name != nil {
			if *port.Name != "" {
				for _, msg := range validation.IsDNS1123Label(*port.Name) {
					errs = append(errs, field.Invalid(pp.Child("name"), *port.Name, msg))
				}
			}
			if slices.Contains(names, *port.Name) {
				errs = append(errs, field.Duplicate(pp.Child("name"), *port.Name))
			}
			names = append(names, *port.Name)
		}
		if port.Protocol != nil {
			errs = append(errs, notSupported(pp.Child("protocol"), *port.Protocol, k8sProtocols...)...)
		}
		if port.Port != nil {
			errs = append(errs, validatePortNumber(int(*port.Port), pp.Child("port"))...)
		}
	}
	return errs
}
