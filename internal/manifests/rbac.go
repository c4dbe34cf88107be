package manifests

import (
	"slices"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/trellisnet/trellis/internal/model"
	"github.com/trellisnet/trellis/internal/policy"
)

// Names of the objects the manifests create and the components refer to.
const (
	Namespace          = "trellis-system"
	DNSNamespace       = "kube-system"
	NodeName           = "trellis-node"
	CNIName            = "trellis-cni"
	ControllersName    = "trellis-controllers"
	DNSName            = "trellis-dns"
	WebhookService     = "trellis-webhook"
	WebhookSecret      = "trellis-webhook-tls"
	WebhookConfigName  = "trellis"
	APIEndpointsConfig = "kubernetes-services-endpoint"
)

// Groups of the kinds Trellis serves.
const (
	groupCore      = ""
	groupCalico    = "projectcalico.org"
	groupIPAM      = "ipam.trellis.dev"
	groupTrellis   = "trellis.dev"
	groupDiscovery = "discovery.k8s.io"
	groupAdmission = "admissionregistration.k8s.io"
)

var (
	readOnly  = []string{"get", "list", "watch"}
	ipamKinds = []string{"blockaffinities", "ipamblocks", "ipamhandles"}
)

// rule is one RBAC rule with the reason it exists, emitted as a comment above it.
type rule struct {
	why string
	rbacv1.PolicyRule
}

func r(why string, groups, resources, verbs []string, names ...string) rule {
	return rule{why: why, PolicyRule: rbacv1.PolicyRule{APIGroups: groups, Resources: resources, Verbs: verbs, ResourceNames: names}}
}

// role is a ClusterRole (namespace "") or a Role bound to one service account.
type role struct {
	name, namespace string
	// subject is the service account bound, in saNamespace.
	subject, saNamespace string
	rules                []rule
}

// nodeReads are the agent's reads: it lists and watches every kind the registry has (one
// store watch of all kinds: the policy calculation, the service proxy and the routing loop
// read them), grouped by API group in a stable order.
func nodeReads() []rule {
	byGroup := map[string][]string{}
	for _, k := range model.Default.Kinds() {
		if !slices.Contains(byGroup[k.Group], k.Plural) {
			byGroup[k.Group] = append(byGroup[k.Group], k.Plural)
		}
	}
	groups := make([]string, 0, len(byGroup))
	for g := range byGroup {
		groups = append(groups, g)
	}
	slices.Sort(groups)
	var out []rule
	for _, g := range groups {
		res := byGroup[g]
		slices.Sort(res)
		out = append(out, r("the agent watches every kind it knows: group "+orCore(g), []string{g}, res, readOnly))
	}
	return out
}

// calculationGroups are the API groups of the kinds the policy calculation reads, sorted.
func calculationGroups() []string {
	var out []string
	for _, k := range model.Default.Kinds() {
		if policy.Reads(k) && !slices.Contains(out, k.Group) {
			out = append(out, k.Group)
		}
	}
	slices.Sort(out)
	return out
}

// calculationResources are the resources of group that the policy calculation reads
// (what a trace lists), sorted.
func calculationResources(group string) []string {
	var out []string
	for _, k := range model.Default.Kinds() {
		if k.Group == group && policy.Reads(k) && !slices.Contains(out, k.Plural) {
			out = append(out, k.Plural)
		}
	}
	slices.Sort(out)
	return out
}

func orCore(g string) string {
	if g == "" {
		return "core"
	}
	return g
}

// roles are every component's rules. Changing what a component reads or writes changes
// its table here (and the RBAC test's).
func roles() []role {
	node := append(nodeReads(),
		r("IPAM: the node's VXLAN tunnel address; the leak collector when --ipam-leak-grace is set",
			[]string{groupIPAM}, ipamKinds, []string{"create", "update", "delete"}),
		r("its own Calico Node, kept as annotations of its Kubernetes Node: BGP address, VXLAN tunnel address and MAC",
			[]string{groupCore}, []string{"nodes"}, []string{"patch"}),
	)
	cni := []rule{
		r("a pod's labels, annotations (ipAddrs, pools) and service account; its namespace's pool annotations; the node's labels for pool node selectors (also the Calico Node, a view of it)",
			[]string{groupCore}, []string{"namespaces", "nodes", "serviceaccounts"}, []string{"get"}),
		r("the pod's WorkloadEndpoint, kept as the pod's cni.projectcalico.org annotations: written on ADD, cleared on DEL, listed by GC",
			[]string{groupCore}, []string{"pods"}, []string{"get", "list", "patch"}),
		r("IPAM inputs: pools, reservations, the IPAMConfiguration",
			[]string{groupCalico}, []string{"ipamconfigurations", "ippools", "ipreservations"}, []string{"get", "list"}),
		r("IPAM: blocks, affinities and handles of the addresses it assigns and releases",
			[]string{groupIPAM}, ipamKinds, []string{"get", "list", "create", "update", "delete"}),
	}
	controllers := []rule{
		r("services loop: LoadBalancer services (the API server allocates cluster IPs and node ports; a store update writes the object, then its status)",
			[]string{groupCore}, []string{"services"}, []string{"get", "list", "watch", "update"}),
		r("services loop: status.loadBalancer.ingress", []string{groupCore}, []string{"services/status"}, []string{"update"}),
		r("services loop: LoadBalancer pools; the webhook: overlapping pools; the datastore probe; /metrics: IPAM utilisation per pool",
			[]string{groupCalico}, []string{"ippools"}, readOnly),
		r("nodes loop: deleted Kubernetes Nodes (watched); both IPAM loops: which nodes exist",
			[]string{groupCore}, []string{"nodes"}, []string{"list", "watch"}),
		r("nodes and ipamgc loops: which pods still hold their addresses (WorkloadEndpoints are views of Pods)",
			[]string{groupCore}, []string{"pods"}, []string{"list"}),
		r("nodes and ipamgc loops: release addresses, tunnel handles and block affinities; delete emptied blocks; /metrics: blocks and addresses per pool",
			[]string{groupIPAM}, ipamKinds, []string{"get", "list", "create", "update", "delete"}),
		r("the webhook: a policy's tier exists, a deleted tier has no policies",
			[]string{groupCalico}, []string{"globalnetworkpolicies", "networkpolicies", "stagedglobalnetworkpolicies", "stagednetworkpolicies", "tiers"},
			[]string{"get", "list"}),
		r("the webhook: its CA bundle written into its own configurations",
			[]string{groupAdmission}, []string{"mutatingwebhookconfigurations", "validatingwebhookconfigurations"},
			[]string{"get", "update"}, WebhookConfigName),
	}
	dns := []rule{
		r("answers from Services and their EndpointSlices", []string{groupCore}, []string{"services"}, []string{"list", "watch"}),
		r("answers from Services and their EndpointSlices", []string{groupDiscovery}, []string{"endpointslices"}, []string{"list", "watch"}),
		r("the datastore probe (a get of an IPPool that does not exist)", []string{groupCalico}, []string{"ippools"}, []string{"get"}),
	}
	var flows []rule
	for _, g := range calculationGroups() {
		flows = append(flows, r("trace: the policy calculation's inputs as they are now: group "+orCore(g),
			[]string{g}, calculationResources(g), []string{"list"}))
	}
	return []role{
		{name: NodeName, subject: NodeName, saNamespace: Namespace, rules: node},
		{name: FlowsName, subject: FlowsName, saNamespace: Namespace, rules: flows},
		{name: CNIName, subject: CNIName, saNamespace: Namespace, rules: cni},
		{name: ControllersName, subject: ControllersName, saNamespace: Namespace, rules: controllers},
		{name: DNSName, subject: DNSName, saNamespace: DNSNamespace, rules: dns},
		{name: NodeName, namespace: Namespace, subject: NodeName, saNamespace: Namespace, rules: []rule{
			r("install-cni: a token of the CNI plugin's service account for its kubeconfig",
				[]string{groupCore}, []string{"serviceaccounts/token"}, []string{"create"}, CNIName),
		}},
		{name: ControllersName, namespace: Namespace, subject: ControllersName, saNamespace: Namespace, rules: []rule{
			r("the webhook's self-signed CA and serving certificate, reused across restarts",
				[]string{groupCore}, []string{"secrets"}, []string{"get", "update"}, WebhookSecret),
			r("the same Secret, created on first start (create cannot be limited to a name)",
				[]string{groupCore}, []string{"secrets"}, []string{"create"}),
		}},
	}
}

// binding returns the (Cluster)RoleBinding of ro.
func (ro role) binding() any {
	subj := []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: ro.subject, Namespace: ro.saNamespace}}
	if ro.namespace == "" {
		return &rbacv1.ClusterRoleBinding{
			TypeMeta:   metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "ClusterRoleBinding"},
			ObjectMeta: meta(ro.name, ""),
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: ro.name},
			Subjects:   subj,
		}
	}
	return &rbacv1.RoleBinding{
		TypeMeta:   metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "RoleBinding"},
		ObjectMeta: meta(ro.name, ro.namespace),
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: ro.name},
		Subjects:   subj,
	}
}

// object returns the ClusterRole or Role without its rules (emitted with their comments).
func (ro role) object() any {
	if ro.namespace == "" {
		return &rbacv1.ClusterRole{TypeMeta: metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "ClusterRole"},
			ObjectMeta: meta(ro.name, "")}
	}
	return &rbacv1.Role{TypeMeta: metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "Role"},
		ObjectMeta: meta(ro.name, ro.namespace)}
}
