package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"sigs.k8s.io/yaml"
)

// These tests run the real binary against a real embedded datastore started with
// `trellis datastore run` on a unix socket in a temporary directory.

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "trellis-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "trellis")
	build := exec.Command("go", "build", "-o", binary, ".")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build trellis:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type result struct {
	stdout, stderr string
	code           int
}

func trellis(t *testing.T, env []string, stdin string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run trellis %v: %v", args, err)
	}
	return result{out.String(), errb.String(), code}
}

// startDatastore runs `trellis datastore run` on a private socket and returns the
// environment that points the CLI at it.
func startDatastore(t *testing.T) []string {
	t.Helper()
	dir := t.TempDir()
	sock := filepath.Join(dir, "ds.sock")
	cmd := exec.Command(binary, "datastore", "run", "--data-dir", filepath.Join(dir, "data"), "--listen-client", "unix://"+sock)
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("start datastore: %v", err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	env := []string{"TRELLIS_DATASTORE_ENDPOINTS=unix://" + sock}
	deadline := time.Now().Add(30 * time.Second)
	for {
		r := trellis(t, env, "", "get", "tiers")
		if r.code == 0 {
			return env
		}
		if time.Now().After(deadline) {
			t.Fatalf("datastore not ready: %s\nlogs:\n%s", r.stderr, logs.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func mustRun(t *testing.T, env []string, stdin string, args ...string) string {
	t.Helper()
	r := trellis(t, env, stdin, args...)
	if r.code != 0 {
		t.Fatalf("trellis %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

func TestVersion(t *testing.T) {
	out := mustRun(t, nil, "", "version")
	for _, want := range []string{"version:", "commit:", "go:"} {
		if !strings.Contains(out, want) {
			t.Errorf("version output %q lacks %q", out, want)
		}
	}
}

func TestUsageErrorsExit2(t *testing.T) {
	for _, args := range [][]string{
		{"no-such-command"},
		{"get"},
		{"get", "no-such-kind"},
		{"get", "pods", "-o", "xml"},
		{"apply"},
		{"label", "pod", "x", "bad key=1"},
	} {
		if r := trellis(t, nil, "", args...); r.code != 2 {
			t.Errorf("trellis %v: exit %d, want 2 (stderr %q)", args, r.code, r.stderr)
		}
	}
}

func TestApplyGetRoundTrip(t *testing.T) {
	env := startDatastore(t)
	mustRun(t, env, "", "apply", "-f", "testdata/roundtrip.yaml")

	out := mustRun(t, env, "", "get", "globalnetworkpolicy", "allow-dns", "-o", "yaml")
	var got map[string]any
	if err := yaml.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("get output is not YAML: %v\n%s", err, out)
	}
	meta := got["metadata"].(map[string]any)
	if meta["resourceVersion"] == nil || meta["resourceVersion"] == "" {
		t.Errorf("resourceVersion not set: %v", meta)
	}
	if meta["uid"] == nil || meta["creationTimestamp"] == nil {
		t.Errorf("server-managed metadata missing: %v", meta)
	}
	spec := got["spec"].(map[string]any)
	if spec["tier"] != "default" {
		t.Errorf("spec.tier = %v, want the default %q", spec["tier"], "default")
	}
	if types, _ := spec["types"].([]any); len(types) != 1 || types[0] != "Egress" {
		t.Errorf("spec.types = %v, want [Egress] defaulted from the rules", spec["types"])
	}

	// What get printed applies again unchanged, and reads back the same but for the version.
	mustRun(t, env, out, "apply", "-f", "-")
	again := mustRun(t, env, "", "get", "globalnetworkpolicy", "allow-dns", "-o", "yaml")
	var got2 map[string]any
	if err := yaml.Unmarshal([]byte(again), &got2); err != nil {
		t.Fatal(err)
	}
	delete(got["metadata"].(map[string]any), "resourceVersion")
	delete(got2["metadata"].(map[string]any), "resourceVersion")
	if a, b := fmt.Sprint(got), fmt.Sprint(got2); a != b {
		t.Errorf("re-applied object differs:\nfirst:  %s\nsecond: %s", a, b)
	}

	pool := mustRun(t, env, "", "get", "ippools", "-o", "yaml")
	if !strings.Contains(pool, "blockSize: 26") || !strings.Contains(pool, "nodeSelector: all()") {
		t.Errorf("IPPool defaults not filled in:\n%s", pool)
	}
	table := mustRun(t, env, "", "get", "ippool")
	if !strings.Contains(table, "10.244.0.0/16") || !strings.Contains(table, "NAME") {
		t.Errorf("table output:\n%s", table)
	}
}

func TestApplyWithOneInvalidDocumentWritesNothing(t *testing.T) {
	env := startDatastore(t)
	r := trellis(t, env, "", "apply", "-f", "testdata/one-invalid.yaml")
	if r.code == 0 {
		t.Fatalf("apply of a file with an invalid document succeeded: %s", r.stdout)
	}
	if !strings.Contains(r.stderr, "one-invalid.yaml: document 3") || !strings.Contains(r.stderr, "spec.ingress[0].action") {
		t.Errorf("error does not name the file, document and field path:\n%s", r.stderr)
	}
	for _, kind := range []string{"globalnetworkpolicies", "tiers", "networkpolicies"} {
		out := mustRun(t, env, "", "get", kind, "-A", "-o", "json")
		if strings.Contains(out, "\"name\"") {
			t.Errorf("%s written despite the invalid document:\n%s", kind, out)
		}
	}
}

func TestConcurrentWritersOneConflict(t *testing.T) {
	env := startDatastore(t)
	mustRun(t, env, "", "apply", "-f", "testdata/roundtrip.yaml")
	cur := mustRun(t, env, "", "get", "tier", "platform", "-o", "yaml")

	// Two writers start from the same resourceVersion; each changes the order.
	var wg sync.WaitGroup
	results := make([]result, 2)
	for i := range results {
		doc := strings.Replace(cur, "order: 100", fmt.Sprintf("order: %d", 200+i), 1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = trellis(t, env, doc, "replace", "-f", "-")
		}()
	}
	wg.Wait()
	ok, conflicts := 0, 0
	for _, r := range results {
		switch {
		case r.code == 0:
			ok++
		case strings.Contains(r.stderr, "conflict") && strings.Contains(r.stderr, "Tier/platform"):
			conflicts++
		default:
			t.Errorf("unexpected result: exit %d, stderr %q", r.code, r.stderr)
		}
	}
	if ok != 1 || conflicts != 1 {
		t.Fatalf("got %d successes and %d conflicts, want exactly one of each", ok, conflicts)
	}

	// Two creators of the same new object: one wins, one is told it exists.
	doc := "apiVersion: projectcalico.org/v3\nkind: Tier\nmetadata:\n  name: racers\nspec:\n  order: 5\n"
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = trellis(t, env, doc, "create", "-f", "-")
		}()
	}
	wg.Wait()
	if (results[0].code == 0) == (results[1].code == 0) {
		t.Fatalf("create race: exits %d and %d, want exactly one success", results[0].code, results[1].code)
	}
	for _, r := range results {
		if r.code != 0 && !strings.Contains(r.stderr, "already exists") {
			t.Errorf("losing create says %q, want 'already exists'", r.stderr)
		}
	}
}

func TestLabelAndDelete(t *testing.T) {
	env := startDatastore(t)
	mustRun(t, env, "", "apply", "-f", "testdata/roundtrip.yaml")
	mustRun(t, env, "", "label", "tier", "platform", "team=net")
	if out := mustRun(t, env, "", "get", "tiers", "-l", "team=net", "-o", "json"); !strings.Contains(out, "platform") {
		t.Errorf("label selector did not find the labelled tier:\n%s", out)
	}
	if out := mustRun(t, env, "", "get", "tier", "platform", "--show-labels"); !strings.Contains(out, "LABELS") || !strings.Contains(out, "team=net") {
		t.Errorf("get --show-labels:\n%s", out)
	}
	if r := trellis(t, env, "", "label", "tier", "platform", "team=other"); r.code == 0 {
		t.Errorf("changing a label without --overwrite succeeded")
	}
	mustRun(t, env, "", "label", "tier", "platform", "team-")
	if out := mustRun(t, env, "", "get", "tiers", "-l", "team", "-o", "json"); strings.Contains(out, "platform") {
		t.Errorf("label not removed:\n%s", out)
	}
	mustRun(t, env, "", "delete", "-f", "testdata/roundtrip.yaml")
	if r := trellis(t, env, "", "get", "tier", "platform"); r.code != 1 || !strings.Contains(r.stderr, "not found") {
		t.Errorf("get after delete: exit %d, stderr %q", r.code, r.stderr)
	}
	if r := trellis(t, env, "", "delete", "tier", "platform"); r.code != 1 {
		t.Errorf("delete of a missing tier: exit %d, want 1", r.code)
	}
	mustRun(t, env, "", "delete", "tier", "platform", "--ignore-not-found")
}
