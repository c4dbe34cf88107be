package model

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// Node is Calico's view of a node: BGP addresses, tunnel addresses, orchestrator references.
// +kubebuilder:resource:scope=Cluster,shortName={cnode,calinode},categories={calico}
// +kubebuilder:printcolumn:name="IPv4",type=string,JSONPath=`.spec.bgp.ipv4Address`
// +kubebuilder:printcolumn:name="IPv6",type=string,JSONPath=`.spec.bgp.ipv6Address`
// +kubebuilder:printcolumn:name="ASN",type=string,JSONPath=`.spec.bgp.asNumber`
// +kubebuilder:printcolumn:name="VXLAN",type=string,JSONPath=`.spec.ipv4VXLANTunnelAddr`,priority=1
// +kubebuilder:printcolumn:name="RRClusterID",type=string,JSONPath=`.spec.bgp.routeReflectorClusterID`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type Node struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              NodeSpec   `json:"spec,omitempty"`
	Status            NodeStatus `json:"status,omitempty"`
}

// NodeSpec is the spec of a Node.
type NodeSpec struct {
	// BGP holds the node's BGP addresses and AS number; a node without it does not speak BGP.
	BGP *NodeBGPSpec `json:"bgp,omitempty"`
	// IPv4VXLANTunnelAddr is the address of the node's VXLAN device.
	IPv4VXLANTunnelAddr string `json:"ipv4VXLANTunnelAddr,omitempty"`
	// VXLANTunnelMACAddr is the MAC address of the node's VXLAN device.
	VXLANTunnelMACAddr string `json:"vxlanTunnelMACAddr,omitempty"`
	// IPv6VXLANTunnelAddr is the IPv6 address of the node's VXLAN device.
	IPv6VXLANTunnelAddr string `json:"ipv6VXLANTunnelAddr,omitempty"`
	// VXLANTunnelMACAddrV6 is the MAC address of the node's IPv6 VXLAN device.
	VXLANTunnelMACAddrV6 string `json:"vxlanTunnelMACAddrV6,omitempty"`
	// OrchRefs name the node in orchestrators (k8s).
	OrchRefs []OrchRef `json:"orchRefs,omitempty"`
	// Wireguard holds WireGuard interface addresses (accepted, not used by Trellis).
	Wireguard *NodeWireguardSpec `json:"wireguard,omitempty"`
	// Addresses are the node's addresses and where they came from.
	Addresses []NodeAddress `json:"addresses,omitempty"`
}

// NodeBGPSpec holds a node's BGP addresses (CIDR notation, e.g. 192.0.2.10/24) and AS number.
type NodeBGPSpec struct {
	// ASNumber of the node; the cluster default (BGPConfiguration) when unset.
	ASNumber *ASNumber `json:"asNumber,omitempty"`
	// IPv4Address is the node's IPv4 BGP address with prefix length (192.0.2.10/24).
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:XValidation:rule="isCIDR(self) || isIP(self)",message="must be an IP address or a CIDR"
	IPv4Address string `json:"ipv4Address,omitempty"`
	// IPv6Address is the node's IPv6 BGP address with prefix length.
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:XValidation:rule="isCIDR(self) || isIP(self)",message="must be an IP address or a CIDR"
	IPv6Address string `json:"ipv6Address,omitempty"`
	// IPv4IPIPTunnelAddr is the address of the node's IP-in-IP device.
	IPv4IPIPTunnelAddr string `json:"ipv4IPIPTunnelAddr,omitempty"`
	// RouteReflectorClusterID makes the node a route reflector of this cluster ID.
	RouteReflectorClusterID string `json:"routeReflectorClusterID,omitempty"`
}

// OrchRef links a Calico node to an orchestrator's node.
type OrchRef struct {
	// NodeName is the orchestrator's name of the node.
	NodeName string `json:"nodeName,omitempty"`
	// Orchestrator is k8s.
	Orchestrator string `json:"orchestrator,omitempty"`
}

// NodeWireguardSpec holds WireGuard interface addresses (accepted, not used by Trellis).
type NodeWireguardSpec struct {
	// InterfaceIPv4Address of the WireGuard device.
	InterfaceIPv4Address string `json:"interfaceIPv4Address,omitempty"`
	// InterfaceIPv6Address of the WireGuard device.
	InterfaceIPv6Address string `json:"interfaceIPv6Address,omitempty"`
}

// NodeAddressType says where a node address came from.
// +kubebuilder:validation:Enum=InternalIP;ExternalIP;CalicoNodeIP
type NodeAddressType string

// Node address types.
const (
	NodeAddressInternalIP NodeAddressType = "InternalIP"
	NodeAddressExternalIP NodeAddressType = "ExternalIP"
	NodeAddressCalicoNode NodeAddressType = "CalicoNodeIP"
)

// NodeAddress is one address of a node.
type NodeAddress struct {
	// Address, with or without prefix length.
	Address string `json:"address"`
	// Type: InternalIP, ExternalIP or CalicoNodeIP.
	Type NodeAddressType `json:"type,omitempty"`
}

// NodeStatus is reported by the node agent.
type NodeStatus struct {
	// WireguardPublicKey of the node (accepted, not used by Trellis).
	WireguardPublicKey string `json:"wireguardPublicKey,omitempty"`
	// WireguardPublicKeyV6 of the node (accepted, not used by Trellis).
	WireguardPublicKeyV6 string `json:"wireguardPublicKeyV6,omitempty"`
	// PodCIDRs are the node's pod CIDRs as reported by the agent.
	PodCIDRs []string `json:"podCIDRs,omitempty"`
}
