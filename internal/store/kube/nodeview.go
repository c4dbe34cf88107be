package kube

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/trellisnet/trellis/internal/model"
	"github.com/trellisnet/trellis/internal/store"
)

// Kubernetes Node annotations holding the Calico Node (Calico's names).
const (
	AnnotationIPv4Address             = "projectcalico.org/IPv4Address"
	AnnotationIPv6Address             = "projectcalico.org/IPv6Address"
	AnnotationASNumber                = "projectcalico.org/ASNumber"
	AnnotationRouteReflectorClusterID = "projectcalico.org/RouteReflectorClusterID"
	AnnotationIPv4IPIPTunnelAddr      = "projectcalico.org/IPv4IPIPTunnelAddr"
	AnnotationIPv4VXLANTunnelAddr     = "projectcalico.org/IPv4VXLANTunnelAddr"
	AnnotationVXLANTunnelMACAddr      = "projectcalico.org/VXLANTunnelMACAddr"
	AnnotationIPv6VXLANTunnelAddr     = "projectcalico.org/IPv6VXLANTunnelAddr"
	AnnotationVXLANTunnelMACAddrV6    = "projectcalico.org/VXLANTunnelMACAddrV6"
	AnnotationIPv4WireguardAddr       = "projectcalico.org/IPv4WireguardInterfaceAddr"
	AnnotationIPv6WireguardAddr       = "projectcalico.org/IPv6WireguardInterfaceAddr"
	AnnotationWireguardPublicKey      = "projectcalico.org/WireguardPublicKey"
	AnnotationWireguardPublicKeyV6    = "projectcalico.org/WireguardPublicKeyV6"
)

// nodeAnnotations are the fields of a Calico Node the annotations hold, by annotation.
func nodeAnnotations(n *model.Node) map[string]*string {
	if n.Spec.BGP == nil {
		n.Spec.BGP = &model.NodeBGPSpec{}
	}
	if n.Spec.Wireguard == nil {
		n.Spec.Wireguard = &model.NodeWireguardSpec{}
	}
	b, wg := n.Spec.BGP, n.Spec.Wireguard
	return map[string]*string{
		AnnotationIPv4Address: &b.IPv4Address, AnnotationIPv6Address: &b.IPv6Address,
		AnnotationRouteReflectorClusterID: &b.RouteReflectorClusterID, AnnotationIPv4IPIPTunnelAddr: &b.IPv4IPIPTunnelAddr,
		AnnotationIPv4VXLANTunnelAddr: &n.Spec.IPv4VXLANTunnelAddr, AnnotationVXLANTunnelMACAddr: &n.Spec.VXLANTunnelMACAddr,
		AnnotationIPv6VXLANTunnelAddr: &n.Spec.IPv6VXLANTunnelAddr, AnnotationVXLANTunnelMACAddrV6: &n.Spec.VXLANTunnelMACAddrV6,
		AnnotationIPv4WireguardAddr: &wg.InterfaceIPv4Address, AnnotationIPv6WireguardAddr: &wg.InterfaceIPv6Address,
		AnnotationWireguardPublicKey: &n.Status.WireguardPublicKey, AnnotationWireguardPublicKeyV6: &n.Status.WireguardPublicKeyV6,
	}
}

// nodeView is the Calico Node view of Kubernetes Nodes (see the package doc).
type nodeView struct{}

func (nodeView) base() *model.Kind { return model.KindK8sNode }

func (nodeView) baseName(name string) (string, bool) { return name, true }

func (nodeView) createErr(key model.Key, node string) error {
	return fmt.Errorf("create %s: Kubernetes Node %s does not exist (the kubernetes datastore keeps a Calico Node on the Kubernetes Node): %w",
		key, node, store.ErrNotFound)
}

func (nodeView) derive(u *unstructured.Unstructured) (model.Object, bool, error) {
	obj, err := decode("derive Calico Node of", model.Key{Kind: model.KindK8sNode, Name: u.GetName()}, u)
	if err != nil {
		return nil, false, err
	}
	kn, ok := obj.(*corev1.Node)
	if !ok {
		return nil, false, fmt.Errorf("derive Calico Node of node %s: decoded %T", u.GetName(), obj)
	}
	n, err := CalicoNode(kn)
	return n, err == nil, err
}

// CalicoNode is the Calico Node a Kubernetes Node shows (every node shows one): the
// projectcalico.org annotations, the node's labels, orchRefs naming it, addresses
// (CalicoNodeIP for the BGP addresses, then the node's InternalIP and ExternalIP) and
// status.podCIDRs from the node's spec.podCIDRs.
func CalicoNode(kn *corev1.Node) (*model.Node, error) {
	n := &model.Node{
		TypeMeta: metav1.TypeMeta{APIVersion: model.APIVersionCalico, Kind: "Node"},
		ObjectMeta: metav1.ObjectMeta{Name: kn.Name, UID: kn.UID, ResourceVersion: kn.ResourceVersion,
			CreationTimestamp: kn.CreationTimestamp, Labels: kn.Labels},
	}
	for ann, field := range nodeAnnotations(n) {
		*field = kn.Annotations[ann]
	}
	if as := kn.Annotations[AnnotationASNumber]; as != "" {
		v, err := model.ParseASNumber(as)
		if err != nil {
			return nil, fmt.Errorf("node %s: annotation %s: %w", kn.Name, AnnotationASNumber, err)
		}
		n.Spec.BGP.ASNumber = &v
	}
	if *n.Spec.BGP == (model.NodeBGPSpec{}) {
		n.Spec.BGP = nil
	}
	if *n.Spec.Wireguard == (model.NodeWireguardSpec{}) {
		n.Spec.Wireguard = nil
	}
	n.Spec.OrchRefs = []model.OrchRef{{NodeName: kn.Name, Orchestrator: model.OrchestratorK8s}}
	if b := n.Spec.BGP; b != nil {
		for _, a := range []string{b.IPv4Address, b.IPv6Address} {
			if a != "" {
				n.Spec.Addresses = append(n.Spec.Addresses, model.NodeAddress{Address: a, Type: model.NodeAddressCalicoNode})
			}
		}
	}
	for _, a := range kn.Status.Addresses {
		switch a.Type {
		case corev1.NodeInternalIP:
			n.Spec.Addresses = append(n.Spec.Addresses, model.NodeAddress{Address: a.Address, Type: model.NodeAddressInternalIP})
		case corev1.NodeExternalIP:
			n.Spec.Addresses = append(n.Spec.Addresses, model.NodeAddress{Address: a.Address, Type: model.NodeAddressExternalIP})
		}
	}
	n.Status.PodCIDRs = kn.Spec.PodCIDRs
	if len(n.Status.PodCIDRs) == 0 && kn.Spec.PodCIDR != "" {
		n.Status.PodCIDRs = []string{kn.Spec.PodCIDR}
	}
	return n, nil
}

// annotations are the node annotations holding a Calico Node (nil: removing them). Labels,
// addresses, orchRefs and status.podCIDRs are the Kubernetes Node's own and not written.
func (nodeView) annotations(op string, obj model.Object, _ *unstructured.Unstructured) (map[string]any, error) {
	out := map[string]any{AnnotationASNumber: nil}
	if obj == nil {
		for ann := range nodeAnnotations(&model.Node{}) {
			out[ann] = nil
		}
		return out, nil
	}
	n, ok := obj.(*model.Node)
	if !ok {
		return nil, fmt.Errorf("%s: not a Calico Node: %T", op, obj)
	}
	cp := *n
	if n.Spec.BGP != nil {
		b := *n.Spec.BGP
		cp.Spec.BGP = &b
		if b.ASNumber != nil {
			out[AnnotationASNumber] = b.ASNumber.String()
		}
	}
	if n.Spec.Wireguard != nil {
		w := *n.Spec.Wireguard
		cp.Spec.Wireguard = &w
	}
	for ann, field := range nodeAnnotations(&cp) {
		out[ann] = nil
		if *field != "" {
			out[ann] = *field
		}
	}
	return out, nil
}
