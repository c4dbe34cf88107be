package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Hardening (#17) through the binary: references between objects and the datastore.

func writeFile(t *testing.T, name, body string) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(f, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}

const (
	e2eTier = "apiVersion: projectcalico.org/v3\nkind: Tier\nmetadata: {name: %s}\nspec: {order: 100}\n"
	e2eGNP  = "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata: {name: %s}\nspec:\n  tier: %s\n  selector: all()\n"
	e2ePool = "apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata: {name: %s}\nspec: {cidr: %s}\n"
)

func fill(tmpl string, args ...string) string {
	for _, a := range args {
		tmpl = strings.Replace(tmpl, "%s", a, 1)
	}
	return tmpl
}

// TestUnknownTierRefusedThroughCLI: apply, create and replace refuse a policy whose tier
// exists nowhere, naming file, document, field and value, and write nothing; a tier given
// later in the file set, stored earlier or built in is fine; validate only warns.
func TestUnknownTierRefusedThroughCLI(t *testing.T) {
	env := startDatastore(t)
	bad := writeFile(t, "bad.yaml", fill(e2eTier, "ok")+"---\n"+fill(e2eGNP, "x", "nosuchtier"))
	want := bad + `: document 2 (GlobalNetworkPolicy/x): spec.tier: Not found: "nosuchtier": tier nosuchtier does not exist`
	for _, verb := range []string{"apply", "create", "replace"} {
		r := trellis(t, env, "", verb, "-f", bad)
		if r.code != 1 || !strings.Contains(r.stderr, want) {
			t.Errorf("%s: exit %d, stderr %q\nwant %q", verb, r.code, r.stderr, want)
		}
	}
	if out := mustRun(t, env, "", "get", "tiers"); strings.Contains(out, "ok") {
		t.Errorf("a tier of the refused file set was written:\n%s", out)
	}
	r := trellis(t, nil, "", "validate", "-f", bad)
	if r.code != 0 || !strings.Contains(r.stderr, `Warning: `+bad+`: document 2 (GlobalNetworkPolicy/x): spec.tier: Not found: "nosuchtier"`) {
		t.Errorf("validate: exit %d, stderr %q", r.code, r.stderr)
	}
	later := writeFile(t, "later.yaml", fill(e2eGNP, "a", "security")+"---\n"+fill(e2eTier, "security"))
	mustRun(t, env, "", "apply", "-f", later)
	mustRun(t, env, fill(e2eGNP, "b", "security")+"---\n"+fill(e2eGNP, "c", "kube-admin"), "apply", "-f", "-")

	// The tier cannot go while it has policies.
	r = trellis(t, env, "", "delete", "tier", "security")
	if r.code != 1 || !strings.Contains(r.stderr, "tier security still has 2 policies: GlobalNetworkPolicy/a, GlobalNetworkPolicy/b") {
		t.Errorf("delete tier: exit %d, stderr %q", r.code, r.stderr)
	}
	r = trellis(t, env, fill(e2eTier, "security"), "delete", "-f", "-")
	if r.code != 1 || !strings.Contains(r.stderr, "(Tier/security): tier security still has 2 policies") {
		t.Errorf("delete -f: exit %d, stderr %q", r.code, r.stderr)
	}
	mustRun(t, env, "", "delete", "globalnetworkpolicy", "a", "b")
	mustRun(t, env, "", "delete", "tier", "security")
}

// TestOverlappingPoolsRefusedThroughCLI: a new pool overlapping a stored one or another of
// the file set is refused with the field-path error; an existing pool's CIDR cannot change.
func TestOverlappingPoolsRefusedThroughCLI(t *testing.T) {
	env := startDatastore(t)
	mustRun(t, env, fill(e2ePool, "other", "10.0.0.0/8"), "apply", "-f", "-")
	for _, tc := range []struct{ body, want string }{
		{fill(e2ePool, "p", "10.0.0.0/16"), `-: document 1 (IPPool/p): spec.cidr: Invalid value: "10.0.0.0/16": overlaps IPPool other (10.0.0.0/8)`},
		{fill(e2ePool, "a", "2001:db8::/48") + "---\n" + fill(e2ePool, "b", "2001:db8::/64"),
			`-: document 2 (IPPool/b): spec.cidr: Invalid value: "2001:db8::/64": overlaps IPPool a (2001:db8::/48)`},
		{fill(e2ePool, "other", "11.0.0.0/8"), `spec.cidr: Invalid value: "11.0.0.0/8": an IPPool's cidr cannot be modified`},
	} {
		r := trellis(t, env, tc.body, "apply", "-f", "-")
		if r.code != 1 || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("apply: exit %d, stderr %q\nwant %q", r.code, r.stderr, tc.want)
		}
	}
	out := mustRun(t, env, "", "get", "ippools")
	if strings.Count(strings.TrimSpace(out), "\n") != 1 || !strings.Contains(out, "10.0.0.0/8") {
		t.Errorf("pools after refused applies:\n%s", out)
	}
	mustRun(t, env, fill(e2ePool, "other", "10.0.0.0/8")+"---\n"+fill(e2ePool, "c", "192.0.2.0/24"), "apply", "-f", "-")
}

// TestBackupKindsThroughCLI: the kinds of a calicoctl backup apply and come back; validate
// warns that KubeControllersConfiguration and ClusterInformation are stored but not used,
// and about an IPIP pool.
func TestBackupKindsThroughCLI(t *testing.T) {
	env := startDatastore(t)
	body := `apiVersion: projectcalico.org/v3
kind: KubeControllersConfiguration
metadata: {name: default}
spec:
  controllers:
    node: {reconcilerPeriod: 5m}
---
apiVersion: projectcalico.org/v3
kind: ClusterInformation
metadata: {name: default}
spec: {calicoVersion: v3.32.0, datastoreReady: true}
---
apiVersion: projectcalico.org/v3
kind: StagedKubernetesNetworkPolicy
metadata: {name: db, namespace: prod}
spec:
  podSelector: {matchLabels: {app: db}}
---
apiVersion: projectcalico.org/v3
kind: IPPool
metadata: {name: tunnel}
spec: {cidr: 198.51.100.0/24, ipipMode: Always}
`
	f := writeFile(t, "backup.yaml", body)
	r := trellis(t, nil, "", "validate", "-f", f)
	for _, w := range []string{
		"spec.controllers: ignored: Trellis does not use this field (kept as given): KubeControllersConfiguration is accepted and stored but not used by Trellis",
		"spec.calicoVersion: ignored: Trellis does not use this field (kept as given): ClusterInformation is accepted and stored but not used by Trellis",
		"(IPPool/tunnel): spec.ipipMode: ignored: Trellis does not use this field (kept as given)",
	} {
		if r.code != 0 || !strings.Contains(r.stderr, w) {
			t.Errorf("validate: exit %d, stderr lacks %q:\n%s", r.code, w, r.stderr)
		}
	}
	mustRun(t, env, "", "apply", "-f", f)
	for _, args := range [][]string{{"kcc", "default"}, {"clusterinfo", "default"}, {"sknp", "db", "-n", "prod"}} {
		out := mustRun(t, env, "", append([]string{"get", "-o", "yaml"}, args...)...)
		if !strings.Contains(out, "name: ") {
			t.Errorf("get %v:\n%s", args, out)
		}
	}
	if out := mustRun(t, env, "", "get", "stagedkubernetesnetworkpolicies", "-n", "prod", "-o", "yaml"); !strings.Contains(out, "stagedAction: Set") {
		t.Errorf("staged policy not defaulted:\n%s", out)
	}
	if out := mustRun(t, env, "", "get", "clusterinformation"); !strings.Contains(out, "CALICOVERSION") || !strings.Contains(out, "v3.32.0") {
		t.Errorf("get clusterinformation:\n%s", out)
	}
	if out := mustRun(t, env, "", "get", "sknp", "-n", "prod"); !strings.Contains(out, "ACTION") || !strings.Contains(out, "Set") {
		t.Errorf("get sknp:\n%s", out)
	}
	mustRun(t, env, "", "get", "kubecontrollersconfigurations")
}
