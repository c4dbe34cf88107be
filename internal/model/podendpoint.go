package model

import (
	"crypto/sha1"
	"encoding/hex"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// Pod annotations of the Kubernetes datastore: a pod's endpoint is these annotations on
// the Pod itself (Calico's names, written by the CNI plugin through store/kube), plus the
// interface name, which Calico's data model has no annotation for.
const (
	// AnnotationPodIP is the pod's first address as a CIDR (10.244.1.5/32).
	AnnotationPodIP = "cni.projectcalico.org/podIP"
	// AnnotationPodIPs are all the pod's addresses, comma-separated CIDRs.
	AnnotationPodIPs = "cni.projectcalico.org/podIPs"
	// AnnotationContainerID is the sandbox container the addresses belong to.
	AnnotationContainerID = "cni.projectcalico.org/containerID"
	// AnnotationInterfaceName is the interface inside the pod when it is not eth0
	// (Trellis's own: Calico's Kubernetes datastore assumes eth0).
	AnnotationInterfaceName = "trellis.dev/interfaceName"
)

// DefaultEndpointInterface is the interface of a pod's endpoint (CNI_IFNAME) unless
// AnnotationInterfaceName says otherwise.
const DefaultEndpointInterface = "eth0"

// escapeNamePart doubles '-' so that '-' can join name parts unambiguously (Calico's scheme).
func escapeNamePart(s string) string { return strings.ReplaceAll(s, "-", "--") }

// EndpointName is the WorkloadEndpoint name of an attachment: node-k8s-pod-ifname, or
// node-cni-containerID-ifname for a workload without a pod, each part with '-' doubled.
func EndpointName(node, pod, containerID, ifName string) string {
	if pod == "" {
		return escapeNamePart(node) + "-cni-" + escapeNamePart(containerID) + "-" + escapeNamePart(ifName)
	}
	return escapeNamePart(node) + "-k8s-" + escapeNamePart(pod) + "-" + escapeNamePart(ifName)
}

// ParseEndpointName splits a name EndpointName made into its node, orchestrator (k8s or
// cni), workload (pod or container ID) and interface; ok is false for any other name.
func ParseEndpointName(name string) (node, orchestrator, workload, ifName string, ok bool) {
	var parts []string
	var cur strings.Builder
	for i := 0; i < len(name); i++ {
		switch {
		case name[i] != '-':
			cur.WriteByte(name[i])
		case i+1 < len(name) && name[i+1] == '-':
			cur.WriteByte('-')
			i++
		default:
			parts = append(parts, cur.String())
			cur.Reset()
		}
	}
	parts = append(parts, cur.String())
	if len(parts) != 4 || (parts[1] != "k8s" && parts[1] != "cni") {
		return "", "", "", "", false
	}
	for _, p := range parts {
		if p == "" {
			return "", "", "", "", false
		}
	}
	return parts[0], parts[1], parts[2], parts[3], true
}

// HostVethName is the host-side interface name of a workload: "trl" + the first 11 hex
// characters of SHA-1("namespace.pod"), or of SHA-1(containerID) without a pod name.
func HostVethName(namespace, pod, containerID string) string {
	key := namespace + "." + pod
	if pod == "" {
		key = containerID
	}
	sum := sha1.Sum([]byte(key))
	return "trl" + hex.EncodeToString(sum[:])[:11]
}

// NamedPorts are the named ports of a pod's containers as endpoint ports, sorted by name
// (unnamed ports are left out; no protocol means TCP).
func NamedPorts(containers [][]corev1.ContainerPort) []WorkloadEndpointPort {
	var out []WorkloadEndpointPort
	for _, ports := range containers {
		for _, p := range ports {
			if p.Name == "" {
				continue
			}
			proto := string(p.Protocol)
			if proto == "" {
				proto = "TCP"
			}
			out = append(out, WorkloadEndpointPort{Name: p.Name, Protocol: ProtocolFromString(proto),
				Port: uint16(p.ContainerPort), HostPort: uint16(p.HostPort), HostIP: p.HostIP})
		}
	}
	slices.SortFunc(out, func(a, b WorkloadEndpointPort) int { return strings.Compare(a.Name, b.Name) })
	return out
}
