package main

import (
	"strings"
	"testing"

	"github.com/trellisnet/trellis/internal/kube/kubetest"
)

const kubeFixture = `apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: projectcalico.org/v3
kind: Tier
metadata: {name: security}
spec: {order: 100}
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: security.deny-db}
spec:
  tier: security
  order: 10
  selector: app == 'db'
  types: [Ingress]
  ingress: [{action: Deny, source: {selector: app == 'web'}}]
---
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: shop, labels: {app: web}}
spec: {containers: [{name: c, image: trellis}]}
`

// The CLI against the Kubernetes API as its datastore: apply, get, label, describe and a
// policy trace read and write the API server's objects (Calico kinds as CRDs), and what
// kubectl sees is what Trellis wrote.
func TestCLIWithKubernetesDatastore(t *testing.T) {
	c := kubetest.Start(t)
	c.InstallCRDs(t)
	env := []string{"TRELLIS_DATASTORE_TYPE=kubernetes", "KUBECONFIG=" + c.Kubeconfig}
	out := mustRun(t, env, kubeFixture, "apply", "-f", "-")
	if !strings.Contains(out, "globalnetworkpolicy.projectcalico.org/security.deny-db created") ||
		!strings.Contains(out, "in datastore kubernetes "+c.Kubeconfig) {
		t.Errorf("apply: %s", out)
	}
	if out := mustRun(t, env, kubeFixture, "apply", "-f", "-"); strings.Count(out, " unchanged") != 4 {
		t.Errorf("re-apply: %s", out)
	}
	if out := mustRun(t, env, "", "get", "gnp", "-o", "name"); out != "globalnetworkpolicy.projectcalico.org/security.deny-db\n" {
		t.Errorf("get gnp: %q", out)
	}
	mustRun(t, env, "", "label", "pod", "web", "-n", "shop", "tier=front")
	kout, err := c.Kubectl("", "get", "pods", "-n", "shop", "web", "-o", "jsonpath={.metadata.labels.tier}")
	if err != nil || kout != "front" {
		t.Errorf("kubectl sees the label %q (%v)", kout, err)
	}
	if kout, err := c.Kubectl("", "get", "globalnetworkpolicies.projectcalico.org", "-o", "name"); err != nil || !strings.Contains(kout, "security.deny-db") {
		t.Errorf("kubectl get gnp: %q (%v)", kout, err)
	}
	bad := "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata: {name: orphan}\nspec: {tier: nosuch, selector: all()}\n"
	if r := trellis(t, env, bad, "apply", "-f", "-"); r.code != 1 || !strings.Contains(r.stderr, "tier nosuch does not exist") {
		t.Errorf("a policy in a missing tier: exit %d: %s", r.code, r.stderr)
	}
	if out := mustRun(t, env, "", "config", "view"); !strings.Contains(out, "datastore-endpoints: kubernetes "+c.Kubeconfig) {
		t.Errorf("config view: %s", out)
	}
}
