package model

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// BGPConfiguration holds BGP settings: the one named "default" for the cluster, "node.NAME"
// for one node.
type BGPConfiguration struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              BGPConfigurationSpec `json:"spec,omitempty"`
}

// BGPConfigurationSpec is the spec of a BGPConfiguration.
type BGPConfigurationSpec struct {
	LogSeverityScreen        string                       `json:"logSeverityScreen,omitempty"`
	NodeToNodeMeshEnabled    *bool                        `json:"nodeToNodeMeshEnabled,omitempty"`
	ASNumber                 *ASNumber                    `json:"asNumber,omitempty"`
	ServiceLoadBalancerIPs   []ServiceLoadBalancerIPBlock `json:"serviceLoadBalancerIPs,omitempty"`
	ServiceExternalIPs       []ServiceExternalIPBlock     `json:"serviceExternalIPs,omitempty"`
	ServiceClusterIPs        []ServiceClusterIPBlock      `json:"serviceClusterIPs,omitempty"`
	Communities              []Community                  `json:"communities,omitempty"`
	PrefixAdvertisements     []PrefixAdvertisement        `json:"prefixAdvertisements,omitempty"`
	ListenPort               uint16                       `json:"listenPort,omitempty"`
	NodeMeshPassword         *BGPPassword                 `json:"nodeMeshPassword,omitempty"`
	NodeMeshMaxRestartTime   *metav1.Duration             `json:"nodeMeshMaxRestartTime,omitempty"`
	BindMode                 *BindMode                    `json:"bindMode,omitempty"`
	IgnoredInterfaces        []string                     `json:"ignoredInterfaces,omitempty"`
	LocalWorkloadPeeringIPV4 string                       `json:"localWorkloadPeeringIPV4,omitempty"`
	LocalWorkloadPeeringIPV6 string                       `json:"localWorkloadPeeringIPV6,omitempty"`
}

// BindMode says which address BIRD-style speakers listen on.
type BindMode string

// Bind modes.
const (
	BindModeNone   BindMode = "None"
	BindModeNodeIP BindMode = "NodeIP"
)

// ServiceClusterIPBlock is a CIDR of service cluster IPs to advertise.
type ServiceClusterIPBlock struct {
	CIDR string `json:"cidr,omitempty"`
}

// ServiceExternalIPBlock is a CIDR of service external IPs to advertise.
type ServiceExternalIPBlock struct {
	CIDR string `json:"cidr,omitempty"`
}

// ServiceLoadBalancerIPBlock is a CIDR of load-balancer IPs to advertise.
type ServiceLoadBalancerIPBlock struct {
	CIDR string `json:"cidr,omitempty"`
}

// Community names a BGP community value ("aa:nn" or "aa:nn:mm").
type Community struct {
	Name  string `json:"name,omitempty"`
	Value string `json:"value,omitempty"`
}

// PrefixAdvertisement attaches communities to advertisements of a CIDR.
type PrefixAdvertisement struct {
	CIDR        string   `json:"cidr,omitempty"`
	Communities []string `json:"communities,omitempty"`
}

// BGPPassword refers to a secret holding a BGP session password.
type BGPPassword struct {
	SecretKeyRef *corev1.SecretKeySelector `json:"secretKeyRef,omitempty"`
}

// BGPPeer configures BGP sessions between selected nodes and a peer.
type BGPPeer struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              BGPPeerSpec `json:"spec,omitempty"`
}

// SourceAddress says which local address a BGP session uses.
type SourceAddress string

// Source addresses.
const (
	SourceAddressUseNodeIP SourceAddress = "UseNodeIP"
	SourceAddressNone      SourceAddress = "None"
)

// NextHopMode says how the next hop of advertised routes is set.
type NextHopMode string

// Next-hop modes.
const (
	NextHopAuto NextHopMode = "Auto"
	NextHopSelf NextHopMode = "Self"
	NextHopKeep NextHopMode = "Keep"
)

// ReversePeering says whether the reverse session is created automatically.
type ReversePeering string

// Reverse peering modes.
const (
	ReversePeeringAuto   ReversePeering = "Auto"
	ReversePeeringManual ReversePeering = "Manual"
)

// BGPPeerSpec is the spec of a BGPPeer. Either PeerIP (with ASNumber) or PeerSelector names
// the peers; Node or NodeSelector the local side (all nodes when both are empty).
type BGPPeerSpec struct {
	Node                     string           `json:"node,omitempty"`
	NodeSelector             string           `json:"nodeSelector,omitempty"`
	PeerIP                   string           `json:"peerIP,omitempty"`
	ASNumber                 ASNumber         `json:"asNumber,omitempty"`
	PeerSelector             string           `json:"peerSelector,omitempty"`
	KeepOriginalNextHop      bool             `json:"keepOriginalNextHop,omitempty"`
	NextHopMode              *NextHopMode     `json:"nextHopMode,omitempty"`
	Password                 *BGPPassword     `json:"password,omitempty"`
	SourceAddress            SourceAddress    `json:"sourceAddress,omitempty"`
	MaxRestartTime           *metav1.Duration `json:"maxRestartTime,omitempty"`
	NumAllowedLocalASNumbers *int32           `json:"numAllowedLocalASNumbers,omitempty"`
	TTLSecurity              *uint8           `json:"ttlSecurity,omitempty"`
	ReachableBy              string           `json:"reachableBy,omitempty"`
	Filters                  []string         `json:"filters,omitempty"`
	LocalWorkloadSelector    string           `json:"localWorkloadSelector,omitempty"`
	ReversePeering           ReversePeering   `json:"reversePeering,omitempty"`
}
