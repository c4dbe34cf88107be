package nft

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/trellisnet/trellis/internal/model"
	"github.com/trellisnet/trellis/internal/policy"
)

// benchTenants is the number of tenant namespaces of the ClusterNetworkPolicy connection
// benchmark, with benchTenantPods remote pods each: the peers the CNPs' rules name.
const (
	benchTenants    = 50
	benchTenantPods = 4
	benchCNPNode    = "bench"
)

// benchCNPState is the state of the connection-rate benchmark with ClusterNetworkPolicies,
// computed by the policy engine from the objects a user would write: namespace cli (the
// client), namespace srv (the server), 50 tenant namespaces of four pods on another node, a
// NetworkPolicy in srv allowing the client to portHTTP, and nCNP ClusterNetworkPolicies
// (7 in 10 Admin, 3 in 10 Baseline, priorities spread over 0-1000, subjects by namespace and
// by pod) that all select the server, with ingress rules (Deny, Accept or Pass from one
// tenant's namespace, to portHTTP and to a port range) that match no packet of the client.
// The client's connection therefore passes every Admin CNP before the NetworkPolicy allows
// it: the worst case for the Admin tier. The Baseline CNPs are in the table but not on the
// server's path, as the NetworkPolicy selects it (the upstream semantics).
func benchCNPState(tb testing.TB, nCNP int, client, server tracePeer) *policy.State {
	tb.Helper()
	var rs []policy.Resource
	for _, d := range decodeBench(tb, benchCNPManifests(nCNP)) {
		r, err := policy.FromObject(d.Object)
		if err != nil {
			tb.Fatalf("%s: %v", d.Ref(), err)
		}
		rs = append(rs, r)
	}
	local := func(ns, name, app string, p tracePeer) *policy.EndpointInput {
		return &policy.EndpointInput{Kind: policy.KindWorkload, Name: ns + "/" + name, Namespace: ns,
			Node: benchCNPNode, Interface: p.iface, Labels: map[string]string{"app": app}, ServiceAccount: "default",
			Orchestrator: model.OrchestratorK8s, Profiles: []string{model.PrefixProfileNamespace + ns},
			Addrs: []netip.Prefix{netip.PrefixFrom(p.v4, 32)}}
	}
	rs = append(rs, local("cli", "client", "client", client), local("srv", "server", "server", server))
	for t := range benchTenants {
		ns := fmt.Sprintf("t%02d", t)
		for p := range benchTenantPods {
			rs = append(rs, &policy.EndpointInput{Kind: policy.KindWorkload, Name: fmt.Sprintf("%s/p%d", ns, p), Namespace: ns,
				Node: "other", Labels: map[string]string{"app": "tenant"}, ServiceAccount: "default",
				Orchestrator: model.OrchestratorK8s, Profiles: []string{model.PrefixProfileNamespace + ns},
				Addrs: []netip.Prefix{netip.PrefixFrom(benchAddr(t, p), 32)}})
		}
	}
	return sortState(policy.Compute(policy.Options{Node: benchCNPNode}, rs))
}

// benchCNPManifests writes the namespaces, the NetworkPolicy and the CNPs of
// benchCNPState as one YAML stream.
func benchCNPManifests(nCNP int) string {
	var sb strings.Builder
	ns := func(name, key, value string) {
		fmt.Fprintf(&sb, "apiVersion: v1\nkind: Namespace\nmetadata: {name: %s, labels: {%s: %s, kubernetes.io/metadata.name: %s}}\n---\n",
			name, key, value, name)
	}
	ns("cli", "role", "cli")
	ns("srv", "role", "srv")
	for t := range benchTenants {
		ns(fmt.Sprintf("t%02d", t), "tenant", fmt.Sprintf("t%02d", t))
	}
	fmt.Fprintf(&sb, `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-client, namespace: srv}
spec:
  podSelector: {matchLabels: {app: server}}
  policyTypes: [Ingress]
  ingress:
  - from: [{namespaceSelector: {matchLabels: {role: cli}}, podSelector: {matchLabels: {app: client}}}]
    ports: [{protocol: TCP, port: %d}]
`, portHTTP)
	actions := []string{"Deny", "Accept", "Pass"}
	for i := range nCNP {
		tier, subject := "Admin", "{namespaces: {matchLabels: {role: srv}}}"
		if i%10 >= 7 {
			tier = "Baseline"
		}
		if i%2 == 1 {
			subject = "{pods: {namespaceSelector: {matchLabels: {role: srv}}, podSelector: {matchLabels: {app: server}}}}"
		}
		fmt.Fprintf(&sb, `---
apiVersion: policy.networking.k8s.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: cnp%04d}
spec:
  tier: %s
  priority: %d
  subject: %s
  ingress:
  - name: tenant
    action: %s
    from: [{namespaces: {matchLabels: {tenant: t%02d}}}]
    protocols: [{tcp: {destinationPort: {number: %d}}}, {tcp: {destinationPort: {range: {start: 9000, end: 9100}}}}]
`, i, tier, i%1001, subject, actions[i%3], i%benchTenants, portHTTP)
	}
	return sb.String()
}

// decodeBench decodes and validates generated manifests.
func decodeBench(tb testing.TB, text string) []model.Document {
	tb.Helper()
	docs, err := model.Decode([]byte(text), "bench-cnp.yaml")
	if err != nil {
		tb.Fatal(err)
	}
	for _, d := range docs {
		if errs := model.Validate(d.Object); len(errs) > 0 {
			tb.Fatalf("%s: %v", d.Ref(), errs)
		}
	}
	return docs
}

// TestBenchCNPState checks what the connection benchmark relies on: every Admin CNP is on
// the server's ingress path, and through the rendered table the client reaches the server
// while a tenant pod that an Admin CNP denies does not (traced in the fake).
func TestBenchCNPState(t *testing.T) {
	a, _, _, s := testPods()
	client, server := tracePeer{iface: a.Iface, v4: a.V4}, tracePeer{iface: s.Iface, v4: s.V4}
	const n = 100
	st := benchCNPState(t, n, client, server)
	var srv *policy.Endpoint
	for i := range st.Endpoints {
		if st.Endpoints[i].Interface == server.iface {
			srv = &st.Endpoints[i]
		}
	}
	if srv == nil {
		t.Fatal("no server endpoint in the state")
	}
	admin := 0
	for _, tc := range srv.Ingress.Tiers {
		if tc.Name == model.KubeAdminTierName {
			admin = len(tc.Policies)
		}
	}
	if want := n * 7 / 10; admin != want {
		t.Errorf("server ingress: %d policies in %s, want %d (tiers %+v)", admin, model.KubeAdminTierName, want, srv.Ingress.Tiers)
	}
	_, tab := applyFake(t, Render(Config{}, st))
	tenant := tracePeer{iface: "eth0", v4: benchAddr(0, 0)} // from the fabric; t00: cnp0000 is an Admin Deny from t00
	for _, c := range []struct {
		name string
		from tracePeer
		want bool
	}{{"client", client, true}, {"denied tenant", tenant, false}} {
		r := connRow{src: c.name, dst: "server", proto: "tcp", port: portHTTP, want: c.want}
		got, steps, err := traceRow(tab, r, c.from, server)
		if err != nil {
			t.Fatalf("%s: trace: %v", c.name, err)
		}
		if got != c.want {
			t.Errorf("%s to server: allowed=%v, want %v\n%s", c.name, got, c.want, steps)
		}
	}
}

// TestGuardKeepsCNPPathFlat checks the per-packet work of the connection benchmark's
// server: with 100 or 1,000 ClusterNetworkPolicies (Deny, Accept and Pass rules with a
// port range, which merging cannot take), its ingress chain has the same rules, the
// Admin tier's run is behind one guard (IPv4 only: the peers have no IPv6 addresses)
// holding exactly the addresses of the tenants the Admin CNPs name, and the client (no
// tenant) is not in it.
func TestGuardKeepsCNPPathFlat(t *testing.T) {
	a, _, _, s := testPods()
	client, server := tracePeer{iface: a.Iface, v4: a.V4}, tracePeer{iface: s.Iface, v4: s.V4}
	lengths := map[int]int{}
	for _, n := range []int{100, 1000} {
		st := benchCNPState(t, n, client, server)
		tab := Render(Config{}, st)
		var name string
		for _, ep := range st.Endpoints {
			if ep.Interface == server.iface {
				name = endpointChain(dirTo, ep.Name)
			}
		}
		ch := tab.Chains[name]
		if ch == nil {
			t.Fatalf("%d CNPs: no ingress chain %q for the server", n, name)
		}
		lengths[n] = len(ch.Rules)
		tenants := map[int]bool{}
		for i := range n {
			if i%10 < 7 { // Admin (benchCNPManifests)
				tenants[i%benchTenants] = true
			}
		}
		guards := 0
		for _, r := range ch.Rules {
			if !strings.Contains(r.Text, " jump gu-to-") || !strings.Contains(r.Comment, "tier "+model.KubeAdminTierName+" ") {
				continue
			}
			guards++
			set := tab.Sets[strings.Fields(r.Text[strings.Index(r.Text, "@")+1:])[0]]
			if set == nil {
				t.Fatalf("%d CNPs: guard %q names no set", n, r.Text)
			}
			if got, want := len(set.Elements), len(tenants)*benchTenantPods; got != want {
				t.Errorf("%d CNPs: guard set has %d addresses, want %d", n, got, want)
			}
			if _, ok := set.Elements[client.v4.String()]; ok {
				t.Errorf("%d CNPs: the client %s is in the guard set", n, client.v4)
			}
		}
		if guards != 1 {
			t.Errorf("%d CNPs: %d guard rules for the Admin tier in the server's ingress chain, want 1\n%v", n, guards, ch.Rules)
		}
	}
	if lengths[100] != lengths[1000] {
		t.Errorf("server ingress chain: %d rules with 100 CNPs, %d with 1,000: the path is not flat", lengths[100], lengths[1000])
	}
}
