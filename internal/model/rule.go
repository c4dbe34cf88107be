package model

// Action is what a rule does with a matching packet.
// +kubebuilder:validation:Enum=Allow;Deny;Log;Pass
type Action string

// Rule actions.
const (
	Allow Action = "Allow"
	Deny  Action = "Deny"
	Log   Action = "Log"
	Pass  Action = "Pass"
)

// PolicyType says which direction a policy applies to.
// +kubebuilder:validation:Enum=Ingress;Egress
type PolicyType string

// Policy types.
const (
	PolicyTypeIngress PolicyType = "Ingress"
	PolicyTypeEgress  PolicyType = "Egress"
)

// PolicyPerformanceHint is an optimisation hint on a policy (Calico: AssumeNeededOnEveryNode).
// +kubebuilder:validation:Enum=AssumeNeededOnEveryNode
type PolicyPerformanceHint string

// HintAssumeNeededOnEveryNode tells the calculation to send the policy to every node.
const HintAssumeNeededOnEveryNode PolicyPerformanceHint = "AssumeNeededOnEveryNode"

// Rule is one Calico policy rule: an action and match criteria, all of which must match.
// +kubebuilder:validation:XValidation:rule="!has(self.icmp) || (has(self.protocol) && (type(self.protocol) == int ? self.protocol in [1, 58] : self.protocol in ['ICMP', 'ICMPv6', '1', '58']))",message="rules that specify ICMP fields must set protocol to ICMP or ICMPv6",fieldPath=".icmp"
// +kubebuilder:validation:XValidation:rule="!((has(self.source) && (has(self.source.ports) || has(self.source.notPorts))) || (has(self.destination) && (has(self.destination.ports) || has(self.destination.notPorts)))) || (has(self.protocol) && (type(self.protocol) == int ? self.protocol in [6, 17, 132] : self.protocol in ['TCP', 'UDP', 'SCTP', '6', '17', '132']))",message="rules that specify ports must set protocol to TCP, UDP or SCTP",fieldPath=".protocol"
type Rule struct {
	// Action is what the rule does with a packet that matches: Allow, Deny, Log (log and
	// go on with the next rule) or Pass (skip the rest of the tier).
	Action Action `json:"action"`
	// IPVersion restricts the rule to IPv4 (4) or IPv6 (6) packets.
	// +kubebuilder:validation:Enum=4;6
	IPVersion *int `json:"ipVersion,omitempty"`
	// Protocol restricts the rule to one IP protocol: TCP, UDP, ICMP, ICMPv6, SCTP, UDPLite or
	// a number 1-255. Ports may only be matched with TCP, UDP or SCTP.
	Protocol *Protocol `json:"protocol,omitempty"`
	// ICMP matches the ICMP type and code; requires protocol ICMP or ICMPv6.
	ICMP *ICMPFields `json:"icmp,omitempty"`
	// NotProtocol is the negated form of Protocol: the rule matches other protocols only.
	NotProtocol *Protocol `json:"notProtocol,omitempty"`
	// NotICMP is the negated form of ICMP.
	NotICMP *ICMPFields `json:"notICMP,omitempty"`
	// Source matches the packet's source: nets, selectors, ports, service accounts, services.
	Source EntityRule `json:"source,omitempty"`
	// Destination matches the packet's destination.
	Destination EntityRule `json:"destination,omitempty"`
	// HTTP matches HTTP methods and paths (accepted and stored; not enforced by Trellis's
	// nftables dataplane).
	HTTP *HTTPMatch `json:"http,omitempty"`
	// Metadata carries annotations of the rule, for people and tools; it does not match.
	Metadata *RuleMetadata `json:"metadata,omitempty"`
}

// ICMPFields matches ICMP type and code.
// +kubebuilder:validation:XValidation:rule="!has(self.code) || has(self.type)",message="code requires type"
type ICMPFields struct {
	// Type is the ICMP type, 0-254.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=254
	Type *int `json:"type,omitempty"`
	// Code is the ICMP code, 0-255; requires Type.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=255
	Code *int `json:"code,omitempty"`
}

// EntityRule matches the source or destination of a packet. All given criteria must match.
type EntityRule struct {
	// Nets matches packets whose address is in any of these CIDRs (or equal to an IP).
	// +trellis:validation:Net=cidr-or-ip
	Nets []string `json:"nets,omitempty"`
	// Selector matches endpoints (workload or host endpoints, network sets) by label, in the
	// Calico selector language: app == 'web' && has(tier).
	Selector string `json:"selector,omitempty"`
	// NamespaceSelector matches the endpoints of the namespaces it selects; global() selects
	// non-namespaced endpoints and network sets.
	NamespaceSelector string `json:"namespaceSelector,omitempty"`
	// Ports matches the packet's port: numbers, ranges "min:max" or named ports; requires
	// protocol TCP, UDP or SCTP. At most 100.
	// +kubebuilder:validation:MaxItems=100
	Ports []Port `json:"ports,omitempty"`
	// NotNets is the negated form of Nets.
	// +trellis:validation:Net=cidr-or-ip
	NotNets []string `json:"notNets,omitempty"`
	// NotSelector is the negated form of Selector.
	NotSelector string `json:"notSelector,omitempty"`
	// NotPorts is the negated form of Ports. At most 100.
	// +kubebuilder:validation:MaxItems=100
	NotPorts []Port `json:"notPorts,omitempty"`
	// ServiceAccounts matches workload endpoints by the name or labels of their pod's
	// service account.
	ServiceAccounts *ServiceAccountMatch `json:"serviceAccounts,omitempty"`
	// Services matches the endpoints of a Kubernetes Service (destination) or, as a source,
	// the Service's pods.
	Services *ServiceMatch `json:"services,omitempty"`
}

// ServiceAccountMatch matches endpoints by service account name or labels.
type ServiceAccountMatch struct {
	// Names matches service accounts by name.
	Names []string `json:"names,omitempty"`
	// Selector matches service accounts by label.
	Selector string `json:"selector,omitempty"`
}

// ServiceMatch matches the endpoints of a Kubernetes Service.
type ServiceMatch struct {
	// Name of the Service.
	Name string `json:"name,omitempty"`
	// Namespace of the Service; the policy's namespace when empty.
	Namespace string `json:"namespace,omitempty"`
}

// HTTPMatch matches HTTP attributes (application layer; accepted and stored, not enforced by
// the nftables dataplane).
type HTTPMatch struct {
	// Methods matches request methods (GET, POST, ...).
	Methods []string `json:"methods,omitempty"`
	// Paths matches request paths, each exactly or by prefix.
	Paths []HTTPPath `json:"paths,omitempty"`
}

// HTTPPath matches a request path exactly or by prefix (one of the two).
// +kubebuilder:validation:XValidation:rule="has(self.exact) != has(self.prefix)",message="exactly one of exact and prefix"
type HTTPPath struct {
	// Exact matches this path only.
	Exact string `json:"exact,omitempty"`
	// Prefix matches paths that start with it.
	Prefix string `json:"prefix,omitempty"`
}

// RuleMetadata carries user annotations of a rule.
type RuleMetadata struct {
	// Annotations are free-form key/value pairs.
	Annotations map[string]string `json:"annotations,omitempty"`
}
