package model

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// HostEndpoint is a host interface (or the whole host, interfaceName "*") that policy applies to.
// +kubebuilder:resource:scope=Cluster,shortName={hep},categories={calico}
// +kubebuilder:printcolumn:name="Node",type=string,JSONPath=`.spec.node`
// +kubebuilder:printcolumn:name="Interface",type=string,JSONPath=`.spec.interfaceName`
// +kubebuilder:printcolumn:name="ExpectedIPs",type=string,JSONPath=`.spec.expectedIPs`
// +kubebuilder:printcolumn:name="Profiles",type=string,JSONPath=`.spec.profiles`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type HostEndpoint struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              HostEndpointSpec `json:"spec,omitempty"`
}

// HostEndpointSpec is the spec of a HostEndpoint.
// +kubebuilder:validation:XValidation:rule="has(self.interfaceName) || has(self.expectedIPs)",message="one of interfaceName and expectedIPs is required"
type HostEndpointSpec struct {
	// Node is the name of the node the interface is on.
	Node string `json:"node,omitempty"`
	// InterfaceName is the host interface (eth0), or "*" for all of the host's interfaces.
	InterfaceName string `json:"interfaceName,omitempty"`
	// ExpectedIPs are the interface's addresses, which policy selecting the endpoint as a
	// source or destination matches.
	// +trellis:validation:Net=ip
	ExpectedIPs []string `json:"expectedIPs,omitempty"`
	// Profiles are applied to the endpoint after its policies, in order.
	Profiles []string `json:"profiles,omitempty"`
	// Ports are the endpoint's named ports, which rules may refer to by name; at most 1000.
	// +kubebuilder:validation:MaxItems=1000
	Ports []EndpointPort `json:"ports,omitempty"`
}

// EndpointPort is a named port of an endpoint.
type EndpointPort struct {
	// Name of the port, as rules refer to it.
	Name string `json:"name"`
	// Protocol of the port: TCP, UDP or SCTP.
	Protocol Protocol `json:"protocol"`
	// Port number.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=65535
	Port uint16 `json:"port"`
}

// WorkloadEndpoint is a pod's network interface.
// +kubebuilder:resource:scope=Namespaced,shortName={wep},categories={calico}
// +kubebuilder:printcolumn:name="Node",type=string,JSONPath=`.spec.node`
// +kubebuilder:printcolumn:name="Pod",type=string,JSONPath=`.spec.pod`
// +kubebuilder:printcolumn:name="Interface",type=string,JSONPath=`.spec.interfaceName`
// +kubebuilder:printcolumn:name="Networks",type=string,JSONPath=`.spec.ipNetworks`
// +kubebuilder:printcolumn:name="Profiles",type=string,JSONPath=`.spec.profiles`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type WorkloadEndpoint struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              WorkloadEndpointSpec `json:"spec,omitempty"`
}

// WorkloadEndpointSpec is the spec of a WorkloadEndpoint.
type WorkloadEndpointSpec struct {
	// Orchestrator that created the workload (k8s).
	Orchestrator string `json:"orchestrator,omitempty"`
	// Workload is the orchestrator's name of the workload.
	Workload string `json:"workload,omitempty"`
	// Node the workload runs on.
	Node string `json:"node,omitempty"`
	// ContainerID of the pod's sandbox.
	ContainerID string `json:"containerID,omitempty"`
	// Pod name.
	Pod string `json:"pod,omitempty"`
	// Endpoint is the name of the interface within the workload (eth0).
	Endpoint string `json:"endpoint,omitempty"`
	// ServiceAccountName is the pod's service account.
	ServiceAccountName string `json:"serviceAccountName,omitempty"`
	// IPNetworks are the pod's addresses, as /32 or /128 CIDRs.
	// +trellis:validation:Net=cidr-or-ip
	IPNetworks []string `json:"ipNetworks,omitempty"`
	// IPNATs are one-to-one NATs of the pod's addresses.
	IPNATs []IPNAT `json:"ipNATs,omitempty"`
	// IPv4Gateway is the pod's IPv4 default gateway.
	IPv4Gateway string `json:"ipv4Gateway,omitempty"`
	// IPv6Gateway is the pod's IPv6 default gateway.
	IPv6Gateway string `json:"ipv6Gateway,omitempty"`
	// Profiles are applied to the endpoint after its policies (kns.<namespace>,
	// ksa.<namespace>.<service account>).
	Profiles []string `json:"profiles,omitempty"`
	// InterfaceName is the host side of the pod's veth pair.
	InterfaceName string `json:"interfaceName,omitempty"`
	// MAC is the pod interface's MAC address.
	MAC string `json:"mac,omitempty"`
	// Ports are the pod's named ports; at most 1000.
	// +kubebuilder:validation:MaxItems=1000
	Ports []WorkloadEndpointPort `json:"ports,omitempty"`
	// AllowSpoofedSourcePrefixes are source prefixes the pod may send from besides its own
	// addresses.
	// +trellis:validation:Net=cidr-or-ip
	AllowSpoofedSourcePrefixes []string `json:"allowSpoofedSourcePrefixes,omitempty"`
	// QoSControls are bandwidth and rate limits (accepted, not enforced by Trellis).
	QoSControls *QoSControls `json:"qosControls,omitempty"`
}

// IPNAT is a one-to-one NAT of a workload address.
type IPNAT struct {
	// InternalIP is the pod's address.
	InternalIP string `json:"internalIP"`
	// ExternalIP is the address it is reachable as.
	ExternalIP string `json:"externalIP"`
}

// WorkloadEndpointPort is a named port of a workload, optionally mapped to a host port.
type WorkloadEndpointPort struct {
	// Name of the port.
	Name string `json:"name"`
	// Protocol of the port: TCP, UDP or SCTP.
	Protocol Protocol `json:"protocol"`
	// Port number in the pod.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=65535
	Port uint16 `json:"port"`
	// HostPort maps the port to this port of the node.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=65535
	HostPort uint16 `json:"hostPort,omitempty"`
	// HostIP is the node address of HostPort.
	HostIP string `json:"hostIP,omitempty"`
}

// QoSControls are bandwidth and rate limits of a workload (accepted, not enforced by Trellis).
type QoSControls struct {
	// IngressBandwidth limits ingress traffic, in bits per second.
	IngressBandwidth int64 `json:"ingressBandwidth,omitempty"`
	// EgressBandwidth limits egress traffic, in bits per second.
	EgressBandwidth int64 `json:"egressBandwidth,omitempty"`
	// IngressBurst is the ingress bandwidth bucket size, in bits.
	IngressBurst int64 `json:"ingressBurst,omitempty"`
	// EgressBurst is the egress bandwidth bucket size, in bits.
	EgressBurst int64 `json:"egressBurst,omitempty"`
	// IngressPeakrate limits the ingress peak rate, in bits per second.
	IngressPeakrate int64 `json:"ingressPeakrate,omitempty"`
	// EgressPeakrate limits the egress peak rate, in bits per second.
	EgressPeakrate int64 `json:"egressPeakrate,omitempty"`
	// IngressMinburst is the ingress peak-rate bucket size, in bytes.
	IngressMinburst int64 `json:"ingressMinburst,omitempty"`
	// EgressMinburst is the egress peak-rate bucket size, in bytes.
	EgressMinburst int64 `json:"egressMinburst,omitempty"`
	// IngressPacketRate limits ingress packets per second.
	IngressPacketRate int64 `json:"ingressPacketRate,omitempty"`
	// EgressPacketRate limits egress packets per second.
	EgressPacketRate int64 `json:"egressPacketRate,omitempty"`
	// IngressPacketBurst is the ingress packet bucket size.
	IngressPacketBurst int64 `json:"ingressPacketBurst,omitempty"`
	// EgressPacketBurst is the egress packet bucket size.
	EgressPacketBurst int64 `json:"egressPacketBurst,omitempty"`
	// IngressMaxConnections limits concurrent ingress connections.
	IngressMaxConnections int64 `json:"ingressMaxConnections,omitempty"`
	// EgressMaxConnections limits concurrent egress connections.
	EgressMaxConnections int64 `json:"egressMaxConnections,omitempty"`
	// DSCP marks the workload's egress packets with this code point.
	DSCP *int `json:"dscp,omitempty"`
}

// Profile holds rules and labels applied to the endpoints that list it (one per namespace and
// service account in Kubernetes, kns.NAME and ksa.NS.NAME).
// +kubebuilder:resource:scope=Cluster,shortName={pro},categories={calico}
// +kubebuilder:printcolumn:name="LabelsToApply",type=string,JSONPath=`.spec.labelsToApply`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type Profile struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              ProfileSpec `json:"spec,omitempty"`
}

// ProfileSpec is the spec of a Profile.
type ProfileSpec struct {
	// Ingress rules, applied after the endpoint's policies.
	// +kubebuilder:validation:MaxItems=1000
	Ingress []Rule `json:"ingress,omitempty"`
	// Egress rules, applied after the endpoint's policies.
	// +kubebuilder:validation:MaxItems=1000
	Egress []Rule `json:"egress,omitempty"`
	// LabelsToApply are labels every endpoint with the profile inherits.
	LabelsToApply map[string]string `json:"labelsToApply,omitempty"`
}
