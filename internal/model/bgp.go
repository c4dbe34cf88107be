package model

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// BGPConfiguration holds BGP settings: the one named "default" for the cluster, "node.NAME"
// for one node.
// +kubebuilder:resource:scope=Cluster,shortName={bgpconfig},categories={calico}
// +kubebuilder:printcolumn:name="ASN",type=string,JSONPath=`.spec.asNumber`
// +kubebuilder:printcolumn:name="Mesh",type=boolean,JSONPath=`.spec.nodeToNodeMeshEnabled`
// +kubebuilder:printcolumn:name="ListenPort",type=integer,JSONPath=`.spec.listenPort`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type BGPConfiguration struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              BGPConfigurationSpec `json:"spec,omitempty"`
}

// BGPConfigurationSpec is the spec of a BGPConfiguration.
type BGPConfigurationSpec struct {
	// LogSeverityScreen is the BGP speaker's log level (Info when unset).
	LogSeverityScreen string `json:"logSeverityScreen,omitempty"`
	// NodeToNodeMeshEnabled peers every BGP node with every other (true when unset).
	NodeToNodeMeshEnabled *bool `json:"nodeToNodeMeshEnabled,omitempty"`
	// ASNumber is the default AS number of nodes (64512 when unset).
	ASNumber *ASNumber `json:"asNumber,omitempty"`
	// ServiceLoadBalancerIPs are CIDRs of Service load-balancer IPs to advertise.
	ServiceLoadBalancerIPs []ServiceLoadBalancerIPBlock `json:"serviceLoadBalancerIPs,omitempty"`
	// ServiceExternalIPs are CIDRs of Service external IPs to advertise.
	ServiceExternalIPs []ServiceExternalIPBlock `json:"serviceExternalIPs,omitempty"`
	// ServiceClusterIPs are CIDRs of Service cluster IPs to advertise.
	ServiceClusterIPs []ServiceClusterIPBlock `json:"serviceClusterIPs,omitempty"`
	// Communities name BGP community values for prefixAdvertisements.
	Communities []Community `json:"communities,omitempty"`
	// PrefixAdvertisements attach communities to advertised CIDRs.
	PrefixAdvertisements []PrefixAdvertisement `json:"prefixAdvertisements,omitempty"`
	// ListenPort is the BGP port (179 when unset).
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	ListenPort uint16 `json:"listenPort,omitempty"`
	// NodeMeshPassword is the password of the node-to-node mesh sessions.
	NodeMeshPassword *BGPPassword `json:"nodeMeshPassword,omitempty"`
	// NodeMeshMaxRestartTime is the graceful-restart time of mesh sessions (a duration, 120s).
	NodeMeshMaxRestartTime *metav1.Duration `json:"nodeMeshMaxRestartTime,omitempty"`
	// BindMode is None (listen on all addresses) or NodeIP (on the node's BGP address only).
	BindMode *BindMode `json:"bindMode,omitempty"`
	// IgnoredInterfaces are interface globs whose addresses are not advertised.
	IgnoredInterfaces []string `json:"ignoredInterfaces,omitempty"`
	// LocalWorkloadPeeringIPV4 is the node address that local workloads peer with.
	LocalWorkloadPeeringIPV4 string `json:"localWorkloadPeeringIPV4,omitempty"`
	// LocalWorkloadPeeringIPV6 is the IPv6 node address that local workloads peer with.
	LocalWorkloadPeeringIPV6 string `json:"localWorkloadPeeringIPV6,omitempty"`
}

// BindMode says which address BIRD-style speakers listen on.
// +kubebuilder:validation:Enum=None;NodeIP
type BindMode string

// Bind modes.
const (
	BindModeNone   BindMode = "None"
	BindModeNodeIP BindMode = "NodeIP"
)

// ServiceClusterIPBlock is a CIDR of service cluster IPs to advertise.
type ServiceClusterIPBlock struct {
	// CIDR to advertise.
	// +trellis:validation:Net=cidr
	CIDR string `json:"cidr,omitempty"`
}

// ServiceExternalIPBlock is a CIDR of service external IPs to advertise.
type ServiceExternalIPBlock struct {
	// CIDR to advertise.
	// +trellis:validation:Net=cidr
	CIDR string `json:"cidr,omitempty"`
}

// ServiceLoadBalancerIPBlock is a CIDR of load-balancer IPs to advertise.
type ServiceLoadBalancerIPBlock struct {
	// CIDR to advertise.
	// +trellis:validation:Net=cidr
	CIDR string `json:"cidr,omitempty"`
}

// Community names a BGP community value ("aa:nn" or "aa:nn:mm").
type Community struct {
	// Name that prefixAdvertisements refer to.
	Name string `json:"name,omitempty"`
	// Value: "aa:nn" (standard) or "aa:nn:mm" (large).
	// +kubebuilder:validation:Pattern=`^[0-9]+:[0-9]+(:[0-9]+)?$`
	Value string `json:"value,omitempty"`
}

// PrefixAdvertisement attaches communities to advertisements of a CIDR.
type PrefixAdvertisement struct {
	// CIDR the communities are attached to.
	// +trellis:validation:Net=cidr
	CIDR string `json:"cidr,omitempty"`
	// Communities: names from spec.communities or literal values.
	Communities []string `json:"communities,omitempty"`
}

// BGPPassword refers to a secret holding a BGP session password.
type BGPPassword struct {
	// SecretKeyRef names the key of a Secret that holds the password.
	SecretKeyRef *corev1.SecretKeySelector `json:"secretKeyRef,omitempty"`
}

// BGPPeer configures BGP sessions between selected nodes and a peer.
// +kubebuilder:resource:scope=Cluster,shortName={bgpp},categories={calico}
// +kubebuilder:printcolumn:name="PeerIP",type=string,JSONPath=`.spec.peerIP`
// +kubebuilder:printcolumn:name="ASN",type=string,JSONPath=`.spec.asNumber`
// +kubebuilder:printcolumn:name="PeerSelector",type=string,JSONPath=`.spec.peerSelector`
// +kubebuilder:printcolumn:name="Node",type=string,JSONPath=`.spec.node`
// +kubebuilder:printcolumn:name="NodeSelector",type=string,JSONPath=`.spec.nodeSelector`
// +kubebuilder:printcolumn:name="Filters",type=string,JSONPath=`.spec.filters`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type BGPPeer struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              BGPPeerSpec `json:"spec,omitempty"`
}

// SourceAddress says which local address a BGP session uses.
// +kubebuilder:validation:Enum=UseNodeIP;None
type SourceAddress string

// Source addresses.
const (
	SourceAddressUseNodeIP SourceAddress = "UseNodeIP"
	SourceAddressNone      SourceAddress = "None"
)

// NextHopMode says how the next hop of advertised routes is set.
// +kubebuilder:validation:Enum=Auto;Self;Keep
type NextHopMode string

// Next-hop modes.
const (
	NextHopAuto NextHopMode = "Auto"
	NextHopSelf NextHopMode = "Self"
	NextHopKeep NextHopMode = "Keep"
)

// ReversePeering says whether the reverse session is created automatically.
// +kubebuilder:validation:Enum=Auto;Manual
type ReversePeering string

// Reverse peering modes.
const (
	ReversePeeringAuto   ReversePeering = "Auto"
	ReversePeeringManual ReversePeering = "Manual"
)

// BGPPeerSpec is the spec of a BGPPeer. Either PeerIP (with ASNumber) or PeerSelector names
// the peers; Node or NodeSelector the local side (all nodes when both are empty).
// +kubebuilder:validation:XValidation:rule="!(has(self.node) && has(self.nodeSelector))",message="node and nodeSelector are mutually exclusive"
// +kubebuilder:validation:XValidation:rule="!(has(self.peerIP) && has(self.peerSelector))",message="peerIP and peerSelector are mutually exclusive"
type BGPPeerSpec struct {
	// Node is the one node this peering applies to; see nodeSelector.
	Node string `json:"node,omitempty"`
	// NodeSelector selects the nodes this peering applies to (all nodes when both node and
	// nodeSelector are empty).
	NodeSelector string `json:"nodeSelector,omitempty"`
	// PeerIP is the peer's address, optionally with a port: 192.0.2.1, 192.0.2.1:1179,
	// [2001:db8::1]:1179.
	PeerIP string `json:"peerIP,omitempty"`
	// ASNumber is the peer's AS number (with peerIP).
	ASNumber ASNumber `json:"asNumber,omitempty"`
	// PeerSelector selects Calico nodes as the peers (instead of peerIP).
	PeerSelector string `json:"peerSelector,omitempty"`
	// KeepOriginalNextHop leaves the next hop of advertised routes unchanged.
	KeepOriginalNextHop bool `json:"keepOriginalNextHop,omitempty"`
	// NextHopMode: Auto, Self or Keep.
	NextHopMode *NextHopMode `json:"nextHopMode,omitempty"`
	// Password of the session.
	Password *BGPPassword `json:"password,omitempty"`
	// SourceAddress: UseNodeIP (the node's BGP address) or None (the kernel's choice).
	SourceAddress SourceAddress `json:"sourceAddress,omitempty"`
	// MaxRestartTime is the graceful-restart time of the session (a duration).
	MaxRestartTime *metav1.Duration `json:"maxRestartTime,omitempty"`
	// NumAllowedLocalASNumbers is how often the local AS may occur in a received path.
	// +kubebuilder:validation:Minimum=0
	NumAllowedLocalASNumbers *int32 `json:"numAllowedLocalASNumbers,omitempty"`
	// TTLSecurity enables GTSM with this many hops.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=255
	TTLSecurity *uint8 `json:"ttlSecurity,omitempty"`
	// ReachableBy is a gateway through which the peer is reached.
	ReachableBy string `json:"reachableBy,omitempty"`
	// Filters are BGPFilter names applied to the session, in order.
	Filters []string `json:"filters,omitempty"`
	// LocalWorkloadSelector selects local workloads to peer with.
	LocalWorkloadSelector string `json:"localWorkloadSelector,omitempty"`
	// ReversePeering: Auto or Manual.
	ReversePeering ReversePeering `json:"reversePeering,omitempty"`
}
