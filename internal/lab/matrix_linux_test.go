package lab

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trellisnet/trellis/internal/connectivity"
)

// manyPodsPolicy denies everything in namespace default but ingress from pods p1-p5 on
// tcp/80, so most pairs of a large matrix are denied (dropped) and a few allowed.
const manyPodsPolicy = `apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: few-clients, namespace: default}
spec:
  selector: all()
  types: [Ingress]
  ingress:
  - action: Allow
    protocol: TCP
    source: {selector: "app in {'p1', 'p2', 'p3', 'p4', 'p5'}"}
    destination: {ports: [80]}
`

// spreadNodes names node1..nodeK round-robin for n pods.
func spreadNodes(n, nodes int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("node%d", i%nodes+1)
	}
	return out
}

// applyManyPods applies n demo server pods spread over the lab's nodes and the policy,
// and waits (up to 2 minutes) until every pod runs.
func applyManyPods(t testing.TB, name string, n, nodes int) {
	f := filepath.Join(t.TempDir(), "pods.yaml")
	if err := os.WriteFile(f, []byte(serverPods(spreadNodes(n, nodes)...)+"---\n"+manyPodsPolicy), 0o644); err != nil {
		t.Fatal(err)
	}
	mustRun(t, name, "apply", "-f", f)
	deadline := time.Now().Add(2 * time.Minute)
	for {
		out := run(t, name, "get", "pods", "-o", "jsonpath={.items[*].status.phase}").stdout
		if strings.Count(out, "Running") == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("pods not running after 2 minutes: %s", out)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// A matrix of 30 pods over three nodes, most pairs dropped by policy: the packets agree
// with the calculation (the short first timeout and the confirming retry never turn a slow
// answer into a deny).
func TestMatrixManyPods(t *testing.T) {
	needRoot(t)
	name := newLab(t, 3)
	applyManyPods(t, name, 30, 3)
	r := run(t, name, "lab", "matrix", "--name", name, "-n", "default", "--compare", "-o", "json")
	if r.code != 0 || !strings.Contains(r.stderr, "no disagreement") {
		t.Fatalf("lab matrix --compare: exit %d\n%s", r.code, r.stderr)
	}
	var out struct{ Results []connectivity.Row }
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatalf("lab matrix -o json: %v\n%s", err, r.stdout)
	}
	// 5 clients to 29 others. A pod with itself is left out: Compare skips it, and a pod
	// may run before its server listens (the lab's pods have no readiness probe).
	allowed := 0
	for _, row := range out.Results {
		if row.From != row.To && row.Verdict == connectivity.VerdictAllow {
			allowed++
		}
	}
	if want := 5 * 29; allowed != want || len(out.Results) != 30*30 {
		t.Errorf("%d allowed pairs of %d, want %d of %d", allowed, len(out.Results), want, 30*30)
	}
}

// BenchmarkMatrix100Pods times `lab matrix --compare` over 100 pods in one namespace on
// three nodes (9,900 pairs, most dropped by policy). Root only; bench/lab/run.sh runs it.
func BenchmarkMatrix100Pods(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("the lab needs root")
	}
	name := "trlbenchmx"
	b.Cleanup(func() { run(b, name, "lab", "down", "--name", name) })
	mustRun(b, name, "lab", "up", "--name", name, "--nodes", "3")
	applyManyPods(b, name, 100, 3)
	b.ResetTimer()
	for b.Loop() {
		r := run(b, name, "lab", "matrix", "--name", name, "-n", "default", "--compare", "-o", "json")
		if r.code != 0 {
			b.Fatalf("lab matrix: exit %d\n%s", r.code, r.stderr)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Seconds())/float64(b.N), "s/matrix")
}
