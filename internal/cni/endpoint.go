package cni

import (
	"net/netip"

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

// HostVethName is the host-side interface name of a workload (model.HostVethName).
func HostVethName(namespace, pod, containerID string) string {
	return model.HostVethName(namespace, pod, containerID)
}

// EndpointName is the WorkloadEndpoint name of the attachment (model.EndpointName).
func EndpointName(node string, w workload) string {
	return model.EndpointName(node, w.Pod, w.ContainerID, w.IfName)
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
		var ports [][]corev1.ContainerPort
		for _, c := range info.Pod.Spec.Containers {
			ports = append(ports, c.Ports)
		}
		wep.Spec.Ports = model.NamedPorts(ports)
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
	return wep
}
