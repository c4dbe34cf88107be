package model

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// IPPool is a range of addresses that IPAM hands out in blocks.
// +kubebuilder:resource:scope=Cluster,shortName={ipp,pool},categories={calico}
// +kubebuilder:printcolumn:name="CIDR",type=string,JSONPath=`.spec.cidr`
// +kubebuilder:printcolumn:name="BlockSize",type=integer,JSONPath=`.spec.blockSize`
// +kubebuilder:printcolumn:name="NAT",type=boolean,JSONPath=`.spec.natOutgoing`
// +kubebuilder:printcolumn:name="VXLAN",type=string,JSONPath=`.spec.vxlanMode`
// +kubebuilder:printcolumn:name="IPIP",type=string,JSONPath=`.spec.ipipMode`
// +kubebuilder:printcolumn:name="Disabled",type=boolean,JSONPath=`.spec.disabled`
// +kubebuilder:printcolumn:name="NodeSelector",type=string,JSONPath=`.spec.nodeSelector`,priority=1
// +kubebuilder:printcolumn:name="AllowedUses",type=string,JSONPath=`.spec.allowedUses`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type IPPool struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              IPPoolSpec `json:"spec,omitempty"`
}

// EncapMode is an IPIP or VXLAN encapsulation mode.
// +kubebuilder:validation:Enum=Never;Always;CrossSubnet
type EncapMode string

// Encapsulation modes (IPPool vxlanMode and ipipMode).
const (
	EncapNever       EncapMode = "Never"
	EncapAlways      EncapMode = "Always"
	EncapCrossSubnet EncapMode = "CrossSubnet"
)

// IPPoolAllowedUse is what addresses of a pool may be used for.
// +kubebuilder:validation:Enum=Workload;Tunnel;LoadBalancer
type IPPoolAllowedUse string

// Allowed uses.
const (
	AllowedUseWorkload     IPPoolAllowedUse = "Workload"
	AllowedUseTunnel       IPPoolAllowedUse = "Tunnel"
	AllowedUseLoadBalancer IPPoolAllowedUse = "LoadBalancer"
)

// AssignmentMode says whether IPAM picks from a pool automatically or only on request.
// +kubebuilder:validation:Enum=Automatic;Manual
type AssignmentMode string

// Assignment modes.
const (
	AssignmentAutomatic AssignmentMode = "Automatic"
	AssignmentManual    AssignmentMode = "Manual"
)

// IPPoolSpec is the spec of an IPPool.
// +kubebuilder:validation:XValidation:rule="!has(self.blockSize) || !isCIDR(self.cidr) || (cidr(self.cidr).ip().family() == 4 ? (self.blockSize >= 20 && self.blockSize <= 32) : (self.blockSize >= 116 && self.blockSize <= 128))",message="blockSize must be 20-32 for an IPv4 pool, 116-128 for an IPv6 pool",fieldPath=".blockSize"
type IPPoolSpec struct {
	// CIDR is the pool's range, e.g. 192.168.0.0/16 or fd00:10::/64.
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:XValidation:rule="isCIDR(self)",message="must be a CIDR"
	CIDR string `json:"cidr"`
	// VXLANMode encapsulates traffic to other nodes in VXLAN: Never, Always or CrossSubnet
	// (only to nodes in another subnet). Never when unset.
	// +kubebuilder:default=Never
	VXLANMode EncapMode `json:"vxlanMode,omitempty"`
	// IPIPMode encapsulates traffic to other nodes in IP-in-IP: Never, Always or CrossSubnet
	// (accepted; Trellis routes with VXLAN or BGP).
	// +kubebuilder:default=Never
	IPIPMode EncapMode `json:"ipipMode,omitempty"`
	// NATOutgoing masquerades traffic from the pool's addresses to destinations outside all
	// pools.
	NATOutgoing bool `json:"natOutgoing,omitempty"`
	// Disabled stops IPAM handing out new addresses from the pool; existing ones stay.
	Disabled bool `json:"disabled,omitempty"`
	// DisableBGPExport keeps the pool's routes out of BGP advertisements.
	DisableBGPExport bool `json:"disableBGPExport,omitempty"`
	// BlockSize is the prefix length of the blocks IPAM hands to nodes: 20-32 for IPv4
	// (default 26), 116-128 for IPv6 (default 122). It cannot be changed later.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=128
	BlockSize int `json:"blockSize,omitempty"`
	// NodeSelector selects the nodes whose pods get addresses from the pool (all() when
	// empty).
	// +kubebuilder:default="all()"
	NodeSelector string `json:"nodeSelector,omitempty"`
	// NamespaceSelector selects the namespaces whose pods get addresses from the pool.
	NamespaceSelector string `json:"namespaceSelector,omitempty"`
	// AllowedUses says what the addresses are for: Workload, Tunnel, LoadBalancer;
	// [Workload, Tunnel] when empty.
	// +kubebuilder:default={Workload,Tunnel}
	AllowedUses []IPPoolAllowedUse `json:"allowedUses,omitempty"`
	// AssignmentMode is Automatic (IPAM may pick the pool) or Manual (only when asked for by
	// name); Automatic when unset.
	// +kubebuilder:default=Automatic
	AssignmentMode *AssignmentMode `json:"assignmentMode,omitempty"`
}

// IPReservation lists addresses IPAM must never hand out.
// +kubebuilder:resource:scope=Cluster,shortName={ipr,ipres},categories={calico}
// +kubebuilder:printcolumn:name="CIDRs",type=string,JSONPath=`.spec.reservedCIDRs`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type IPReservation struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              IPReservationSpec `json:"spec,omitempty"`
}

// IPReservationSpec is the spec of an IPReservation.
type IPReservationSpec struct {
	// ReservedCIDRs are addresses (CIDRs or single IPs) IPAM never hands out.
	// +trellis:validation:Net=cidr-or-ip
	ReservedCIDRs []string `json:"reservedCIDRs,omitempty"`
}

// IPAMConfiguration holds cluster-wide IPAM settings; the only instance is named "default".
// +kubebuilder:resource:scope=Cluster,shortName={ipamconfig},categories={calico}
// +kubebuilder:printcolumn:name="StrictAffinity",type=boolean,JSONPath=`.spec.strictAffinity`
// +kubebuilder:printcolumn:name="AutoAllocateBlocks",type=boolean,JSONPath=`.spec.autoAllocateBlocks`
// +kubebuilder:printcolumn:name="MaxBlocksPerHost",type=integer,JSONPath=`.spec.maxBlocksPerHost`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type IPAMConfiguration struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              IPAMConfigurationSpec `json:"spec,omitempty"`
}

// IPAMConfigurationSpec is the spec of an IPAMConfiguration.
type IPAMConfigurationSpec struct {
	// StrictAffinity forbids a node to borrow addresses from blocks affine to other nodes.
	// +optional
	StrictAffinity bool `json:"strictAffinity"`
	// MaxBlocksPerHost limits the blocks one node may claim; 0 means no limit.
	// +kubebuilder:validation:Minimum=0
	MaxBlocksPerHost int32 `json:"maxBlocksPerHost,omitempty"`
	// AutoAllocateBlocks lets nodes claim new blocks on demand.
	// +optional
	AutoAllocateBlocks bool `json:"autoAllocateBlocks"`
}
