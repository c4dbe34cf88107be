package model

import (
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func validateHostEndpoint(s *HostEndpointSpec, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if s.Node == "" {
		errs = append(errs, field.Required(p.Child("node"), "the node the interface belongs to"))
	} else {
		errs = append(errs, subdomainErrs(s.Node, p.Child("node"))...)
	}
	if s.InterfaceName == "" && len(s.ExpectedIPs) == 0 {
		errs = append(errs, field.Required(p.Child("interfaceName"), "interfaceName or expectedIPs (or both) must be set"))
	}
	if s.InterfaceName != "" && s.InterfaceName != "*" && !ifaceRE.MatchString(s.InterfaceName) {
		errs = append(errs, field.Invalid(p.Child("interfaceName"), s.InterfaceName, `must be an interface name (1-15 characters, no '/', ':' or spaces) or "*"`))
	}
	for i, ip := range s.ExpectedIPs {
		errs = append(errs, validateIP(ip, 0, p.Child("expectedIPs").Index(i))...)
	}
	errs = append(errs, validateProfileRefs(s.Profiles, p.Child("profiles"))...)
	for i, port := range s.Ports {
		errs = append(errs, validateEndpointPort(port.Name, port.Protocol, int(port.Port), p.Child("ports").Index(i))...)
	}
	return errs
}

func subdomainErrs(s string, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, msg := range validation.IsDNS1123Subdomain(s) {
		errs = append(errs, field.Invalid(p, s, msg))
	}
	return errs
}

func validateProfileRefs(profiles []string, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, pr := range profiles {
		errs = append(errs, subdomainErrs(pr, p.Index(i))...)
	}
	return errs
}

func validateEndpointPort(name string, proto Protocol, port int, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if name == "" {
		errs = append(errs, field.Required(p.Child("name"), ""))
	} else {
		for _, msg := range validation.IsValidPortName(name) {
			errs = append(errs, field.Invalid(p.Child("name"), name, msg))
		}
	}
	if !proto.SupportsPorts() {
		errs = append(errs, field.NotSupported(p.Child("protocol"), proto.String(), []string{ProtocolTCP, ProtocolUDP, ProtocolSCTP}))
	}
	errs = append(errs, validatePortNumber(port, p.Child("port"))...)
	return errs
}

func validateWorkloadEndpoint(s *WorkloadEndpointSpec, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if s.Node == "" {
		errs = append(errs, field.Required(p.Child("node"), ""))
	} else {
		errs = append(errs, subdomainErrs(s.Node, p.Child("node"))...)
	}
	if s.InterfaceName == "" {
		errs = append(errs, field.Required(p.Child("interfaceName"), "the host side of the workload's interface"))
	} else if !ifaceRE.MatchString(s.InterfaceName) {
		errs = append(errs, field.Invalid(p.Child("interfaceName"), s.InterfaceName, "must be an interface name (1-15 characters, no '/', ':' or spaces)"))
	}
	var networks []netip.Prefix
	for i, n := range s.IPNetworks {
		np := p.Child("ipNetworks").Index(i)
		pf, err := parseNet(n)
		if err != nil {
			errs = append(errs, field.Invalid(np, n, "must be an IP address or a CIDR"))
			continue
		}
		if pf.Bits() != pf.Addr().BitLen() {
			errs = append(errs, field.Invalid(np, n, "must be a single address (/32 or /128)"))
		}
		networks = append(networks, pf)
	}
	for i, nat := range s.IPNATs {
		np := p.Child("ipNATs").Index(i)
		in, inErr := netip.ParseAddr(nat.InternalIP)
		ex, exErr := netip.ParseAddr(nat.ExternalIP)
		if inErr != nil {
			errs = append(errs, field.Invalid(np.Child("internalIP"), nat.InternalIP, "must be a valid IP address"))
		}
		if exErr != nil {
			errs = append(errs, field.Invalid(np.Child("externalIP"), nat.ExternalIP, "must be a valid IP address"))
		}
		if inErr != nil || exErr != nil {
			continue
		}
		if ipVersionOf(in) != ipVersionOf(ex) {
			errs = append(errs, field.Invalid(np.Child("externalIP"), nat.ExternalIP, "must be of the same IP family as internalIP"))
		}
		if !slices.ContainsFunc(networks, func(n netip.Prefix) bool { return n.Contains(in) }) {
			errs = append(errs, field.Invalid(np.Child("internalIP"), nat.InternalIP, "must be one of the endpoint's ipNetworks"))
		}
	}
	if s.IPv4Gateway != "" {
		errs = append(errs, validateIP(s.IPv4Gateway, 4, p.Child("ipv4Gateway"))...)
	}
	if s.IPv6Gateway != "" {
		errs = append(errs, validateIP(s.IPv6Gateway, 6, p.Child("ipv6Gateway"))...)
	}
	if s.MAC != "" {
		errs = append(errs, validateMAC(s.MAC, p.Child("mac"))...)
	}
	errs = append(errs, validateProfileRefs(s.Profiles, p.Child("profiles"))...)
	for i, port := range s.Ports {
		pp := p.Child("ports").Index(i)
		if port.Name == "" && port.HostPort != 0 {
			// A host-port mapping needs no name.
			errs = append(errs, validatePortNumber(int(port.Port), pp.Child("port"))...)
			if !port.Protocol.SupportsPorts() {
				errs = append(errs, field.NotSupported(pp.Child("protocol"), port.Protocol.String(), []string{ProtocolTCP, ProtocolUDP, ProtocolSCTP}))
			}
		} else {
			errs = append(errs, validateEndpointPort(port.Name, port.Protocol, int(port.Port), pp)...)
		}
		if port.HostIP != "" {
			errs = append(errs, validateIP(port.HostIP, 0, pp.Child("hostIP"))...)
		}
	}
	errs = append(errs, validateNets(s.AllowSpoofedSourcePrefixes, 0, p.Child("allowSpoofedSourcePrefixes"))...)
	if s.ServiceAccountName != "" {
		errs = append(errs, subdomainErrs(s.ServiceAccountName, p.Child("serviceAccountName"))...)
	}
	return errs
}

var (
	linkLocal4 = netip.MustParsePrefix("169.254.0.0/16")
	linkLocal6 = netip.MustParsePrefix("fe80::/10")
)

func encapEnabled(m EncapMode) bool { return m == EncapAlways || m == EncapCrossSubnet }

func validateIPPool(s *IPPoolSpec, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	cp := p.Child("cidr")
	version := 0
	if s.CIDR == "" {
		errs = append(errs, field.Required(cp, "the pool's CIDR, e.g. 10.244.0.0/16"))
	} else if pf, err := netip.ParsePrefix(s.CIDR); err != nil {
		errs = append(errs, field.Invalid(cp, s.CIDR, "must be a valid CIDR"))
	} else {
		version = ipVersionOf(pf.Addr())
		if pf.Masked() != pf {
			errs = append(errs, field.Invalid(cp, s.CIDR, fmt.Sprintf("has host bits set: did you mean %s?", pf.Masked())))
		}
		bp := p.Child("blockSize")
		if version == 4 && (s.BlockSize < 20 || s.BlockSize > 32) {
			errs = append(errs, field.Invalid(bp, s.BlockSize, "must be between 20 and 32 for an IPv4 pool"))
		} else if version == 6 && (s.BlockSize < 116 || s.BlockSize > 128) {
			errs = append(errs, field.Invalid(bp, s.BlockSize, "must be between 116 and 128 for an IPv6 pool"))
		} else if !s.Disabled && s.BlockSize < pf.Bits() {
			errs = append(errs, field.Invalid(bp, s.BlockSize, fmt.Sprintf("the pool (/%d) is smaller than one block: blockSize must be at least %d", pf.Bits(), pf.Bits())))
		}
		for _, ll := range []netip.Prefix{linkLocal4, linkLocal6} {
			if ll.Overlaps(pf) {
				errs = append(errs, field.Invalid(cp, s.CIDR, fmt.Sprintf("overlaps the link-local range %s", ll)))
			}
		}
	}
	errs = append(errs, notSupported(p.Child("vxlanMode"), s.VXLANMode, EncapNever, EncapAlways, EncapCrossSubnet)...)
	errs = append(errs, notSupported(p.Child("ipipMode"), s.IPIPMode, EncapNever, EncapAlways, EncapCrossSubnet)...)
	if encapEnabled(s.IPIPMode) && encapEnabled(s.VXLANMode) {
		errs = append(errs, field.Invalid(p.Child("ipipMode"), string(s.IPIPMode), "IPIP and VXLAN cannot both be enabled on a pool"))
	}
	if version == 6 && encapEnabled(s.IPIPMode) {
		errs = append(errs, field.Invalid(p.Child("ipipMode"), string(s.IPIPMode), "IPIP is not supported for IPv6 pools"))
	}
	errs = append(errs, validateSelector(s.NodeSelector, p.Child("nodeSelector"))...)
	errs = append(errs, validateSelector(s.NamespaceSelector, p.Child("namespaceSelector"))...)
	lb := false
	other := false
	for i, u := range s.AllowedUses {
		errs = append(errs, notSupported(p.Child("allowedUses").Index(i), u, AllowedUseWorkload, AllowedUseTunnel, AllowedUseLoadBalancer)...)
		if u == AllowedUseLoadBalancer {
			lb = true
		} else {
			other = true
		}
	}
	if lb && other {
		errs = append(errs, field.Invalid(p.Child("allowedUses"), s.AllowedUses, "LoadBalancer cannot be combined with other uses"))
	}
	if lb && (encapEnabled(s.IPIPMode) || encapEnabled(s.VXLANMode)) {
		errs = append(errs, field.Invalid(p.Child("allowedUses"), s.AllowedUses, "a LoadBalancer pool cannot use IPIP or VXLAN"))
	}
	if lb && s.NodeSelector != "" && s.NodeSelector != DefaultNodeSelector {
		errs = append(errs, field.Invalid(p.Child("nodeSelector"), s.NodeSelector, "a LoadBalancer pool's nodeSelector must be all()"))
	}
	if s.AssignmentMode != nil {
		errs = append(errs, notSupported(p.Child("assignmentMode"), *s.AssignmentMode, AssignmentAutomatic, AssignmentManual)...)
	}
	return errs
}

var logSeverities = []string{"Trace", "Debug", "Info", "Warning", "Error", "Fatal"}

// communityRE: "aa:nn" (standard) or "aa:nn:mm" (large).
var communityRE = regexp.MustCompile(`^(\d+):(\d+)(?::(\d+))?$`)

func validCommunity(v string) bool {
	m := communityRE.FindStringSubmatch(v)
	if m == nil {
		return false
	}
	bits := 16
	if m[3] != "" {
		bits = 32
	}
	for _, part := range m[1:] {
		if part == "" {
			continue
		}
		if _, err := strconv.ParseUint(part, 10, bits); err != nil {
			return false
		}
	}
	return true
}

func validateBGPConfiguration(c *BGPConfiguration, p *field.Path) field.ErrorList {
	s := &c.Spec
	var errs field.ErrorList
	if s.LogSeverityScreen != "" {
		errs = append(errs, notSupported(p.Child("logSeverityScreen"), s.LogSeverityScreen, logSeverities...)...)
	}
	meshOff := s.NodeToNodeMeshEnabled != nil && !*s.NodeToNodeMeshEnabled
	if meshOff && s.NodeMeshPassword != nil {
		errs = append(errs, field.Forbidden(p.Child("nodeMeshPassword"), "cannot be set when nodeToNodeMeshEnabled is false"))
	}
	if meshOff && s.NodeMeshMaxRestartTime != nil {
		errs = append(errs, field.Forbidden(p.Child("nodeMeshMaxRestartTime"), "cannot be set when nodeToNodeMeshEnabled is false"))
	}
	if len(s.Communities) > 0 && len(s.PrefixAdvertisements) == 0 {
		errs = append(errs, field.Invalid(p.Child("communities"), len(s.Communities), "communities are defined but not used in prefixAdvertisements"))
	}
	for i, b := range s.ServiceClusterIPs {
		errs = append(errs, validateCIDR(b.CIDR, 0, false, p.Child("serviceClusterIPs").Index(i).Child("cidr"))...)
	}
	for i, b := range s.ServiceExternalIPs {
		errs = append(errs, validateCIDR(b.CIDR, 0, false, p.Child("serviceExternalIPs").Index(i).Child("cidr"))...)
	}
	for i, b := range s.ServiceLoadBalancerIPs {
		errs = append(errs, validateCIDR(b.CIDR, 0, false, p.Child("serviceLoadBalancerIPs").Index(i).Child("cidr"))...)
	}
	names := map[string]bool{}
	for i, cm := range s.Communities {
		cp := p.Child("communities").Index(i)
		if cm.Name == "" {
			errs = append(errs, field.Required(cp.Child("name"), ""))
		} else {
			for _, msg := range validation.IsDNS1123Label(cm.Name) {
				errs = append(errs, field.Invalid(cp.Child("name"), cm.Name, msg))
			}
		}
		if !validCommunity(cm.Value) {
			errs = append(errs, field.Invalid(cp.Child("value"), cm.Value, `must be "aa:nn" (16-bit numbers) or "aa:nn:mm" (32-bit numbers)`))
		}
		names[cm.Name] = true
	}
	for i, pa := range s.PrefixAdvertisements {
		pp := p.Child("prefixAdvertisements").Index(i)
		errs = append(errs, validateCIDR(pa.CIDR, 0, false, pp.Child("cidr"))...)
		for j, cm := range pa.Communities {
			if !names[cm] && !validCommunity(cm) {
				errs = append(errs, field.Invalid(pp.Child("communities").Index(j), cm, "must name a community in spec.communities or be a community value"))
			}
		}
	}
	if s.ListenPort != 0 {
		errs = append(errs, validatePortNumber(int(s.ListenPort), p.Child("listenPort"))...)
	}
	errs = append(errs, validatePassword(s.NodeMeshPassword, p.Child("nodeMeshPassword"))...)
	if s.NodeMeshMaxRestartTime != nil && s.NodeMeshMaxRestartTime.Duration < 0 {
		errs = append(errs, field.Invalid(p.Child("nodeMeshMaxRestartTime"), s.NodeMeshMaxRestartTime.String(), "must not be negative"))
	}
	if s.BindMode != nil {
		errs = append(errs, notSupported(p.Child("bindMode"), *s.BindMode, BindModeNone, BindModeNodeIP)...)
	}
	if s.LocalWorkloadPeeringIPV4 != "" {
		errs = append(errs, validateIP(s.LocalWorkloadPeeringIPV4, 4, p.Child("localWorkloadPeeringIPV4"))...)
	}
	if s.LocalWorkloadPeeringIPV6 != "" {
		errs = append(errs, validateIP(s.LocalWorkloadPeeringIPV6, 6, p.Child("localWorkloadPeeringIPV6"))...)
	}
	return errs
}

func validatePassword(pw *BGPPassword, p *field.Path) field.ErrorList {
	if pw == nil || pw.SecretKeyRef == nil {
		return nil
	}
	var errs field.ErrorList
	ref := p.Child("secretKeyRef")
	if pw.SecretKeyRef.Name == "" {
		errs = append(errs, field.Required(ref.Child("name"), "the Secret's name"))
	}
	if pw.SecretKeyRef.Key == "" {
		errs = append(errs, field.Required(ref.Child("key"), "the key in the Secret"))
	}
	return errs
}

// parsePeerIP accepts "IP", "IP:port" and "[IPv6]:port".
func parsePeerIP(s string) (netip.Addr, bool) {
	if a, err := netip.ParseAddr(s); err == nil && a.Zone() == "" {
		return a, true
	}
	if ap, err := netip.ParseAddrPort(s); err == nil && ap.Addr().Zone() == "" && ap.Port() != 0 {
		return ap.Addr(), true
	}
	return netip.Addr{}, false
}

func validateBGPPeer(s *BGPPeerSpec, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if s.Node != "" && s.NodeSelector != "" {
		errs = append(errs, field.Forbidden(p.Child("nodeSelector"), "node and nodeSelector cannot both be set"))
	}
	if s.Node != "" {
		errs = append(errs, subdomainErrs(s.Node, p.Child("node"))...)
	}
	errs = append(errs, validateSelector(s.NodeSelector, p.Child("nodeSelector"))...)
	errs = append(errs, validateSelector(s.PeerSelector, p.Child("peerSelector"))...)
	errs = append(errs, validateSelector(s.LocalWorkloadSelector, p.Child("localWorkloadSelector"))...)
	if s.LocalWorkloadSelector != "" {
		if s.ASNumber == 0 {
			errs = append(errs, field.Required(p.Child("asNumber"), "required with localWorkloadSelector"))
		}
		if s.PeerIP != "" || s.PeerSelector != "" {
			errs = append(errs, field.Forbidden(p.Child("localWorkloadSelector"), "cannot be combined with peerIP or peerSelector"))
		}
	}
	switch {
	case s.LocalWorkloadSelector != "":
	case s.PeerIP != "" && s.PeerSelector != "":
		errs = append(errs, field.Forbidden(p.Child("peerSelector"), "peerIP and peerSelector cannot both be set"))
	case s.PeerIP != "":
		if _, ok := parsePeerIP(s.PeerIP); !ok {
			errs = append(errs, field.Invalid(p.Child("peerIP"), s.PeerIP, `must be an IP address, "IP:port" or "[IPv6]:port"`))
		}
		if s.ASNumber == 0 {
			errs = append(errs, field.Required(p.Child("asNumber"), "the peer's AS number is required with peerIP"))
		}
	case s.PeerSelector != "":
		if s.ASNumber != 0 {
			errs = append(errs, field.Forbidden(p.Child("asNumber"), "not allowed with peerSelector: the selected nodes' AS numbers are used"))
		}
	default:
		errs = append(errs, field.Required(p.Child("peerIP"), "peerIP, peerSelector or localWorkloadSelector must be set"))
	}
	errs = append(errs, validatePassword(s.Password, p.Child("password"))...)
	if s.SourceAddress != "" {
		errs = append(errs, notSupported(p.Child("sourceAddress"), s.SourceAddress, SourceAddressUseNodeIP, SourceAddressNone)...)
	}
	if s.MaxRestartTime != nil && s.MaxRestartTime.Duration < 0 {
		errs = append(errs, field.Invalid(p.Child("maxRestartTime"), s.MaxRestartTime.String(), "must not be negative"))
	}
	if s.NextHopMode != nil {
		errs = append(errs, notSupported(p.Child("nextHopMode"), *s.NextHopMode, NextHopAuto, NextHopSelf, NextHopKeep)...)
		if s.KeepOriginalNextHop {
			errs = append(errs, field.Forbidden(p.Child("keepOriginalNextHop"), "cannot be combined with nextHopMode (use nextHopMode: Keep)"))
		}
	}
	if s.NumAllowedLocalASNumbers != nil && (*s.NumAllowedLocalASNumbers < 0 || *s.NumAllowedLocalASNumbers > 10) {
		errs = append(errs, field.Invalid(p.Child("numAllowedLocalASNumbers"), *s.NumAllowedLocalASNumbers, "must be between 0 and 10, inclusive"))
	}
	if s.ReachableBy != "" {
		rp := p.Child("reachableBy")
		if rb, err := netip.ParseAddr(s.ReachableBy); err != nil {
			errs = append(errs, field.Invalid(rp, s.ReachableBy, "must be a valid IP address"))
		} else if peer, ok := parsePeerIP(s.PeerIP); !ok {
			errs = append(errs, field.Forbidden(rp, "requires a valid peerIP"))
		} else if ipVersionOf(rb) != ipVersionOf(peer) {
			errs = append(errs, field.Invalid(rp, s.ReachableBy, "must be of the same IP family as peerIP"))
		}
	}
	for i, f := range s.Filters {
		errs = append(errs, subdomainErrs(f, p.Child("filters").Index(i))...)
	}
	if s.ReversePeering != "" {
		errs = append(errs, notSupported(p.Child("reversePeering"), s.ReversePeering, ReversePeeringAuto, ReversePeeringManual)...)
	}
	return errs
}

func validateNode(n *Node, p *field.Path) field.ErrorList {
	s := &n.Spec
	var errs field.ErrorList
	if b := s.BGP; b != nil {
		bp := p.Child("bgp")
		if *b == (NodeBGPSpec{}) {
			errs = append(errs, field.Required(bp, "spec.bgp must not be empty (omit it instead)"))
		}
		if b.IPv4Address != "" {
			errs = append(errs, validateAddrOrCIDR(b.IPv4Address, 4, bp.Child("ipv4Address"))...)
		}
		if b.IPv6Address != "" {
			errs = append(errs, validateAddrOrCIDR(b.IPv6Address, 6, bp.Child("ipv6Address"))...)
		}
		if b.IPv4IPIPTunnelAddr != "" {
			errs = append(errs, validateIP(b.IPv4IPIPTunnelAddr, 4, bp.Child("ipv4IPIPTunnelAddr"))...)
		}
		if b.RouteReflectorClusterID != "" {
			errs = append(errs, validateIP(b.RouteReflectorClusterID, 4, bp.Child("routeReflectorClusterID"))...)
		}
	}
	if s.IPv4VXLANTunnelAddr != "" {
		errs = append(errs, validateIP(s.IPv4VXLANTunnelAddr, 4, p.Child("ipv4VXLANTunnelAddr"))...)
	}
	if s.IPv6VXLANTunnelAddr != "" {
		errs = append(errs, validateIP(s.IPv6VXLANTunnelAddr, 6, p.Child("ipv6VXLANTunnelAddr"))...)
	}
	if s.VXLANTunnelMACAddr != "" {
		errs = append(errs, validateMAC(s.VXLANTunnelMACAddr, p.Child("vxlanTunnelMACAddr"))...)
	}
	if s.VXLANTunnelMACAddrV6 != "" {
		errs = append(errs, validateMAC(s.VXLANTunnelMACAddrV6, p.Child("vxlanTunnelMACAddrV6"))...)
	}
	for i, r := range s.OrchRefs {
		if r.NodeName == "" {
			errs = append(errs, field.Required(p.Child("orchRefs").Index(i).Child("nodeName"), ""))
		}
	}
	for i, a := range s.Addresses {
		ap := p.Child("addresses").Index(i)
		errs = append(errs, validateAddrOrCIDR(a.Address, 0, ap.Child("address"))...)
		if a.Type != "" {
			errs = append(errs, notSupported(ap.Child("type"), a.Type, NodeAddressInternalIP, NodeAddressExternalIP, NodeAddressCalicoNode)...)
		}
	}
	for i, c := range n.Status.PodCIDRs {
		errs = append(errs, validateCIDR(c, 0, true, field.NewPath("status", "podCIDRs").Index(i))...)
	}
	return errs
}

// validateAddrOrCIDR checks "192.0.2.10/24" or "192.0.2.10" (host bits are the point here).
func validateAddrOrCIDR(s string, version int, p *field.Path) field.ErrorList {
	if strings.Contains(s, "/") {
		return validateCIDR(s, version, false, p)
	}
	return validateIP(s, version, p)
}

var (
	logPrefixRE       = regexp.MustCompile(`^[a-zA-Z0-9%: /_.\-]{0,64}$`)
	interfacePrefixRE = regexp.MustCompile(`^[a-zA-Z0-9_\-]+(,[a-zA-Z0-9_\-]+)*$`)
)

func validateFelix(s *FelixConfigurationSpec, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, c := range []struct {
		name  string
		ports *[]ProtoPort
	}{{"failsafeInboundHostPorts", s.FailsafeInboundHostPorts}, {"failsafeOutboundHostPorts", s.FailsafeOutboundHostPorts}} {
		if c.ports == nil {
			continue
		}
		for i, pp := range *c.ports {
			ip := p.Child(c.name).Index(i)
			switch strings.ToLower(pp.Protocol) {
			case "tcp", "udp", "sctp":
			default:
				errs = append(errs, field.NotSupported(ip.Child("protocol"), pp.Protocol, []string{"tcp", "udp", "sctp"}))
			}
			errs = append(errs, validatePortNumber(int(pp.Port), ip.Child("port"))...)
			if pp.Net != "" {
				errs = append(errs, validateCIDR(pp.Net, 0, false, ip.Child("net"))...)
			}
		}
	}
	if s.DefaultEndpointToHostAction != "" {
		errs = append(errs, notSupported(p.Child("defaultEndpointToHostAction"), s.DefaultEndpointToHostAction, "Drop", "Accept", "Return")...)
	}
	if !logPrefixRE.MatchString(s.LogPrefix) {
		errs = append(errs, field.Invalid(p.Child("logPrefix"), s.LogPrefix, "up to 64 characters from [a-zA-Z0-9%: /_.-]"))
	}
	if s.LogSeverityScreen != "" {
		errs = append(errs, notSupported(p.Child("logSeverityScreen"), s.LogSeverityScreen, logSeverities...)...)
	}
	for _, d := range []struct {
		name string
		d    *metav1.Duration
	}{
		{"iptablesRefreshInterval", s.IptablesRefreshInterval},
		{"ipsetsRefreshInterval", s.IpsetsRefreshInterval},
		{"routeRefreshInterval", s.RouteRefreshInterval},
		{"nftablesRefreshInterval", s.NftablesRefreshInterval},
	} {
		if d.d != nil && d.d.Duration < 0 {
			errs = append(errs, field.Invalid(p.Child(d.name), d.d.String(), "must not be negative"))
		}
	}
	if s.NFTablesMode != nil {
		errs = append(errs, notSupported(p.Child("nftablesMode"), *s.NFTablesMode, "Enabled", "Disabled", "Auto")...)
	}
	if s.InterfacePrefix != "" && !interfacePrefixRE.MatchString(s.InterfacePrefix) {
		errs = append(errs, field.Invalid(p.Child("interfacePrefix"), s.InterfacePrefix, "a comma-separated list of interface name prefixes"))
	}
	for _, c := range []struct {
		name string
		port *int
	}{{"vxlanPort", s.VXLANPort}, {"healthPort", s.HealthPort}, {"prometheusMetricsPort", s.PrometheusMetricsPort}} {
		if c.port != nil {
			errs = append(errs, validatePortNumber(*c.port, p.Child(c.name))...)
		}
	}
	if s.VXLANVNI != nil && (*s.VXLANVNI < 1 || *s.VXLANVNI > 1<<24-1) {
		errs = append(errs, field.Invalid(p.Child("vxlanVNI"), *s.VXLANVNI, "must be between 1 and 16777215, inclusive"))
	}
	for _, c := range []struct {
		name string
		mtu  *int
	}{{"vxlanMTU", s.VXLANMTU}, {"vxlanMTUV6", s.VXLANMTUV6}} {
		if c.mtu != nil && (*c.mtu < 0 || *c.mtu > 65535) {
			errs = append(errs, field.Invalid(p.Child(c.name), *c.mtu, "must be between 0 (auto) and 65535, inclusive"))
		}
	}
	if s.HealthHost != nil && *s.HealthHost == "" {
		errs = append(errs, field.Invalid(p.Child("healthHost"), "", "must not be empty"))
	}
	return errs
}
