package main

import (
	"bufio"
	"bytes"
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"
)

const getFixture = `apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: calico-np, namespace: shop}
spec: {selector: all(), types: [Ingress]}
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: gnp1}
spec: {selector: all(), order: 10}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec:
  type: NodePort
  clusterIP: 10.96.0.50
  selector: {app: web}
  ports: [{name: http, port: 80, nodePort: 30180, protocol: TCP}, {name: dns, port: 53, protocol: UDP}]
---
apiVersion: v1
kind: Pod
metadata: {name: nophase, namespace: shop}
spec: {containers: [{name: c, image: trellis}]}
`

// get as kubectl users expect it: several kinds at once, -o name, -o jsonpath, found
// objects printed and missing ones reported, PORTS and Pending, the other NetworkPolicy
// kind hinted.
func TestGetKubectlHabits(t *testing.T) {
	env := startDatastore(t)
	mustRun(t, env, getFixture, "apply", "-f", "-")
	out := mustRun(t, env, "", "get", "gnp,netpol", "-A")
	for _, want := range []string{"globalnetworkpolicy.projectcalico.org/gnp1", "networkpolicy.projectcalico.org/calico-np"} {
		if !strings.Contains(out, want) {
			t.Errorf("get gnp,netpol -A lacks %q:\n%s", want, out)
		}
	}
	if out := mustRun(t, env, "", "get", "gnp", "-o", "name"); out != "globalnetworkpolicy.projectcalico.org/gnp1\n" {
		t.Errorf("-o name: %q", out)
	}
	if out := mustRun(t, env, "", "get", "gnp", "gnp1", "-o", "jsonpath={.spec.order}"); out != "10\n" {
		t.Errorf("-o jsonpath: %q", out)
	}
	if out := mustRun(t, env, "", "get", "svc", "-n", "shop"); !strings.Contains(out, "80:30180/TCP,53/UDP") {
		t.Errorf("service PORTS:\n%s", out)
	}
	if out := mustRun(t, env, "", "get", "pods", "-n", "shop"); !strings.Contains(out, "Pending") {
		t.Errorf("a pod without a phase:\n%s", out)
	}
	r := trellis(t, env, "", "get", "gnp", "gnp1", "nosuch")
	if r.code != 1 || !strings.Contains(r.stdout, "gnp1") || !strings.Contains(r.stderr, `globalnetworkpolicy "nosuch" not found`) {
		t.Errorf("partial get: exit %d\nstdout %s\nstderr %s", r.code, r.stdout, r.stderr)
	}
	r = trellis(t, env, "", "get", "knp", "-n", "shop")
	if r.code != 0 || !strings.Contains(r.stderr, "Hint: 1 networkpolicy (Calico NetworkPolicy") {
		t.Errorf("get knp with only a Calico policy: exit %d, stderr %q", r.code, r.stderr)
	}
	if out := mustRun(t, env, "", "api-resources"); !strings.Contains(out, "globalnetworkpolicies") || !strings.Contains(out, "gnp") {
		t.Errorf("api-resources:\n%s", out)
	}
	if r := trellis(t, env, "", "get", "gnp", "-o", "jsonpath={.items[0"); r.code != 2 {
		t.Errorf("a broken jsonpath: exit %d, want 2", r.code)
	}
}

// get -w prints the current state, then each change as it happens.
func TestGetWatch(t *testing.T) {
	env := startDatastore(t)
	mustRun(t, env, "apiVersion: projectcalico.org/v3\nkind: Tier\nmetadata: {name: first}\nspec: {order: 1}\n", "apply", "-f", "-")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, "get", "tiers", "-w", "-o", "name")
	cmd.Env = append(cmd.Environ(), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); cmd.Wait() }()
	lines := bufio.NewScanner(stdout)
	next := func() string {
		if !lines.Scan() {
			t.Fatalf("get -w ended: %s", stderr.String())
		}
		return lines.Text()
	}
	if l := next(); l != "tier.projectcalico.org/first" {
		t.Fatalf("first line %q", l)
	}
	mustRun(t, env, "apiVersion: projectcalico.org/v3\nkind: Tier\nmetadata: {name: second}\nspec: {order: 2}\n", "apply", "-f", "-")
	if l := next(); l != "tier.projectcalico.org/second added" {
		t.Errorf("after a create: %q", l)
	}
	mustRun(t, env, "", "delete", "tier", "second")
	if l := next(); l != "tier.projectcalico.org/second deleted" {
		t.Errorf("after a delete: %q", l)
	}
}

// label by name, by selector and --all, with kind-qualified output.
func TestLabelSelectorAndAll(t *testing.T) {
	env := startDatastore(t)
	var in strings.Builder
	for _, n := range []string{"a", "b", "c"} {
		app := "web"
		if n == "c" {
			app = "db"
		}
		in.WriteString("apiVersion: projectcalico.org/v3\nkind: GlobalNetworkSet\nmetadata: {name: " + n + ", labels: {app: " + app + "}}\nspec: {nets: [192.0.2.0/24]}\n---\n")
	}
	mustRun(t, env, in.String(), "apply", "-f", "-")
	out := mustRun(t, env, "", "label", "gns", "-l", "app=web", "tier=front")
	if strings.Count(out, "labeled") != 2 || !strings.Contains(out, "globalnetworkset.projectcalico.org/a labeled") {
		t.Errorf("label -l: %q", out)
	}
	if got := mustRun(t, env, "", "get", "gns", "-l", "tier=front", "-o", "name"); got != "globalnetworkset.projectcalico.org/a\nglobalnetworkset.projectcalico.org/b\n" {
		t.Errorf("after label -l: %q", got)
	}
	if out := mustRun(t, env, "", "label", "gns", "--all", "zone=x"); strings.Count(out, "labeled") != 3 {
		t.Errorf("label --all: %q", out)
	}
	if r := trellis(t, env, "", "label", "gns", "a", "-l", "app=web", "x=y"); r.code != 2 {
		t.Errorf("names and -l together: exit %d", r.code)
	}
}

// delete by selector and --all; names found are deleted and missing ones reported.
func TestDeleteSelectorAllAndMissing(t *testing.T) {
	env := startDatastore(t)
	var in strings.Builder
	for _, n := range []string{"a", "b", "c", "d"} {
		app := "web"
		if n == "d" {
			app = "db"
		}
		in.WriteString("apiVersion: projectcalico.org/v3\nkind: GlobalNetworkSet\nmetadata: {name: " + n + ", labels: {app: " + app + "}}\nspec: {nets: [192.0.2.0/24]}\n---\n")
	}
	mustRun(t, env, in.String(), "apply", "-f", "-")
	if out := mustRun(t, env, "", "delete", "gns", "-l", "app=web", "--dry-run=client"); strings.Count(out, "deleted (dry run)") != 3 {
		t.Errorf("delete -l --dry-run: %q", out)
	}
	r := trellis(t, env, "", "delete", "gns", "a", "nosuch")
	if r.code != 1 || !strings.Contains(r.stdout, "globalnetworkset.projectcalico.org/a deleted") || !strings.Contains(r.stderr, `"nosuch" not found`) {
		t.Errorf("delete a nosuch: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if out := mustRun(t, env, "", "delete", "gns", "-l", "app=web"); strings.Count(out, " deleted") != 2 {
		t.Errorf("delete -l: %q", out)
	}
	if out := mustRun(t, env, "", "delete", "gns", "--all"); out != "globalnetworkset.projectcalico.org/d deleted\n" {
		t.Errorf("delete --all: %q", out)
	}
	if r := trellis(t, env, "", "delete", "gns"); r.code != 2 {
		t.Errorf("delete without names: exit %d", r.code)
	}
}

// Shell completion completes kinds (after a comma too), the names of a kind's objects and
// -o values.
func TestCompletion(t *testing.T) {
	env := startDatastore(t)
	mustRun(t, env, "apiVersion: projectcalico.org/v3\nkind: Tier\nmetadata: {name: security}\nspec: {order: 100}\n", "apply", "-f", "-")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"__complete", "get", "globalnet"}, "globalnetworkpolicies\n"},
		{[]string{"__complete", "get", "gnp,tie"}, "gnp,tiers\n"},
		{[]string{"__complete", "get", "tier", ""}, "security\n"},
		{[]string{"__complete", "get", "gnp", "-o", ""}, "jsonpath=\n"},
	} {
		if out := mustRun(t, env, "", tc.args...); !strings.Contains(out, tc.want) {
			t.Errorf("%v: %q lacks %q", tc.args, out, tc.want)
		}
	}
}
