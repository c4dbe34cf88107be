package model

import "maps"

// The identity labels Calico gives every workload endpoint, the prefixes under which an
// endpoint carries its namespace's and service account's labels, and the profile names
// derived from them. The CNI plugin writes them, the cluster controller keeps them in step,
// the policy calculation matches on them, and validation keeps users from setting
// LabelNamespace themselves.
const (
	LabelNamespace      = "projectcalico.org/namespace"
	LabelOrchestrator   = "projectcalico.org/orchestrator"
	LabelServiceAccount = "projectcalico.org/serviceaccount"
	// LabelName is a namespace's or service account's own name among its prefixed labels
	// (pcns.projectcalico.org/name).
	LabelName = "projectcalico.org/name"

	// Namespace and service-account labels are copied onto the endpoint with these
	// prefixes (Calico's profile label prefixes).
	PrefixNamespaceLabel      = "pcns."
	PrefixServiceAccountLabel = "pcsa."

	// Profiles of a Kubernetes endpoint: kns.<namespace> and ksa.<namespace>.<account>.
	PrefixProfileNamespace      = "kns."
	PrefixProfileServiceAccount = "ksa."

	// LabelKubernetesNode carries a Kubernetes Node's name on the selectable member the
	// policy calculation makes of the node's addresses (a ClusterNetworkPolicy's egress
	// nodes peer). Only selectors that name it see such members; users may not set it.
	LabelKubernetesNode = "trellis.dev/kubernetes-node"

	// Values of LabelOrchestrator (and WorkloadEndpoint spec.orchestrator).
	OrchestratorK8s = "k8s"
	OrchestratorCNI = "cni"
)

// EndpointLabels are the labels of a Kubernetes pod's WorkloadEndpoint, as Calico gives
// them: the pod's own, its namespace's prefixed "pcns.", its service account's prefixed
// "pcsa.", and the namespace, orchestrator and service-account labels, which win over any
// of the others. The CNI plugin writes them on ADD; the cluster controller keeps them in
// step when labels change.
func EndpointLabels(namespace, serviceAccount string, pod, ns, sa map[string]string) map[string]string {
	out := make(map[string]string, len(pod)+len(ns)+len(sa)+3)
	maps.Copy(out, pod)
	for k, v := range ns {
		out[PrefixNamespaceLabel+k] = v
	}
	for k, v := range sa {
		out[PrefixServiceAccountLabel+k] = v
	}
	out[LabelNamespace] = namespace
	out[LabelOrchestrator] = OrchestratorK8s
	out[LabelServiceAccount] = serviceAccount
	return out
}
