package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Input is bounded: an endless file fails at once with the cap named, and an object over
// the datastore's size limit is reported by validate, offline.
func TestValidateBoundedInput(t *testing.T) {
	begin := time.Now()
	r := trellis(t, nil, "", "validate", "-f", "/dev/zero")
	if r.code != 1 || !strings.Contains(r.stderr, "/dev/zero") || !strings.Contains(r.stderr, "larger than 64 MiB") {
		t.Fatalf("validate -f /dev/zero: exit %d\nstdout %s\nstderr %s", r.code, r.stdout, r.stderr)
	}
	if d := time.Since(begin); d > 20*time.Second {
		t.Errorf("validate -f /dev/zero took %v", d)
	}
	var nets []string
	for i := range 70000 {
		nets = append(nets, fmt.Sprintf("10.%d.%d.0/24", i/256%256, i%256))
	}
	big := "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkSet\nmetadata: {name: huge}\nspec:\n  nets: [" + strings.Join(nets, ", ") + "]\n"
	f := filepath.Join(t.TempDir(), "big.yaml")
	if err := os.WriteFile(f, []byte(big), 0o644); err != nil {
		t.Fatal(err)
	}
	r = trellis(t, nil, "", "validate", "-f", f)
	if r.code != 1 || !strings.Contains(r.stderr, "document 1 (GlobalNetworkSet/huge): too large for the datastore: object too large") {
		t.Fatalf("validate of a 1.3 MB object: exit %d\nstderr %s", r.code, r.stderr)
	}
}

// Two documents naming the same object are reported with the file and both document
// numbers, and nothing is written.
func TestDuplicateObjectsReported(t *testing.T) {
	dir := t.TempDir()
	tier := "apiVersion: projectcalico.org/v3\nkind: Tier\nmetadata: {name: twice}\nspec: {order: %d}\n"
	a, b := filepath.Join(dir, "a.yaml"), filepath.Join(dir, "b.yaml")
	if err := os.WriteFile(a, []byte(fmt.Sprintf(tier, 1)+"---\n"+fmt.Sprintf(tier, 2)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(b, []byte(fmt.Sprintf(tier, 3)), 0o644); err != nil {
		t.Fatal(err)
	}
	r := trellis(t, nil, "", "validate", "-f", a, "-f", b)
	for _, want := range []string{
		a + ": document 2 (Tier/twice): duplicate: " + a + " document 1 already gives this object",
		b + ": document 1 (Tier/twice): duplicate: " + a + " document 1 already gives this object",
	} {
		if r.code != 1 || !strings.Contains(r.stderr, want) {
			t.Errorf("validate: exit %d, stderr lacks %q:\n%s", r.code, want, r.stderr)
		}
	}
	env := startDatastore(t)
	if r := trellis(t, env, "", "apply", "-f", a); r.code != 1 {
		t.Errorf("apply of a file with a duplicate: exit %d", r.code)
	}
	if r := trellis(t, env, "", "get", "tier", "twice"); r.code == 0 {
		t.Errorf("a refused apply wrote the tier:\n%s", r.stdout)
	}
}
