package model

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// Node is Calico's view of a node: BGP addresses, tunnel addresses, orchestrator references.
type Node struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              NodeSpec   `json:"spec,omitempty"`
	Status            NodeStatus `json:"status,omitempty"`
}

// NodeSpec is the spec of a Node.
type NodeSpec struct {
	BGP                  *NodeBGPSpec       `json:"bgp,omitempty"`
	IPv4VXLANTunnelAddr  string             `json:"ipv4VXLANTunnelAddr,omitempty"`
	VXLANTunnelMACAddr   string             `json:"vxlanTunnelMACAddr,omitempty"`
	IPv6VXLANTunnelAddr  string             `json:"ipv6VXLANTunnelAddr,omitempty"`
	VXLANTunnelMACAddrV6 string             `json:"vxlanTunnelMACAddrV6,omitempty"`
	OrchRefs             []OrchRef          `json:"orchRefs,omitempty"`
	Wireguard            *NodeWireguardSpec `json:"wireguard,omitempty"`
	Addresses            []NodeAddress      `json:"addresses,omitempty"`
}

// NodeBGPSpec holds a node's BGP addresses (CIDR notation, e.g. 192.0.2.10/24) and AS number.
type NodeBGPSpec struct {
	ASNumber                *ASNumber `json:"asNumber,omitempty"`
	IPv4Address             string    `json:"ipv4Address,omitempty"`
	IPv6Address             string    `json:"ipv6Address,omitempty"`
	IPv4IPIPTunnelAddr      string    `json:"ipv4IPIPTunnelAddr,omitempty"`
	RouteReflectorClusterID string    `json:"routeReflectorClusterID,omitempty"`
}

// OrchRef links a Calico node to an orchestrator's node.
type OrchRef struct {
	NodeName     string `json:"nodeName,omitempty"`
	Orchestrator string `json:"orchestrator,omitempty"`
}

// NodeWireguardSpec holds WireGuard interface addresses (accepted, not used by Trellis).
type NodeWireguardSpec struct {
	InterfaceIPv4Address string `json:"interfaceIPv4Address,omitempty"`
	InterfaceIPv6Address string `json:"interfaceIPv6Address,omitempty"`
}

// NodeAddressType says where a node address came from.
type NodeAddressType string

// Node address types.
const (
	NodeAddressInternalIP NodeAddressType = "InternalIP"
	NodeAddressExternalIP NodeAddressType = "ExternalIP"
	NodeAddressCalicoNode NodeAddressType = "CalicoNodeIP"
)

// NodeAddress is one address of a node.
type NodeAddress struct {
	Address string          `json:"address"`
	Type    NodeAddressType `json:"type,omitempty"`
}

// NodeStatus is reported by the node agent.
type NodeStatus struct {
	WireguardPublicKey   string   `json:"wireguardPublicKey,omitempty"`
	WireguardPublicKeyV6 string   `json:"wireguardPublicKeyV6,omitempty"`
	PodCIDRs             []string `json:"podCIDRs,omitempty"`
}
