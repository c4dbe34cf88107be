package manifests

import (
	"strings"
	"testing"

	"github.com/trellisnet/trellis/internal/kube/kubetest"
)

// access is one `kubectl auth can-i` question and its wanted answer.
type access struct {
	verb, resource string
	ns             string // "" asks cluster-wide
	allowed        bool
}

// The checked-in manifests apply to a real API server (which validates the workloads,
// RBAC and webhook configurations even without controllers), and each component's
// service account can do what its code does and no more.
func TestApplyAndRBAC(t *testing.T) {
	// kubeadm runs the API server with --allow-privileged=true; the node agent needs it.
	c := kubetest.Start(t, "--allow-privileged=true")
	crds, err := CRDs()
	if err != nil {
		t.Fatal(err)
	}
	if out, err := c.Kubectl(string(crds), "apply", "--server-side", "-f", "-"); err != nil {
		t.Fatalf("apply crds: %v\n%s", err, out)
	}
	if out, err := c.Kubectl("", "wait", "--for=condition=Established", "--timeout=120s", "crd", "--all"); err != nil {
		t.Fatalf("crds not established: %v\n%s", err, out)
	}
	all, err := Render(Defaults())
	if err != nil {
		t.Fatal(err)
	}
	// A server-side dry run checks every object, but cannot see the namespace it would create.
	if out, err := c.Kubectl("", "create", "namespace", Namespace); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if out, err := c.Kubectl(string(all), "apply", "--server-side", "--dry-run=server", "-f", "-"); err != nil {
		t.Fatalf("dry run: %v\n%s", err, out)
	}
	// In file order: the default pool before the webhook configurations (no webhook runs).
	if out, err := c.Kubectl(string(all), "apply", "--server-side", "-f", "-"); err != nil {
		t.Fatalf("apply: %v\n%s", err, out)
	}
	if out, err := c.Kubectl("", "get", "ippool", "default-ipv4-ippool", "-o", "jsonpath={.spec.cidr}"); err != nil || out != "10.244.0.0/16" {
		t.Errorf("default pool cidr %q, %v", out, err)
	}
	if out, err := c.Kubectl("", "get", "service", "-n", DNSNamespace, "kube-dns", "-o", "jsonpath={.spec.clusterIP}"); err != nil || out != "10.96.0.10" {
		t.Errorf("kube-dns cluster IP %q, %v", out, err)
	}
	table := map[string][]access{
		Namespace + ":" + NodeName: {
			{"watch", "networkpolicies.projectcalico.org", "", true},
			{"list", "pods", "", true},
			{"watch", "endpointslices.discovery.k8s.io", "", true},
			{"list", "ippools.projectcalico.org", "", true},
			{"patch", "nodes", "", true},
			{"update", "ipamblocks.ipam.trellis.dev", "", true},
			{"update", "pods", "default", false},
			{"patch", "pods", "default", false},
			{"create", "endpointstatuses.trellis.dev", "default", false},
			{"update", "nodes", "", false},
			{"create", "networkpolicies.projectcalico.org", "default", false},
			{"get", "secrets", Namespace, false},
		},
		Namespace + ":" + CNIName: {
			{"get", "pods", "default", true},
			{"patch", "pods", "default", true},
			{"list", "pods", "", true},
			{"update", "ipamhandles.ipam.trellis.dev", "", true},
			{"list", "ippools.projectcalico.org", "", true},
			{"delete", "networkpolicies.projectcalico.org", "default", false},
			{"delete", "globalnetworkpolicies.projectcalico.org", "", false},
			{"delete", "pods", "default", false},
			{"update", "pods", "default", false},
			{"patch", "nodes", "", false},
			{"create", "workloadendpoints.projectcalico.org", "default", false},
			{"watch", "endpointstatuses.trellis.dev", "default", false},
		},
		Namespace + ":" + ControllersName: {
			{"watch", "services", "", true},
			{"update", "services/status", "default", true},
			{"update", "services", "default", true},
			{"update", "workloadendpoints.projectcalico.org", "default", false},
			{"list", "tiers.projectcalico.org", "", true},
			{"create", "secrets", Namespace, true},
			{"get", "secrets", "default", false},
			{"create", "workloadendpoints.projectcalico.org", "default", false},
			{"create", "endpointslices.discovery.k8s.io", "default", false},
			{"delete", "pods", "default", false},
			{"update", "validatingwebhookconfigurations", "", false}, // only its own: asked below
			{"watch", "nodes", "", true},
			{"list", "pods", "", true},
			{"list", "ipamblocks.ipam.trellis.dev", "", true},
			{"update", "ipamblocks.ipam.trellis.dev", "", true},
			{"delete", "ipamblocks.ipam.trellis.dev", "", true},
			{"delete", "blockaffinities.ipam.trellis.dev", "", true},
			{"update", "ipamhandles.ipam.trellis.dev", "", true},
			{"patch", "nodes", "", false},
			{"delete", "nodes", "", false},
			{"update", "pods", "default", false},
			{"watch", "pods", "", false},
		},
		DNSNamespace + ":" + DNSName: {
			{"list", "services", "", true},
			{"watch", "endpointslices.discovery.k8s.io", "", true},
			{"get", "ippools.projectcalico.org", "", true},
			{"create", "services", "default", false},
			{"update", "endpointslices.discovery.k8s.io", "default", false},
			{"list", "pods", "", false},
			{"list", "secrets", "", false},
			{"create", "networkpolicies.projectcalico.org", "default", false},
		},
		Namespace + ":" + FlowsName: {
			{"list", "pods", "", true},
			{"list", "endpointslices.discovery.k8s.io", "", true},
			{"list", "networkpolicies.networking.k8s.io", "", true},
			{"list", "globalnetworkpolicies.projectcalico.org", "", true},
			{"list", "tiers.projectcalico.org", "", true},
			{"watch", "pods", "", false},
			{"list", "secrets", "", false},
			{"create", "networkpolicies.projectcalico.org", "default", false},
			{"update", "pods", "default", false},
		},
	}
	for sa, checks := range table {
		for _, a := range checks {
			args := []string{"auth", "can-i", a.verb, a.resource, "--as=system:serviceaccount:" + sa}
			// "services/status" names a subresource here; to kubectl it is a Service named status.
			if res, sub, ok := strings.Cut(a.resource, "/"); ok {
				args[3] = res
				args = append(args, "--subresource="+sub)
			}
			if a.ns == "" {
				args = append(args, "--all-namespaces")
			} else {
				args = append(args, "-n", a.ns)
			}
			if got := canI(t, c, args...); got != a.allowed {
				t.Errorf("%s: can %s %s in %q: %v, want %v", sa, a.verb, a.resource, a.ns, got, a.allowed)
			}
		}
	}
	// Rules limited to names.
	for _, q := range []struct {
		sa   string
		args []string
		want bool
	}{
		{Namespace + ":" + NodeName, []string{"create", "serviceaccounts", "--subresource=token", "-n", Namespace}, false},
		{Namespace + ":" + NodeName, []string{"create", "serviceaccounts/" + CNIName, "--subresource=token", "-n", Namespace}, true},
		{Namespace + ":" + NodeName, []string{"create", "serviceaccounts/" + ControllersName, "--subresource=token", "-n", Namespace}, false},
		{Namespace + ":" + ControllersName, []string{"update", "validatingwebhookconfigurations/" + WebhookConfigName}, true},
		{Namespace + ":" + ControllersName, []string{"update", "mutatingwebhookconfigurations/" + WebhookConfigName}, true},
		{Namespace + ":" + ControllersName, []string{"update", "validatingwebhookconfigurations/someone-else"}, false},
		{Namespace + ":" + ControllersName, []string{"update", "secrets/" + WebhookSecret, "-n", Namespace}, true},
		{Namespace + ":" + ControllersName, []string{"update", "secrets/other", "-n", Namespace}, false},
	} {
		args := append([]string{"auth", "can-i"}, q.args...)
		if got := canI(t, c, append(args, "--as=system:serviceaccount:"+q.sa)...); got != q.want {
			t.Errorf("%s: can %v: %v, want %v", q.sa, q.args, got, q.want)
		}
	}
}

// canI runs `kubectl auth can-i`, which exits 1 for "no".
func canI(t *testing.T, c *kubetest.Cluster, args ...string) bool {
	t.Helper()
	out, err := c.Kubectl("", args...)
	switch strings.TrimSpace(out) {
	case "yes":
		return true
	case "no":
		return false
	}
	t.Fatalf("kubectl %v: %q, %v", args, out, err)
	return false
}
