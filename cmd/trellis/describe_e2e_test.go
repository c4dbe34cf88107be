package main

import (
	"strings"
	"testing"
)

const describeFixture = `apiVersion: v1
kind: Namespace
metadata: {name: prod}
---
apiVersion: projectcalico.org/v3
kind: WorkloadEndpoint
metadata: {name: node1-k8s-web-eth0, namespace: prod, labels: {app: web}}
spec: {node: node1, orchestrator: k8s, endpoint: eth0, pod: web, interfaceName: trl0, ipNetworks: [10.244.0.5/32]}
---
apiVersion: projectcalico.org/v3
kind: WorkloadEndpoint
metadata: {name: node1-k8s-db-eth0, namespace: prod, labels: {app: db}}
spec: {node: node1, orchestrator: k8s, endpoint: eth0, pod: db, interfaceName: trl1, ipNetworks: [10.244.0.6/32]}
---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: db-in, namespace: prod}
spec:
  order: 100
  selector: app == 'db'
  types: [Ingress]
  ingress:
  - {action: Allow, protocol: TCP, source: {selector: app == 'web'}, destination: {ports: [5432]}}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web-in, namespace: prod}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress:
  - from: [{namespaceSelector: {matchLabels: {team: edge}}}]
    ports: [{port: 80}]
`

// describe says a policy in words and lists the endpoints it applies to now.
func TestDescribePolicies(t *testing.T) {
	env := startDatastore(t)
	mustRun(t, env, describeFixture, "apply", "-f", "-")
	out := mustRun(t, env, "", "describe", "netpol", "db-in", "-n", "prod")
	for _, want := range []string{"Tier:\tdefault", "Order:\t100", "Selector:\tapp == 'db'",
		"1. Allow TCP from endpoints matching app == 'web' to ports 5432", "Ingress applies to (1):\n  prod/db", "Egress applies to (0)"} {
		if !strings.Contains(out, want) {
			t.Errorf("describe netpol lacks %q:\n%s", want, out)
		}
	}
	out = mustRun(t, env, "", "describe", "knp", "web-in", "-n", "prod")
	for _, want := range []string{"Pod selector:\tapp=web", "1. Allow TCP/80 from all pods in namespaces matching team=edge", "Ingress applies to (1):\n  prod/web"} {
		if !strings.Contains(out, want) {
			t.Errorf("describe knp lacks %q:\n%s", want, out)
		}
	}
	if r := trellis(t, env, "", "describe", "ippool", "x"); r.code != 2 {
		t.Errorf("describe ippool: exit %d, want 2", r.code)
	}
}

// explain documents fields from the CRD schemas, offline.
func TestExplain(t *testing.T) {
	out := mustRun(t, nil, "", "explain", "globalnetworkpolicy.spec")
	for _, want := range []string{"KIND:     GlobalNetworkPolicy", "FIELD: spec <Object>", "ingress\t<[]Object>", "order\t<number>"} {
		if !strings.Contains(out, want) {
			t.Errorf("explain gnp.spec lacks %q:\n%s", want, out)
		}
	}
	if out := mustRun(t, nil, "", "explain", "ippool.spec.ipipMode"); !strings.Contains(out, "Allowed values: Never, Always, CrossSubnet") {
		t.Errorf("explain ippool.spec.ipipMode:\n%s", out)
	}
	if r := trellis(t, nil, "", "explain", "gnp.spec.nope"); r.code != 2 {
		t.Errorf("explain of a missing field: exit %d", r.code)
	}
}
