package cni

import (
	"crypto/sha1"
	"encoding/hex"
	"net/netip"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/trellisnet/trellis/internal/model"
)

// Pod annotations (also read on the namespace for the pool ones).
const (
	AnnotationIPv4Pools = "cni.projectcalico.org/ipv4pools"
	AnnotationIPv6Pools = "cni.projectcalico.org/ipv6pools"
	AnnotationIPAddrs   = "cni.projectcalico.org/ipAddrs"
)

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

// escapeName doubles '-' so that '-' can join name parts unambiguously (Calico's scheme).
func escapeName(s string) string { return strings.ReplaceAll(s, "-", "--") }

// EndpointName is the WorkloadEndpoint name: node-k8s-pod-ifname (cni-containerID for a
// workload without a pod), each part with '-' doubled.
func EndpointName(node string, w workload) string {
	if w.Pod == "" {
		return escapeName(node) + "-cni-" + escapeName(w.ContainerID) + "-" + escapeName(w.IfName)
	}
	return escapeName(node) + "-k8s-" + escapeName(w.Pod) + "-" + escapeName(w.IfName)
}

// podInfo is what the store says about the workload's pod, namespace and service account.
type podInfo struct {
	Pod       *podView
	Namespace *corev1.Namespace
	SA        *corev1.ServiceAccount
}

// buildEndpoint assembles the WorkloadEndpoint of an attachment.
func buildEndpoint(node string, w workload, info podInfo, hostIf, mac string, addrs []netip.Prefix) *model.WorkloadEndpoint {
	wep := &model.WorkloadEndpoint{
		TypeMeta:   metav1.TypeMeta{APIVersion: model.APIVersionCalico, Kind: "WorkloadEndpoint"},
		ObjectMeta: metav1.ObjectMeta{Name: EndpointName(node, w), Namespace: w.Namespace, Labels: map[string]string{}},
		Spec: model.WorkloadEndpointSpec{
			Node: node, ContainerID: w.ContainerID, Endpoint: w.IfName,
			InterfaceName: hostIf, MAC: mac,
		},
	}
	for _, a := range addrs {
		wep.Spec.IPNetworks = append(wep.Spec.IPNetworks, a.String())
	}
	if w.Pod == "" {
		wep.Spec.Orchestrator = model.OrchestratorCNI
		wep.Spec.Workload = w.ContainerID
		wep.Labels[model.LabelOrchestrator] = model.OrchestratorCNI
		return wep
	}
	wep.Spec.Orchestrator = model.OrchestratorK8s
	wep.Spec.Pod = w.Pod
	wep.Spec.Workload = w.Pod
	sa := "default"
	var podLabels, nsLabels, saLabels map[string]string
	if info.Pod != nil {
		podLabels = info.Pod.Labels
		if info.Pod.Spec.ServiceAccountName != "" {
			sa = info.Pod.Spec.ServiceAccountName
		}
		for _, c := range info.Pod.Spec.Containers {
			for _, p := range c.Ports {
				if p.Name == "" {
					continue
				}
				proto := string(p.Protocol)
				if proto == "" {
					proto = "TCP"
				}
				wep.Spec.Ports = append(wep.Spec.Ports, model.WorkloadEndpointPort{Name: p.Name,
					Protocol: model.ProtocolFromString(proto), Port: uint16(p.ContainerPort), HostPort: uint16(p.HostPort), HostIP: p.HostIP})
			}
		}
	}
	if info.Namespace != nil {
		nsLabels = info.Namespace.Labels
	}
	if info.SA != nil {
		saLabels = info.SA.Labels
	}
	wep.Labels = model.EndpointLabels(w.Namespace, sa, podLabels, nsLabels, saLabels)
	wep.Spec.ServiceAccountName = sa
	wep.Spec.Profiles = []string{model.PrefixProfileNamespace + w.Namespace, model.PrefixProfileServiceAccount + w.Namespace + "." + sa}
	slices.SortFunc(wep.Spec.Ports, func(a, b model.WorkloadEndpointPort) int { return strings.Compare(a.Name, b.Name) })
	return wep
}
