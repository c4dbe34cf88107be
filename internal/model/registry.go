package model

import (
	"slices"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// API groups.
const (
	GroupCalico      = "projectcalico.org"
	VersionCalico    = "v3"
	APIVersionCalico = GroupCalico + "/" + VersionCalico
)

func typeMeta(apiVersion, kind string) metav1.TypeMeta {
	return metav1.TypeMeta{APIVersion: apiVersion, Kind: kind}
}

// kubernetesKinds are the Kubernetes kinds Trellis consumes, with their k8s.io/api types.
func kubernetesKinds() []*Kind {
	return []*Kind{
		{Version: "v1", Kind: "Namespace", Plural: "namespaces", Short: []string{"ns"},
			New: func() Object { return &corev1.Namespace{TypeMeta: typeMeta("v1", "Namespace")} }},
		{Version: "v1", Kind: "Pod", Plural: "pods", Short: []string{"po"}, Namespaced: true,
			New: func() Object { return &corev1.Pod{TypeMeta: typeMeta("v1", "Pod")} }},
		{Version: "v1", Kind: "ServiceAccount", Plural: "serviceaccounts", Short: []string{"sa"}, Namespaced: true,
			New: func() Object { return &corev1.ServiceAccount{TypeMeta: typeMeta("v1", "ServiceAccount")} }},
		{Version: "v1", Kind: "Service", Plural: "services", Short: []string{"svc"}, Namespaced: true,
			New: func() Object { return &corev1.Service{TypeMeta: typeMeta("v1", "Service")} }},
		{Version: "v1", Kind: "Node", Plural: "nodes", Short: []string{"no", "k8snode", "k8snodes", "kubernetesnode"},
			New: func() Object { return &corev1.Node{TypeMeta: typeMeta("v1", "Node")} }},
		{Group: "discovery.k8s.io", Version: "v1", Kind: "EndpointSlice", Plural: "endpointslices", Namespaced: true,
			New: func() Object {
				return &discoveryv1.EndpointSlice{TypeMeta: typeMeta("discovery.k8s.io/v1", "EndpointSlice")}
			}},
		{Group: "networking.k8s.io", Version: "v1", Kind: "NetworkPolicy", Plural: "networkpolicies",
			Short: []string{"knp", "k8snetworkpolicy", "kubernetesnetworkpolicy"}, Namespaced: true,
			New: func() Object {
				return &networkingv1.NetworkPolicy{TypeMeta: typeMeta("networking.k8s.io/v1", "NetworkPolicy")}
			}},
	}
}

// Default is the registry of every kind Trellis knows.
var Default = NewRegistry(slices.Concat(calicoKinds(), kubernetesKinds(), policyAPIKinds(), internalKinds())...)

// Lookup finds a kind in Default by manifest apiVersion and kind.
func Lookup(apiVersion, kind string) (*Kind, bool) { return Default.Lookup(apiVersion, kind) }

// Resolve finds a kind in Default by a command-line name.
func Resolve(name string) (*Kind, error) { return Default.Resolve(name) }
