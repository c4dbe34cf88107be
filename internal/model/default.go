package model

import (
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Default values Calico and the Kubernetes API server fill in.
const (
	DefaultBlockSizeV4     = 26
	DefaultBlockSizeV6     = 122
	DefaultNodeSelector    = "all()"
	DefaultASNumber        = ASNumber(64512)
	DefaultBGPListenPort   = 179
	DefaultTierOrder       = 1_000_000.0
	DefaultBGPConfigName   = "default"
	DefaultLogSeverityBGP  = "Info"
	namespaceNameLabelKey  = "kubernetes.io/metadata.name"
	defaultK8sServiceType  = corev1.ServiceTypeClusterIP
	defaultSessionAffinity = corev1.ServiceAffinityNone
)

// SetDefaults fills in the defaults Calico (for projectcalico.org/v3 kinds) and the Kubernetes API
// server (for Kubernetes kinds) apply on create. It is idempotent and never fails; values it
// cannot interpret are left for Validate to report. A nil policy or tier order stays nil
// (ordered last).
func SetDefaults(obj Object) {
	switch o := obj.(type) {
	case *NetworkPolicy:
		o.Spec.Tier = defaultTier(o.Spec.Tier)
		o.Spec.Types = defaultTypes(o.Spec.Types, o.Spec.Ingress, o.Spec.Egress)
	case *GlobalNetworkPolicy:
		o.Spec.Tier = defaultTier(o.Spec.Tier)
		o.Spec.Types = defaultTypes(o.Spec.Types, o.Spec.Ingress, o.Spec.Egress)
	case *StagedNetworkPolicy:
		o.Spec.Tier = defaultTier(o.Spec.Tier)
		if o.Spec.StagedAction == "" {
			o.Spec.StagedAction = StagedActionSet
		}
		if o.Spec.StagedAction != StagedActionDelete {
			o.Spec.Types = defaultTypes(o.Spec.Types, o.Spec.Ingress, o.Spec.Egress)
		}
	case *StagedGlobalNetworkPolicy:
		o.Spec.Tier = defaultTier(o.Spec.Tier)
		if o.Spec.StagedAction == "" {
			o.Spec.StagedAction = StagedActionSet
		}
		if o.Spec.StagedAction != StagedActionDelete {
			o.Spec.Types = defaultTypes(o.Spec.Types, o.Spec.Ingress, o.Spec.Egress)
		}
	case *Tier:
		defaultTierSpec(o)
	case *IPPool:
		defaultIPPool(&o.Spec)
	case *BGPConfiguration:
		defaultBGPConfiguration(o)
	case *networkingv1.NetworkPolicy:
		defaultK8sNetworkPolicy(o)
	case *StagedKubernetesNetworkPolicy:
		defaultStagedK8sPolicy(o)
	case *KubeControllersConfiguration:
		defaultKubeControllers(&o.Spec)
	case *corev1.Namespace:
		if o.Name != "" {
			if o.Labels == nil {
				o.Labels = map[string]string{}
			}
			o.Labels[namespaceNameLabelKey] = o.Name
		}
	case *corev1.Service:
		defaultService(o)
	case *corev1.Pod:
		for i := range o.Spec.Containers {
			defaultContainerPorts(o.Spec.Containers[i].Ports)
		}
		for i := range o.Spec.InitContainers {
			defaultContainerPorts(o.Spec.InitContainers[i].Ports)
		}
	case *discoveryv1.EndpointSlice:
		for i := range o.Ports {
			if o.Ports[i].Protocol == nil {
				tcp := corev1.ProtocolTCP
				o.Ports[i].Protocol = &tcp
			}
		}
	}
}

func defaultTier(t string) string {
	if t == "" {
		return DefaultTierName
	}
	return t
}

// defaultTypes: Ingress when there are ingress rules or no rules at all, Egress when there are
// egress rules.
func defaultTypes(types []PolicyType, ingress, egress []Rule) []PolicyType {
	if len(types) > 0 {
		return types
	}
	if len(ingress) > 0 || len(egress) == 0 {
		types = append(types, PolicyTypeIngress)
	}
	if len(egress) > 0 {
		types = append(types, PolicyTypeEgress)
	}
	return types
}

func defaultIPPool(s *IPPoolSpec) {
	if s.BlockSize == 0 {
		if strings.Contains(s.CIDR, ":") {
			s.BlockSize = DefaultBlockSizeV6
		} else {
			s.BlockSize = DefaultBlockSizeV4
		}
	}
	if s.NodeSelector == "" {
		s.NodeSelector = DefaultNodeSelector
	}
	if s.VXLANMode == "" {
		s.VXLANMode = EncapNever
	}
	if s.IPIPMode == "" {
		s.IPIPMode = EncapNever
	}
	if len(s.AllowedUses) == 0 {
		s.AllowedUses = []IPPoolAllowedUse{AllowedUseWorkload, AllowedUseTunnel}
	}
	if s.AssignmentMode == nil {
		m := AssignmentAutomatic
		s.AssignmentMode = &m
	}
}

// defaultK8sNetworkPolicy applies the API server's defaults: policyTypes from the rules present
// (Ingress always, Egress when egress rules exist) and TCP for ports without a protocol.
func defaultK8sNetworkPolicy(np *networkingv1.NetworkPolicy) {
	if len(np.Spec.PolicyTypes) == 0 {
		np.Spec.PolicyTypes = []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}
		if len(np.Spec.Egress) > 0 {
			np.Spec.PolicyTypes = append(np.Spec.PolicyTypes, networkingv1.PolicyTypeEgress)
		}
	}
	for i := range np.Spec.Ingress {
		defaultNPPorts(np.Spec.Ingress[i].Ports)
	}
	for i := range np.Spec.Egress {
		defaultNPPorts(np.Spec.Egress[i].Ports)
	}
}

func defaultNPPorts(ports []networkingv1.NetworkPolicyPort) {
	for i := range ports {
		if ports[i].Protocol == nil {
			tcp := corev1.ProtocolTCP
			ports[i].Protocol = &tcp
		}
	}
}

func defaultService(s *corev1.Service) {
	if s.Spec.Type == "" {
		s.Spec.Type = defaultK8sServiceType
	}
	if s.Spec.SessionAffinity == "" {
		s.Spec.SessionAffinity = defaultSessionAffinity
	}
	for i := range s.Spec.Ports {
		p := &s.Spec.Ports[i]
		if p.Protocol == "" {
			p.Protocol = corev1.ProtocolTCP
		}
		if p.TargetPort.Type == intstr.Int && p.TargetPort.IntVal == 0 && p.TargetPort.StrVal == "" {
			p.TargetPort = intstr.FromInt32(p.Port)
		}
	}
}

func defaultContainerPorts(ports []corev1.ContainerPort) {
	for i := range ports {
		if ports[i].Protocol == "" {
			ports[i].Protocol = corev1.ProtocolTCP
		}
	}
}

// defaultStagedK8sPolicy: stagedAction Set, and for a policy that is not a staged delete the
// defaults of the Kubernetes NetworkPolicy it stands for.
func defaultStagedK8sPolicy(p *StagedKubernetesNetworkPolicy) {
	if p.Spec.StagedAction == "" {
		p.Spec.StagedAction = StagedActionSet
	}
	if p.Spec.StagedAction == StagedActionDelete {
		return
	}
	np := p.KubernetesPolicy()
	defaultK8sNetworkPolicy(np)
	p.Spec.PolicyTypes, p.Spec.Ingress, p.Spec.Egress = np.Spec.PolicyTypes, np.Spec.Ingress, np.Spec.Egress
}

// defaultKubeControllers applies the defaults of Calico's CRD schema (healthChecks Enabled,
// assignIPs AllServices, the policy name migrator Enabled); kube-controllers' run-time
// defaults (periods, ports) are not stored.
func defaultKubeControllers(s *KubeControllersConfigurationSpec) {
	if s.HealthChecks == "" {
		s.HealthChecks = Enabled
	}
	if lb := s.Controllers.LoadBalancer; lb != nil && lb.AssignIPs == "" {
		lb.AssignIPs = AssignIPsAllServices
	}
	if m := s.Controllers.Migration; m != nil && m.PolicyNameMigrator == "" {
		m.PolicyNameMigrator = Enabled
	}
}

// defaultBGPConfiguration: the cluster-wide "default" gets AS 64512, the node-to-node mesh,
// port 179 and log severity Info.
func defaultBGPConfiguration(s *BGPConfiguration) {
	if s.Name == DefaultBGPConfigName {
		if s.Spec.ASNumber == nil {
			as := DefaultASNumber
			s.Spec.ASNumber = &as
		}
		if s.Spec.NodeToNodeMeshEnabled == nil {
			t := true
			s.Spec.NodeToNodeMeshEnabled = &t
		}
		if s.Spec.ListenPort == 0 {
			s.Spec.ListenPort = DefaultBGPListenPort
		}
		if s.Spec.LogSeverityScreen == "" {
			s.Spec.LogSeverityScreen = DefaultLogSeverityBGP
		}
	}
}

// defaultTierSpec: defaultAction Deny, except Pass for the ClusterNetworkPolicy tiers; the
// built-in tiers get their fixed orders.
func defaultTierSpec(o *Tier) {
	builtin := map[string]float64{DefaultTierName: DefaultTierOrder, KubeAdminTierName: KubeAdminTierOrder,
		KubeBaselineTierName: KubeBaselineTierOrder}
	if o.Spec.DefaultAction == nil {
		a := Deny
		if o.Name == KubeAdminTierName || o.Name == KubeBaselineTierName {
			a = Pass
		}
		o.Spec.DefaultAction = &a
	}
	if order, ok := builtin[o.Name]; ok && o.Spec.Order == nil {
		o.Spec.Order = &order
	}
}
