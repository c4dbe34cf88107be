package lab

import (
	"strings"
	"testing"
	"time"
)

const etcdCNPs = `apiVersion: v1
kind: Namespace
metadata: {name: tenant-a, labels: {tenant: a}}
---
apiVersion: v1
kind: Namespace
metadata: {name: tenant-b, labels: {tenant: b}}
---
apiVersion: v1
kind: Pod
metadata: {name: a1, namespace: tenant-a, labels: {app: a1}}
spec:
  nodeName: node1
  containers: [{name: web, image: trellis, command: [trellis, demo, http-server]}]
---
apiVersion: v1
kind: Pod
metadata: {name: a2, namespace: tenant-a, labels: {app: a2}}
spec:
  nodeName: node2
  containers: [{name: web, image: trellis, command: [trellis, demo, http-server]}]
---
apiVersion: v1
kind: Pod
metadata: {name: b1, namespace: tenant-b, labels: {app: b1}}
spec:
  nodeName: node2
  containers: [{name: web, image: trellis, command: [trellis, demo, http-server]}]
---
apiVersion: policy.networking.k8s.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: pass-within-tenant}
spec:
  tier: Admin
  priority: 10
  subject: {namespaces: {matchExpressions: [{key: tenant, operator: Exists}]}}
  ingress:
  - {name: tenant-a-to-itself, action: Pass, from: [{namespaces: {matchLabels: {tenant: a}}}]}
---
apiVersion: policy.networking.k8s.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: tenants-isolated}
spec:
  tier: Baseline
  priority: 1
  subject: {namespaces: {matchExpressions: [{key: tenant, operator: Exists}]}}
  ingress:
  - {name: deny-all, action: Deny, from: [{namespaces: {}}]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: a2-from-a1, namespace: tenant-a}
spec:
  podSelector: {matchLabels: {app: a2}}
  ingress: [{from: [{podSelector: {matchLabels: {app: a1}}}]}]
`

// TestClusterNetworkPolicyLab: on the etcd-mode lab, Admin Pass hands a tenant's own traffic
// to its NetworkPolicies, the Baseline deny decides for pods no NetworkPolicy selects, on
// real packets across nodes and in agreement with the calculation.
func TestClusterNetworkPolicyLab(t *testing.T) {
	needRoot(t)
	name := newLab(t, 2)
	applyText(t, name, etcdCNPs)
	waitPods(t, name, "tenant-a/a1", "tenant-a/a2", "tenant-b/b1")
	want := map[string]string{
		"tenant-a/a1 tenant-a/a2": "allow", // Pass, then the NetworkPolicy selecting a2 allows a1
		"tenant-a/a2 tenant-a/a1": "deny",  // Pass, no NetworkPolicy selects a1: Baseline denies
		"tenant-b/b1 tenant-a/a2": "deny",  // not passed; a2's NetworkPolicy allows only a1
		"tenant-b/b1 tenant-a/a1": "deny",  // Baseline
		"tenant-a/a1 tenant-b/b1": "deny",  // Baseline
	}
	eventually(t, 20*time.Second, "ClusterNetworkPolicies on real packets", func() (bool, string) {
		m, r := matrixResults(t, name, "-n", "tenant-a", "-n", "tenant-b", "--compare")
		if r.code != 0 {
			return false, r.stdout + r.stderr
		}
		var bad []string
		for k, v := range want {
			if m[k] != v {
				bad = append(bad, k+": "+m[k]+", want "+v)
			}
		}
		return len(bad) == 0, strings.Join(bad, "; ")
	})
	out := mustRun(t, name, "policy", "trace", "--from", "tenant-a/a2", "--to", "tenant-a/a1", "--port", "tcp/80")
	if !strings.Contains(out, "kcnp.kube-baseline.tenants-isolated") || !strings.Contains(out, `"deny-all"`) {
		t.Errorf("trace names no Baseline policy and rule:\n%s", out)
	}
}
