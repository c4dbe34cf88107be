package kube

import (
	"fmt"
	"net/netip"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/trellisnet/trellis/internal/model"
	"github.com/trellisnet/trellis/internal/store"
)

// podEndpoints is the WorkloadEndpoint view of Pods (see the package doc).
type podEndpoints struct{}

func (podEndpoints) base() *model.Kind { return model.KindPod }

// baseName is the pod of an endpoint name node-k8s-pod-iface.
func (podEndpoints) baseName(name string) (string, bool) {
	_, orch, pod, _, ok := model.ParseEndpointName(name)
	return pod, ok && orch == model.OrchestratorK8s
}

func (podEndpoints) createErr(key model.Key, pod string) error {
	return fmt.Errorf("create %s: pod %s/%s does not exist (the kubernetes datastore keeps a pod's endpoint on the Pod): %w",
		key, key.Namespace, pod, store.ErrNotFound)
}

func (podEndpoints) derive(u *unstructured.Unstructured) (model.Object, bool, error) {
	obj, err := decode("derive endpoint of", model.Key{Kind: model.KindPod, Namespace: u.GetNamespace(), Name: u.GetName()}, u)
	if err != nil {
		return nil, false, err
	}
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return nil, false, fmt.Errorf("derive endpoint of pod %s/%s: decoded %T", u.GetNamespace(), u.GetName(), obj)
	}
	wep, shown := PodEndpoint(pod)
	if !shown {
		return nil, false, nil
	}
	return wep, true, nil
}

// PodEndpoint is the WorkloadEndpoint a Pod shows, false when it shows none: when it is not
// bound to a node, uses the host's network, has finished (phase Succeeded or Failed: its
// addresses may already belong to another pod, as Calico drops finished pods) or lacks
// the CNI's containerID and podIPs (or podIP) annotations. A pod being deleted
// (deletionTimestamp) still shows its endpoint: its containers run, and are policed, until
// the kubelet has stopped them.
func PodEndpoint(pod *corev1.Pod) (*model.WorkloadEndpoint, bool) {
	ann := pod.Annotations
	cid := ann[model.AnnotationContainerID]
	nets := splitNets(ann[model.AnnotationPodIPs])
	if len(nets) == 0 {
		nets = splitNets(ann[model.AnnotationPodIP])
	}
	switch {
	case pod.Spec.NodeName == "", pod.Spec.HostNetwork, cid == "", len(nets) == 0,
		pod.Status.Phase == corev1.PodSucceeded, pod.Status.Phase == corev1.PodFailed:
		return nil, false
	}
	iface := ann[model.AnnotationInterfaceName]
	if iface == "" {
		iface = model.DefaultEndpointInterface
	}
	sa := pod.Spec.ServiceAccountName
	if sa == "" {
		sa = "default"
	}
	ports := make([][]corev1.ContainerPort, 0, len(pod.Spec.Containers))
	for _, c := range pod.Spec.Containers {
		ports = append(ports, c.Ports)
	}
	node := pod.Spec.NodeName
	return &model.WorkloadEndpoint{
		TypeMeta: metav1.TypeMeta{APIVersion: model.APIVersionCalico, Kind: "WorkloadEndpoint"},
		ObjectMeta: metav1.ObjectMeta{
			Name: model.EndpointName(node, pod.Name, cid, iface), Namespace: pod.Namespace,
			UID: pod.UID, ResourceVersion: pod.ResourceVersion, CreationTimestamp: pod.CreationTimestamp,
			Labels: model.EndpointLabels(pod.Namespace, sa, pod.Labels, nil, nil),
		},
		Spec: model.WorkloadEndpointSpec{
			Orchestrator: model.OrchestratorK8s, Workload: pod.Name, Node: node, ContainerID: cid,
			Pod: pod.Name, Endpoint: iface, ServiceAccountName: sa, IPNetworks: nets,
			Profiles: []string{model.PrefixProfileNamespace + pod.Namespace,
				model.PrefixProfileServiceAccount + pod.Namespace + "." + sa},
			InterfaceName: model.HostVethName(pod.Namespace, pod.Name, cid),
			Ports:         model.NamedPorts(ports),
		},
	}, true
}

// splitNets splits a comma-separated list of CIDRs (or addresses, made /32 or /128),
// leaving out what does not parse.
func splitNets(s string) []string {
	var out []string
	for f := range strings.SplitSeq(s, ",") {
		f = strings.TrimSpace(f)
		if p, err := netip.ParsePrefix(f); err == nil {
			out = append(out, p.String())
		} else if a, err := netip.ParseAddr(f); err == nil {
			out = append(out, netip.PrefixFrom(a, a.BitLen()).String())
		}
	}
	return out
}

// annotations are the pod annotations holding wep (nil wep: removing them). The pod must
// be bound to the endpoint's node and the name must be the one the pod would show; what
// the annotations cannot hold (MAC, NATs, gateways, ports, labels, profiles) is not
// written: those are the pod's own or derived from it.
func (podEndpoints) annotations(op string, obj model.Object, pod *unstructured.Unstructured) (map[string]any, error) {
	out := map[string]any{model.AnnotationPodIP: nil, model.AnnotationPodIPs: nil,
		model.AnnotationContainerID: nil, model.AnnotationInterfaceName: nil}
	if obj == nil {
		return out, nil
	}
	wep, ok := obj.(*model.WorkloadEndpoint)
	if !ok {
		return nil, fmt.Errorf("%s: not a WorkloadEndpoint: %T", op, obj)
	}
	node, _, _ := unstructured.NestedString(pod.Object, "spec", "nodeName")
	iface := wep.Spec.Endpoint
	if iface == "" {
		iface = model.DefaultEndpointInterface
	}
	switch {
	case wep.Spec.Orchestrator != "" && wep.Spec.Orchestrator != model.OrchestratorK8s:
		return nil, fmt.Errorf("spec.orchestrator: %q: the kubernetes datastore keeps only pods' (k8s) endpoints", wep.Spec.Orchestrator)
	case node == "":
		return nil, fmt.Errorf("pod %s/%s is not bound to a node yet", pod.GetNamespace(), pod.GetName())
	case wep.Spec.Node != "" && wep.Spec.Node != node:
		return nil, fmt.Errorf("spec.node: %q: pod %s/%s is bound to node %s", wep.Spec.Node, pod.GetNamespace(), pod.GetName(), node)
	case wep.Spec.ContainerID == "":
		return nil, fmt.Errorf("spec.containerID: required")
	case len(wep.Spec.IPNetworks) == 0:
		return nil, fmt.Errorf("spec.ipNetworks: at least one address is required")
	case wep.Name != model.EndpointName(node, pod.GetName(), wep.Spec.ContainerID, iface):
		return nil, fmt.Errorf("metadata.name: %q: pod %s/%s shows its endpoint as %s", wep.Name, pod.GetNamespace(), pod.GetName(),
			model.EndpointName(node, pod.GetName(), wep.Spec.ContainerID, iface))
	}
	nets := splitNets(strings.Join(wep.Spec.IPNetworks, ","))
	if len(nets) != len(wep.Spec.IPNetworks) {
		return nil, fmt.Errorf("spec.ipNetworks: %v: not all are addresses or CIDRs", wep.Spec.IPNetworks)
	}
	out[model.AnnotationPodIP] = nets[0]
	out[model.AnnotationPodIPs] = strings.Join(nets, ",")
	out[model.AnnotationContainerID] = wep.Spec.ContainerID
	if iface != model.DefaultEndpointInterface {
		out[model.AnnotationInterfaceName] = iface
	}
	return out, nil
}
