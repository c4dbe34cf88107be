package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
)

// Through the binary and a real datastore: re-applying writes nothing and says so, and
// 20 appliers racing on one object without a resourceVersion all succeed (last writer
// wins).
func TestApplyUnchangedAndConcurrent(t *testing.T) {
	env := startDatastore(t)
	tier := func(order int) string {
		return fmt.Sprintf("apiVersion: projectcalico.org/v3\nkind: Tier\nmetadata: {name: racy}\nspec: {order: %d}\n", order)
	}
	if out := mustRun(t, env, tier(1), "apply", "-f", "-"); !strings.Contains(out, "tier.projectcalico.org/racy created") {
		t.Fatalf("first apply: %q", out)
	}
	rv := resourceVersion(t, env, "tier", "racy")
	if out := mustRun(t, env, tier(1), "apply", "-f", "-"); !strings.Contains(out, "tier.projectcalico.org/racy unchanged") {
		t.Fatalf("second apply: %q", out)
	}
	if again := resourceVersion(t, env, "tier", "racy"); again != rv || rv == "" {
		t.Errorf("an unchanged apply moved the resourceVersion %s -> %s", rv, again)
	}
	var wg sync.WaitGroup
	results := make([]result, 20)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = trellis(t, env, tier(100+i), "apply", "-f", "-")
		}()
	}
	wg.Wait()
	for i, r := range results {
		if r.code != 0 {
			t.Errorf("applier %d: exit %d: %s", i, r.code, r.stderr)
		}
	}
}

func resourceVersion(t *testing.T, env []string, kind, name string) string {
	t.Helper()
	var obj struct {
		Metadata struct {
			ResourceVersion string `json:"resourceVersion"`
		} `json:"metadata"`
	}
	out := mustRun(t, env, "", "get", kind, name, "-o", "json")
	if err := json.Unmarshal([]byte(out), &obj); err != nil {
		t.Fatalf("get %s %s -o json: %v\n%s", kind, name, err, out)
	}
	return obj.Metadata.ResourceVersion
}
