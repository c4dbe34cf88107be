package model

import (
	"encoding/json"
	"maps"
	"slices"
	"sort"
)

// UnusedField is a field of a manifest that Trellis accepts and stores (so it round-trips
// and a calicoctl backup applies) but does not act on.
type UnusedField struct {
	Path   string // field path, "spec.ipipMode"
	Reason string // why, or what to use instead; may be empty
}

// Message is the warning text, the one FelixConfiguration fields Trellis ignores get:
// "spec.ipipMode: ignored: Trellis does not use this field (kept as given): REASON".
func (u UnusedField) Message() string {
	msg := u.Path + ": " + ignoredText
	if u.Reason != "" {
		msg += ": " + u.Reason
	}
	return msg
}

// ignoredText is the warning of every field Trellis keeps without using it.
const ignoredText = "ignored: Trellis does not use this field (kept as given)"

// Reasons of whole kinds that are stored but not used.
const (
	reasonKubeControllers = "KubeControllersConfiguration is accepted and stored but not used by Trellis"
	reasonClusterInfo     = "ClusterInformation is accepted and stored but not used by Trellis"
)

// UnusedFields lists the fields set in obj, as given (before SetDefaults), that Trellis does
// not implement, sorted by path. The FelixConfiguration fields Trellis does not declare are
// reported by the decoder instead (FelixConfiguration.Ignored); a value that is the
// behaviour Trellis has anyway (ipipMode Never, sourceAddress UseNodeIP) is not reported.
func UnusedFields(obj Object) []UnusedField {
	var out []UnusedField
	add := func(set bool, path, reason string) {
		if set {
			out = append(out, UnusedField{Path: path, Reason: reason})
		}
	}
	switch o := obj.(type) {
	case *IPPool:
		s := &o.Spec
		add(s.IPIPMode != "" && s.IPIPMode != EncapNever, "spec.ipipMode", "Trellis has no IPIP dataplane; use vxlanMode or no encapsulation")
	case *BGPConfiguration:
		s := &o.Spec
		add(len(s.Communities) > 0, "spec.communities", "Trellis's BGP speaker attaches no communities")
		add(len(s.PrefixAdvertisements) > 0, "spec.prefixAdvertisements", "Trellis's BGP speaker attaches no communities")
		add(s.BindMode != nil, "spec.bindMode", "")
		add(s.NodeMeshPassword != nil, "spec.nodeMeshPassword", "Trellis's BGP sessions use no password")
		add(len(s.IgnoredInterfaces) > 0, "spec.ignoredInterfaces", "")
		add(s.LocalWorkloadPeeringIPV4 != "", "spec.localWorkloadPeeringIPV4", "")
		add(s.LocalWorkloadPeeringIPV6 != "", "spec.localWorkloadPeeringIPV6", "")
		add(s.LogSeverityScreen != "", "spec.logSeverityScreen", "the node agent's --log-level applies")
	case *BGPPeer:
		s := &o.Spec
		add(s.Password != nil, "spec.password", "Trellis's BGP sessions use no password")
		add(s.TTLSecurity != nil, "spec.ttlSecurity", "")
		add(s.ReachableBy != "", "spec.reachableBy", "")
		add(s.LocalWorkloadSelector != "", "spec.localWorkloadSelector", "")
		add(s.NumAllowedLocalASNumbers != nil, "spec.numAllowedLocalASNumbers", "")
		add(s.SourceAddress != "" && s.SourceAddress != SourceAddressUseNodeIP, "spec.sourceAddress", "")
	case *Node:
		add(o.Spec.Wireguard != nil, "spec.wireguard", "Trellis has no WireGuard dataplane")
		add(o.Spec.BGP != nil && o.Spec.BGP.IPv4IPIPTunnelAddr != "", "spec.bgp.ipv4IPIPTunnelAddr", "Trellis has no IPIP dataplane")
	case *KubeControllersConfiguration:
		out = wholeSpec(o.Spec, reasonKubeControllers)
	case *ClusterInformation:
		out = wholeSpec(o.Spec, reasonClusterInfo)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}

// wholeSpec reports each field set in the spec of a kind Trellis stores without using, or
// the spec itself when none is set.
func wholeSpec(spec any, reason string) []UnusedField {
	var fields map[string]json.RawMessage
	if b, err := json.Marshal(spec); err == nil {
		_ = json.Unmarshal(b, &fields)
	}
	var out []UnusedField
	for _, k := range slices.Sorted(maps.Keys(fields)) {
		if v := string(fields[k]); v == "{}" || v == "null" || v == `""` || v == "[]" {
			continue
		}
		out = append(out, UnusedField{Path: "spec." + k, Reason: reason})
	}
	if len(out) == 0 {
		out = append(out, UnusedField{Path: "spec", Reason: reason})
	}
	return out
}
