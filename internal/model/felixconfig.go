package model

import (
	"encoding/json"
	"reflect"
	"sort"
	"strings"
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// FelixConfiguration holds node-agent settings: "default" for the cluster, "node.NAME" for one
// node. Trellis declares the fields it honours; any other Calico field is kept verbatim (so it
// round-trips) and reported by Ignored.
// +kubebuilder:resource:scope=Cluster,shortName={felixconfig},categories={calico}
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type FelixConfiguration struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              FelixConfigurationSpec `json:"spec,omitempty"`
}

// ProtoPort is a failsafe port: protocol (tcp/udp), port and an optional CIDR.
type ProtoPort struct {
	// Protocol: tcp, udp or sctp.
	Protocol string `json:"protocol"`
	// Port number.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=65535
	Port uint16 `json:"port"`
	// Net restricts the port to peers in this CIDR.
	Net string `json:"net,omitempty"`
}

// FelixConfigurationSpec is the spec of a FelixConfiguration. Extra holds the spec fields
// Trellis does not honour, by JSON name, exactly as given.
// +kubebuilder:pruning:PreserveUnknownFields
type FelixConfigurationSpec struct {
	// FailsafeInboundHostPorts are host ports always open for inbound traffic, whatever the policy.
	FailsafeInboundHostPorts *[]ProtoPort `json:"failsafeInboundHostPorts,omitempty"`
	// FailsafeOutboundHostPorts are host ports always open for outbound traffic.
	FailsafeOutboundHostPorts *[]ProtoPort `json:"failsafeOutboundHostPorts,omitempty"`
	// DefaultEndpointToHostAction is what happens to traffic from workloads to the host
	// after policy: Drop, Accept or Return.
	DefaultEndpointToHostAction string `json:"defaultEndpointToHostAction,omitempty"`
	// LogPrefix prefixes the log lines of rules with action Log.
	LogPrefix string `json:"logPrefix,omitempty"`
	// LogSeverityScreen is the node agent's log level.
	LogSeverityScreen string `json:"logSeverityScreen,omitempty"`
	// IptablesRefreshInterval is accepted for compatibility (a duration).
	IptablesRefreshInterval *metav1.Duration `json:"iptablesRefreshInterval,omitempty"`
	// IpsetsRefreshInterval is accepted for compatibility (a duration).
	IpsetsRefreshInterval *metav1.Duration `json:"ipsetsRefreshInterval,omitempty"`
	// RouteRefreshInterval is how often routes are resynchronised (a duration).
	RouteRefreshInterval *metav1.Duration `json:"routeRefreshInterval,omitempty"`
	// NftablesRefreshInterval is how often the nftables table is fully resynchronised (a
	// duration).
	NftablesRefreshInterval *metav1.Duration `json:"nftablesRefreshInterval,omitempty"`
	// NFTablesMode is accepted for compatibility (Trellis always uses nftables).
	NFTablesMode *string `json:"nftablesMode,omitempty"`
	// InterfacePrefix is the name prefix of workload interfaces on the host.
	InterfacePrefix string `json:"interfacePrefix,omitempty"`
	// IPv6Support enables IPv6 policy and routing.
	IPv6Support *bool `json:"ipv6Support,omitempty"`
	// VXLANEnabled creates the VXLAN device (automatic when a pool uses VXLAN).
	VXLANEnabled *bool `json:"vxlanEnabled,omitempty"`
	// VXLANPort is the VXLAN UDP port (4789).
	VXLANPort *int `json:"vxlanPort,omitempty"`
	// VXLANVNI is the VXLAN network identifier (4096).
	VXLANVNI *int `json:"vxlanVNI,omitempty"`
	// VXLANMTU is the MTU of the IPv4 VXLAN device.
	VXLANMTU *int `json:"vxlanMTU,omitempty"`
	// VXLANMTUV6 is the MTU of the IPv6 VXLAN device.
	VXLANMTUV6 *int `json:"vxlanMTUV6,omitempty"`
	// HealthEnabled serves the health endpoints.
	HealthEnabled *bool `json:"healthEnabled,omitempty"`
	// HealthHost is the address of the health endpoints.
	HealthHost *string `json:"healthHost,omitempty"`
	// HealthPort is the port of the health endpoints (9099).
	HealthPort *int `json:"healthPort,omitempty"`
	// PrometheusMetricsEnabled serves Prometheus metrics.
	PrometheusMetricsEnabled *bool `json:"prometheusMetricsEnabled,omitempty"`
	// PrometheusMetricsPort is the port of the metrics endpoint.
	PrometheusMetricsPort *int `json:"prometheusMetricsPort,omitempty"`

	Extra map[string]json.RawMessage `json:"-"`
}

// felixSpecFields is the FelixConfigurationSpec without its JSON methods.
type felixSpecFields FelixConfigurationSpec

var (
	felixKnownOnce sync.Once
	felixKnown     map[string]bool
)

// felixKnownFields are the JSON names of the declared FelixConfigurationSpec fields.
func felixKnownFields() map[string]bool {
	felixKnownOnce.Do(func() {
		felixKnown = map[string]bool{}
		t := reflect.TypeFor[felixSpecFields]()
		for i := range t.NumField() {
			name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
			if name != "" && name != "-" {
				felixKnown[name] = true
			}
		}
	})
	return felixKnown
}

// UnmarshalJSON decodes the declared fields and keeps every other field in Extra.
func (s *FelixConfigurationSpec) UnmarshalJSON(b []byte) error {
	var known felixSpecFields
	if err := json.Unmarshal(b, &known); err != nil {
		return err
	}
	var all map[string]json.RawMessage
	if err := json.Unmarshal(b, &all); err != nil {
		return err
	}
	*s = FelixConfigurationSpec(known)
	s.Extra = nil
	kf := felixKnownFields()
	for k, v := range all {
		if !kf[k] {
			if s.Extra == nil {
				s.Extra = map[string]json.RawMessage{}
			}
			s.Extra[k] = v
		}
	}
	return nil
}

// MarshalJSON writes the declared fields and the kept Extra fields, keys sorted.
func (s FelixConfigurationSpec) MarshalJSON() ([]byte, error) {
	b, err := json.Marshal(felixSpecFields(s))
	if err != nil || len(s.Extra) == 0 {
		return b, err
	}
	all := map[string]json.RawMessage{}
	if err := json.Unmarshal(b, &all); err != nil {
		return nil, err
	}
	for k, v := range s.Extra {
		if _, ok := all[k]; !ok && !felixKnownFields()[k] {
			all[k] = v
		}
	}
	return json.Marshal(all)
}

// Ignored lists the spec fields Trellis does not honour, as field paths ("spec.bpfEnabled"),
// sorted.
func (f *FelixConfiguration) Ignored() []string {
	var out []string
	for k := range f.Spec.Extra {
		out = append(out, "spec."+k)
	}
	sort.Strings(out)
	return out
}
