package main

import (
	"strings"
	"testing"
)

const tierV1 = "apiVersion: projectcalico.org/v3\nkind: Tier\nmetadata: {name: web}\nspec: {order: 100}\n"
const tierV2 = "apiVersion: projectcalico.org/v3\nkind: Tier\nmetadata: {name: web}\nspec: {order: 200}\n"

// apply --dry-run says what would happen and writes nothing; diff shows the change as a
// unified diff and exits 1, and 0 once applied.
func TestDryRunAndDiff(t *testing.T) {
	env := startDatastore(t)
	for _, mode := range []string{"client", "server"} {
		out := mustRun(t, env, tierV1, "apply", "-f", "-", "--dry-run="+mode)
		if !strings.Contains(out, "tier.projectcalico.org/web created (") || !strings.Contains(out, "nothing was written") {
			t.Errorf("--dry-run=%s: %q", mode, out)
		}
	}
	if r := trellis(t, env, "", "get", "tier", "web"); r.code == 0 {
		t.Fatalf("a dry run wrote the tier:\n%s", r.stdout)
	}
	r := trellis(t, env, tierV1, "diff", "-f", "-")
	if r.code != 1 || !strings.Contains(r.stdout, "+  order: 100") {
		t.Errorf("diff of a new object: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	mustRun(t, env, tierV1, "apply", "-f", "-")
	if r := trellis(t, env, tierV1, "diff", "-f", "-"); r.code != 0 || r.stdout != "" {
		t.Errorf("diff after apply: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = trellis(t, env, tierV2, "diff", "-f", "-")
	if r.code != 1 || !strings.Contains(r.stdout, "-  order: 100") || !strings.Contains(r.stdout, "+  order: 200") {
		t.Errorf("diff of a change: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if out := mustRun(t, env, tierV2, "apply", "-f", "-", "--dry-run=server"); !strings.Contains(out, "web configured (server dry run)") {
		t.Errorf("server dry run of a change: %q", out)
	}
	if r := trellis(t, env, tierV1, "apply", "-f", "-", "--dry-run=maybe"); r.code != 2 {
		t.Errorf("--dry-run=maybe: exit %d", r.code)
	}
}
