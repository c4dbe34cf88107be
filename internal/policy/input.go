package policy

import (
	"net/netip"

	"github.com/trellisnet/trellis/internal/model"
)

// This file defines the INPUT of the calculation: the identity model after conversion from the
// stored resources (convert.go) and from Kubernetes NetworkPolicy (k8s.go). Selectors stay
// strings here; the calculator parses them and fails closed on a bad one.

// Resource is one input item the Calculator accepts in Update.
type Resource interface {
	// Key identifies the item; Delete takes the same key.
	Key() Key
}

// KeyKind names an input kind.
type KeyKind string

// Input kinds.
const (
	KeyTier           KeyKind = "Tier"
	KeyPolicy         KeyKind = "Policy"
	KeyProfile        KeyKind = "Profile"
	KeyNamespace      KeyKind = "Namespace"
	KeyServiceAccount KeyKind = "ServiceAccount"
	KeyEndpoint       KeyKind = "Endpoint"
	KeyNetworkSet     KeyKind = "NetworkSet"
	KeyConfig         KeyKind = "Config"
)

// Key identifies one input item. Policies use PolicyKind as Sub; endpoints their EndpointKind.
type Key struct {
	Kind      KeyKind
	Sub       string
	Namespace string
	Name      string
}

// Tier is a policy tier.
type Tier struct {
	Name  string
	Order *float64
	// DefaultPass is true when the tier's defaultAction is Pass.
	DefaultPass bool
}

// Key implements Resource.
func (t *Tier) Key() Key { return Key{Kind: KeyTier, Name: t.Name} }

// PolicyInput is a Calico policy (NetworkPolicy, GlobalNetworkPolicy or a converted
// Kubernetes NetworkPolicy), staged or not.
type PolicyInput struct {
	ID    PolicyID
	Tier  string
	Order *float64
	// Selector, NamespaceSelector (global policies) and ServiceAccountSelector choose the
	// endpoints the policy applies to. A namespaced policy applies only in its namespace.
	Selector               string
	NamespaceSelector      string
	ServiceAccountSelector string
	// Types lists the directions; empty means Calico's default (see effectiveTypes).
	Types   []model.PolicyType
	Ingress []model.Rule
	Egress  []model.Rule
	// IngressOrigins and EgressOrigins, when given, name the source rule of each rule (same
	// length as Ingress and Egress): a converted ClusterNetworkPolicy rule gives several.
	IngressOrigins []RuleOrigin
	EgressOrigins  []RuleOrigin
	// Host endpoint variants (global policies only).
	DoNotTrack     bool
	PreDNAT        bool
	ApplyOnForward bool
	// Staged policies are never enforced (but see Options.Staged); StagedAction is what
	// enforcing one would do to the enforced policy of its name.
	Staged       bool
	StagedAction model.StagedAction
}

// Key implements Resource.
func (p *PolicyInput) Key() Key {
	return Key{Kind: KeyPolicy, Sub: string(p.ID.Kind), Namespace: p.ID.Namespace, Name: p.ID.Name}
}

// ProfileInput is a user Profile (the kns./ksa. profiles are derived from namespaces and
// service accounts, never given here).
type ProfileInput struct {
	Name          string
	LabelsToApply map[string]string
	Ingress       []model.Rule
	Egress        []model.Rule
}

// Key implements Resource.
func (p *ProfileInput) Key() Key { return Key{Kind: KeyProfile, Name: p.Name} }

// Namespace is a Kubernetes namespace's labels; it yields profile kns.<name>.
type Namespace struct {
	Name   string
	Labels map[string]string
}

// Key implements Resource.
func (n *Namespace) Key() Key { return Key{Kind: KeyNamespace, Name: n.Name} }

// ServiceAccount is a Kubernetes service account's labels; it yields profile ksa.<ns>.<name>.
type ServiceAccount struct {
	Namespace string
	Name      string
	Labels    map[string]string
}

// Key implements Resource.
func (s *ServiceAccount) Key() Key {
	return Key{Kind: KeyServiceAccount, Namespace: s.Namespace, Name: s.Name}
}

// NamedPort is an endpoint's named port.
type NamedPort struct {
	Name  string
	Proto string // lower-case: tcp, udp, sctp
	Port  uint16
}

// EndpointInput is a workload or host endpoint anywhere in the cluster. Endpoints on other
// nodes matter as IP set members; local ones are also enforcement points.
type EndpointInput struct {
	Kind EndpointKind
	// Name is "namespace/pod" for workloads, the HostEndpoint name for hosts.
	Name      string
	Namespace string
	Node      string
	Interface string
	// Labels are the endpoint's own labels (without the projectcalico.org/ built-ins, which
	// the calculator adds).
	Labels         map[string]string
	ServiceAccount string
	Orchestrator   string
	// Profiles in order; a workload normally has kns.<ns> and ksa.<ns>.<sa>.
	Profiles []string
	Addrs    []netip.Prefix
	Ports    []NamedPort
}

// Key implements Resource.
func (e *EndpointInput) Key() Key {
	return Key{Kind: KeyEndpoint, Sub: string(e.Kind), Name: e.Name}
}

// NetworkSet is a NetworkSet (Namespace set) or GlobalNetworkSet: selectable nets, never an
// enforcement point. A Kubernetes Node's addresses are one too (Node set, named
// NodeSetPrefix+name, labelled model.LabelKubernetesNode): only selectors that name that
// label select it.
type NetworkSet struct {
	Namespace string
	Name      string
	Labels    map[string]string
	Nets      []netip.Prefix
	Node      bool
}

// NodeSetPrefix names the network set of a Kubernetes Node (a GlobalNetworkSet name cannot
// hold the colon).
const NodeSetPrefix = "node:"

// Key implements Resource.
func (n *NetworkSet) Key() Key { return Key{Kind: KeyNetworkSet, Namespace: n.Namespace, Name: n.Name} }

// Config is node-level configuration (FelixConfiguration).
type Config struct {
	Failsafe Failsafe
}

// Key implements Resource.
func (c *Config) Key() Key { return Key{Kind: KeyConfig} }

// DefaultTierOrder is the order Calico gives the default tier when no Tier says otherwise.
// The label keys and profile prefixes of the identity model are model's (model.LabelNamespace, ...).
const DefaultTierOrder = 1000000.0
