package policy

import (
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	npa "sigs.k8s.io/network-policy-api/apis/v1beta1"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"

	"github.com/trellisnet/trellis/internal/model"
)

// Staged policy kinds: kept apart from the enforced kinds so names never collide.
const (
	PolicyStaged           PolicyKind = "StagedNetworkPolicy"
	PolicyStagedGlobal     PolicyKind = "StagedGlobalNetworkPolicy"
	PolicyStagedKubernetes PolicyKind = "StagedKubernetesNetworkPolicy"
)

// FromObject converts one stored or loaded object into calculation inputs. Kinds the policy
// engine does not use give nil. A Pod gives a workload endpoint synthesised from it (use
// FromObject on a WorkloadEndpoint instead when one exists).
func FromObject(obj model.Object) (Resource, error) {
	switch o := obj.(type) {
	case *model.Tier:
		t := &Tier{Name: o.Name, Order: o.Spec.Order}
		t.DefaultPass = o.Spec.DefaultAction != nil && *o.Spec.DefaultAction == model.Pass
		return t, nil
	case *model.NetworkPolicy:
		s := o.Spec
		return &PolicyInput{ID: PolicyID{Kind: PolicyNamespaced, Namespace: o.Namespace, Name: o.Name},
			Tier: s.Tier, Order: s.Order, Selector: s.Selector, ServiceAccountSelector: s.ServiceAccountSelector,
			Types: s.Types, Ingress: s.Ingress, Egress: s.Egress}, nil
	case *model.GlobalNetworkPolicy:
		s := o.Spec
		return &PolicyInput{ID: PolicyID{Kind: PolicyGlobal, Name: o.Name},
			Tier: s.Tier, Order: s.Order, Selector: s.Selector, ServiceAccountSelector: s.ServiceAccountSelector,
			NamespaceSelector: s.NamespaceSelector, Types: s.Types, Ingress: s.Ingress, Egress: s.Egress,
			DoNotTrack: s.DoNotTrack, PreDNAT: s.PreDNAT, ApplyOnForward: s.ApplyOnForward}, nil
	case *model.StagedNetworkPolicy:
		s := o.Spec
		return &PolicyInput{ID: PolicyID{Kind: PolicyStaged, Namespace: o.Namespace, Name: o.Name},
			Tier: s.Tier, Order: s.Order, Selector: s.Selector, Types: s.Types, Ingress: s.Ingress, Egress: s.Egress,
			Staged: true, StagedAction: s.StagedAction}, nil
	case *model.StagedGlobalNetworkPolicy:
		s := o.Spec
		return &PolicyInput{ID: PolicyID{Kind: PolicyStagedGlobal, Name: o.Name},
			Tier: s.Tier, Order: s.Order, Selector: s.Selector, Types: s.Types, Ingress: s.Ingress, Egress: s.Egress,
			Staged: true, StagedAction: s.StagedAction}, nil
	case *networkingv1.NetworkPolicy:
		return nilIfErr(FromKubernetesPolicy(o))
	case *model.StagedKubernetesNetworkPolicy:
		return nilIfErr(FromStagedKubernetesPolicy(o))
	case *model.ClusterNetworkPolicy:
		return nilIfErr(FromClusterNetworkPolicy(o))
	case *corev1.Node:
		return fromK8sNode(o), nil
	case *model.Profile:
		return &ProfileInput{Name: o.Name, LabelsToApply: o.Spec.LabelsToApply, Ingress: o.Spec.Ingress, Egress: o.Spec.Egress}, nil
	case *corev1.Namespace:
		return FromNamespace(o), nil
	case *corev1.ServiceAccount:
		return &ServiceAccount{Namespace: o.Namespace, Name: o.Name, Labels: o.Labels}, nil
	case *model.NetworkSet:
		nets, err := parseNets(o.Spec.Nets)
		if err != nil {
			return nil, fmt.Errorf("convert networkset %s/%s: spec.nets: %w", o.Namespace, o.Name, err)
		}
		return &NetworkSet{Namespace: o.Namespace, Name: o.Name, Labels: o.Labels, Nets: nets}, nil
	case *model.GlobalNetworkSet:
		nets, err := parseNets(o.Spec.Nets)
		if err != nil {
			return nil, fmt.Errorf("convert globalnetworkset %s: spec.nets: %w", o.Name, err)
		}
		return &NetworkSet{Name: o.Name, Labels: o.Labels, Nets: nets}, nil
	case *model.HostEndpoint:
		ep, err := fromHostEndpoint(o)
		if err != nil {
			return nil, err
		}
		return ep, nil
	case *model.WorkloadEndpoint:
		ep, err := fromWorkloadEndpoint(o)
		if err != nil {
			return nil, err
		}
		return ep, nil
	case *corev1.Pod:
		ep, err := FromPod(o)
		if ep == nil {
			return nil, err
		}
		return ep, nil
	case *model.FelixConfiguration:
		if o.Name != "default" {
			return nil, nil
		}
		return fromFelixConfig(o), nil
	case *discoveryv1.EndpointSlice:
		if s := FromEndpointSlice(o); s != nil {
			return s, nil
		}
		return nil, nil
	}
	return nil, nil
}

// nilIfErr gives a nil Resource (not a typed nil pointer) with an error.
func nilIfErr(p *PolicyInput, err error) (Resource, error) {
	if err != nil {
		return nil, err
	}
	return p, nil
}

// fromK8sNode converts a Kubernetes Node into the network set of its addresses
// (status.addresses: InternalIP and ExternalIP), with the node's labels and
// model.LabelKubernetesNode, which a ClusterNetworkPolicy's egress nodes peer selects on.
func fromK8sNode(o *corev1.Node) *NetworkSet {
	labels := make(map[string]string, len(o.Labels)+1)
	for k, v := range o.Labels {
		labels[k] = v
	}
	labels[model.LabelKubernetesNode] = o.Name
	ns := &NetworkSet{Name: NodeSetPrefix + o.Name, Labels: labels, Node: true}
	for _, a := range o.Status.Addresses {
		if a.Type != corev1.NodeInternalIP && a.Type != corev1.NodeExternalIP {
			continue
		}
		if ip, err := netip.ParseAddr(a.Address); err == nil {
			ip = ip.Unmap()
			p := netip.PrefixFrom(ip, ip.BitLen())
			if !slices.Contains(ns.Nets, p) {
				ns.Nets = append(ns.Nets, p)
			}
		}
	}
	slices.SortFunc(ns.Nets, comparePrefix)
	return ns
}

// FromNamespace converts a namespace, adding kubernetes.io/metadata.name as the API server does.
func FromNamespace(o *corev1.Namespace) *Namespace {
	labels := make(map[string]string, len(o.Labels)+1)
	for k, v := range o.Labels {
		labels[k] = v
	}
	labels[corev1.LabelMetadataName] = o.Name
	return &Namespace{Name: o.Name, Labels: labels}
}

func fromFelixConfig(o *model.FelixConfiguration) *Config {
	fs := DefaultFailsafe()
	conv := func(in []model.ProtoPort) []ProtoPort {
		out := []ProtoPort{}
		for _, p := range in {
			out = append(out, ProtoPort{Proto: strings.ToLower(p.Protocol), Port: p.Port, Net: p.Net})
		}
		return out
	}
	if o.Spec.FailsafeInboundHostPorts != nil {
		fs.Inbound = conv(*o.Spec.FailsafeInboundHostPorts)
	}
	if o.Spec.FailsafeOutboundHostPorts != nil {
		fs.Outbound = conv(*o.Spec.FailsafeOutboundHostPorts)
	}
	return &Config{Failsafe: fs}
}

func fromHostEndpoint(o *model.HostEndpoint) (*EndpointInput, error) {
	addrs, err := parseNets(o.Spec.ExpectedIPs)
	if err != nil {
		return nil, fmt.Errorf("convert hostendpoint %s: spec.expectedIPs: %w", o.Name, err)
	}
	ep := &EndpointInput{Kind: KindHost, Name: o.Name, Node: o.Spec.Node, Interface: o.Spec.InterfaceName,
		Labels: o.Labels, Profiles: o.Spec.Profiles, Addrs: addrs}
	for _, p := range o.Spec.Ports {
		ep.Ports = append(ep.Ports, NamedPort{Name: p.Name, Proto: protoName(p.Protocol), Port: p.Port})
	}
	return ep, nil
}

func fromWorkloadEndpoint(o *model.WorkloadEndpoint) (*EndpointInput, error) {
	s := o.Spec
	addrs, err := parseNets(s.IPNetworks)
	if err != nil {
		return nil, fmt.Errorf("convert workloadendpoint %s/%s: spec.ipNetworks: %w", o.Namespace, o.Name, err)
	}
	name := s.Pod
	if name == "" {
		name = o.Name
	}
	ep := &EndpointInput{Kind: KindWorkload, Name: o.Namespace + "/" + name, Namespace: o.Namespace, Node: s.Node,
		Interface: s.InterfaceName, ServiceAccount: s.ServiceAccountName, Orchestrator: s.Orchestrator,
		Profiles: s.Profiles, Addrs: addrs, Labels: withoutBuiltins(o.Labels)}
	if len(ep.Profiles) == 0 {
		ep.Profiles = defaultProfiles(o.Namespace, s.ServiceAccountName)
	}
	for _, p := range s.Ports {
		ep.Ports = append(ep.Ports, NamedPort{Name: p.Name, Proto: protoName(p.Protocol), Port: p.Port})
	}
	return ep, nil
}

func withoutBuiltins(l map[string]string) map[string]string {
	out := make(map[string]string, len(l))
	for k, v := range l {
		if k != model.LabelNamespace && k != model.LabelOrchestrator && k != model.LabelServiceAccount {
			out[k] = v
		}
	}
	return out
}

func defaultProfiles(ns, sa string) []string {
	p := []string{model.PrefixProfileNamespace + ns}
	if sa != "" {
		p = append(p, model.PrefixProfileServiceAccount+ns+"."+sa)
	}
	return p
}

// FromPod synthesises the workload endpoint Calico's CNI plugin would create for a pod: its
// labels, service account (default "default"), status.podIPs, named container ports, node and
// a cali-prefixed interface name. Host-network and finished pods give nil (no endpoint).
func FromPod(o *corev1.Pod) (*EndpointInput, error) {
	if o.Spec.HostNetwork || o.Status.Phase == corev1.PodSucceeded || o.Status.Phase == corev1.PodFailed {
		return nil, nil
	}
	sa := o.Spec.ServiceAccountName
	if sa == "" {
		sa = "default"
	}
	ep := &EndpointInput{Kind: KindWorkload, Name: o.Namespace + "/" + o.Name, Namespace: o.Namespace,
		Node: o.Spec.NodeName, Interface: PodInterface(o.Namespace, o.Name), ServiceAccount: sa,
		Orchestrator: model.OrchestratorK8s, Labels: o.Labels, Profiles: defaultProfiles(o.Namespace, sa)}
	ips := []string{}
	for _, ip := range o.Status.PodIPs {
		ips = append(ips, ip.IP)
	}
	if len(ips) == 0 && o.Status.PodIP != "" {
		ips = append(ips, o.Status.PodIP)
	}
	seen := map[netip.Prefix]bool{}
	for i, ip := range ips {
		a, err := netip.ParseAddr(ip)
		if err != nil {
			return nil, fmt.Errorf("convert pod %s/%s: status.podIPs[%d]: %w", o.Namespace, o.Name, i, err)
		}
		p := netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())
		if !seen[p] {
			seen[p] = true
			ep.Addrs = append(ep.Addrs, p)
		}
	}
	for _, c := range o.Spec.Containers {
		for _, p := range c.Ports {
			if p.Name != "" {
				ep.Ports = append(ep.Ports, NamedPort{Name: p.Name, Proto: protoLower(p.Protocol), Port: uint16(p.ContainerPort)})
			}
		}
	}
	return ep, nil
}

// PodInterface is Calico's host-side interface name for a pod: "cali" and 11 hex digits of
// the SHA-1 of "namespace.pod".
func PodInterface(ns, pod string) string {
	sum := sha1.Sum([]byte(ns + "." + pod))
	return "cali" + hex.EncodeToString(sum[:])[:11]
}

// Reads reports whether the calculation reads objects of kind k (KeyOf and FromObject
// take them): the kinds a component feeding it lists and watches.
func Reads(k *model.Kind) bool {
	obj := k.New()
	obj.SetName("default")
	if k.Namespaced {
		obj.SetNamespace("default")
	}
	// A ClusterNetworkPolicy's key depends on its tier; an empty one has none.
	if c, ok := obj.(*model.ClusterNetworkPolicy); ok {
		c.Spec.Tier = npa.AdminTier
	}
	_, ok := KeyOf(obj)
	return ok
}

// KeyOf gives the input key an object converts to, for Delete. ok is false for kinds the
// policy engine does not use.
func KeyOf(obj model.Object) (Key, bool) {
	ns, name := obj.GetNamespace(), obj.GetName()
	switch o := obj.(type) {
	case *model.Tier:
		return Key{Kind: KeyTier, Name: name}, true
	case *model.NetworkPolicy:
		return Key{Kind: KeyPolicy, Sub: string(PolicyNamespaced), Namespace: ns, Name: name}, true
	case *model.GlobalNetworkPolicy:
		return Key{Kind: KeyPolicy, Sub: string(PolicyGlobal), Name: name}, true
	case *model.StagedNetworkPolicy:
		return Key{Kind: KeyPolicy, Sub: string(PolicyStaged), Namespace: ns, Name: name}, true
	case *model.StagedGlobalNetworkPolicy:
		return Key{Kind: KeyPolicy, Sub: string(PolicyStagedGlobal), Name: name}, true
	case *networkingv1.NetworkPolicy:
		return Key{Kind: KeyPolicy, Sub: string(PolicyKubernetes), Namespace: ns, Name: K8sPolicyPrefix + name}, true
	case *model.StagedKubernetesNetworkPolicy:
		return Key{Kind: KeyPolicy, Sub: string(PolicyStagedKubernetes), Namespace: ns, Name: K8sPolicyPrefix + name}, true
	case *model.ClusterNetworkPolicy:
		// Every ClusterNetworkPolicy is the engine's, whatever its tier: callers probe
		// with an empty object to learn which kinds to watch. One whose tier is unknown
		// converts to nothing; its key only has to be stable.
		_, pname, err := cnpTier(o)
		if err != nil {
			pname = "kcnp." + name
		}
		return Key{Kind: KeyPolicy, Sub: string(PolicyCluster), Name: pname}, true
	case *corev1.Node:
		return Key{Kind: KeyNetworkSet, Name: NodeSetPrefix + name}, true
	case *model.Profile:
		return Key{Kind: KeyProfile, Name: name}, true
	case *corev1.Namespace:
		return Key{Kind: KeyNamespace, Name: name}, true
	case *corev1.ServiceAccount:
		return Key{Kind: KeyServiceAccount, Namespace: ns, Name: name}, true
	case *model.NetworkSet:
		return Key{Kind: KeyNetworkSet, Namespace: ns, Name: name}, true
	case *model.GlobalNetworkSet:
		return Key{Kind: KeyNetworkSet, Name: name}, true
	case *model.HostEndpoint:
		return Key{Kind: KeyEndpoint, Sub: string(KindHost), Name: name}, true
	case *model.WorkloadEndpoint:
		pod := o.Spec.Pod
		if pod == "" {
			pod = name
		}
		return Key{Kind: KeyEndpoint, Sub: string(KindWorkload), Name: ns + "/" + pod}, true
	case *corev1.Pod:
		return Key{Kind: KeyEndpoint, Sub: string(KindWorkload), Name: ns + "/" + name}, true
	case *model.FelixConfiguration:
		return Key{Kind: KeyConfig}, name == "default"
	case *discoveryv1.EndpointSlice:
		return Key{Kind: KeyServiceSlice, Namespace: ns, Name: name}, true
	}
	return Key{}, false
}
