package model

// The registered kinds, one variable each, so that code names a kind with a compiler-checked
// identifier instead of looking it up by apiVersion and kind strings. Each is taken from the
// registry (Default), which stays the one source of truth; a kind missing from it panics at
// package initialisation, and TestKindVariables keeps this list and the registry equal.
//
// Naming: Kind + the kind's name; the two Kubernetes kinds whose names Calico also uses get
// K8s in front (KindK8sNode, KindK8sNetworkPolicy), as in their CLI names k8snode and
// k8snetworkpolicy.
var (
	// projectcalico.org/v3
	KindNetworkPolicy                 = mustKind(APIVersionCalico, "NetworkPolicy")
	KindGlobalNetworkPolicy           = mustKind(APIVersionCalico, "GlobalNetworkPolicy")
	KindStagedNetworkPolicy           = mustKind(APIVersionCalico, "StagedNetworkPolicy")
	KindStagedGlobalNetworkPolicy     = mustKind(APIVersionCalico, "StagedGlobalNetworkPolicy")
	KindTier                          = mustKind(APIVersionCalico, "Tier")
	KindNetworkSet                    = mustKind(APIVersionCalico, "NetworkSet")
	KindGlobalNetworkSet              = mustKind(APIVersionCalico, "GlobalNetworkSet")
	KindHostEndpoint                  = mustKind(APIVersionCalico, "HostEndpoint")
	KindWorkloadEndpoint              = mustKind(APIVersionCalico, "WorkloadEndpoint")
	KindProfile                       = mustKind(APIVersionCalico, "Profile")
	KindIPPool                        = mustKind(APIVersionCalico, "IPPool")
	KindIPReservation                 = mustKind(APIVersionCalico, "IPReservation")
	KindIPAMConfiguration             = mustKind(APIVersionCalico, "IPAMConfiguration")
	KindBGPConfiguration              = mustKind(APIVersionCalico, "BGPConfiguration")
	KindBGPPeer                       = mustKind(APIVersionCalico, "BGPPeer")
	KindBGPFilter                     = mustKind(APIVersionCalico, "BGPFilter")
	KindNode                          = mustKind(APIVersionCalico, "Node")
	KindFelixConfiguration            = mustKind(APIVersionCalico, "FelixConfiguration")
	KindStagedKubernetesNetworkPolicy = mustKind(APIVersionCalico, "StagedKubernetesNetworkPolicy")
	KindKubeControllersConfiguration  = mustKind(APIVersionCalico, "KubeControllersConfiguration")
	KindClusterInformation            = mustKind(APIVersionCalico, "ClusterInformation")

	// Kubernetes
	KindNamespace        = mustKind("v1", "Namespace")
	KindPod              = mustKind("v1", "Pod")
	KindServiceAccount   = mustKind("v1", "ServiceAccount")
	KindService          = mustKind("v1", "Service")
	KindK8sNode          = mustKind("v1", "Node")
	KindEndpointSlice    = mustKind("discovery.k8s.io/v1", "EndpointSlice")
	KindK8sNetworkPolicy = mustKind("networking.k8s.io/v1", "NetworkPolicy")

	// Kubernetes network policy API (sigs.k8s.io/network-policy-api)
	KindClusterNetworkPolicy = mustKind(APIVersionPolicyAPI, ClusterNetworkPolicyKind)

	// Trellis's internal kinds
	KindIPAMBlock      = mustKind(APIVersionIPAM, "IPAMBlock")
	KindBlockAffinity  = mustKind(APIVersionIPAM, "BlockAffinity")
	KindIPAMHandle     = mustKind(APIVersionIPAM, "IPAMHandle")
	KindEndpointStatus = mustKind(GroupTrellis+"/"+VersionIPAM, "EndpointStatus")
)

// mustKind is the registered kind of apiVersion and kind; it panics when there is none,
// which is a programming error in the kind table.
func mustKind(apiVersion, kind string) *Kind {
	k, ok := Default.Lookup(apiVersion, kind)
	if !ok {
		panic("model: kind " + kind + " of " + apiVersion + " is not registered")
	}
	return k
}
