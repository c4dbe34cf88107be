package ctl

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/trellisnet/trellis/internal/connectivity"
	"github.com/trellisnet/trellis/internal/store"
	"github.com/trellisnet/trellis/internal/store/memory"
)

func runPolicy(t *testing.T, args ...string) (string, error) {
	t.Helper()
	c := NewPolicyCmd(&Options{})
	var out bytes.Buffer
	c.SetOut(&out)
	c.SetErr(&out)
	c.SetArgs(args)
	err := c.Execute()
	return out.String(), err
}

func TestPolicyTraceJSON(t *testing.T) {
	const f = "testdata/policy/k8s_basic.yaml"
	tests := []struct {
		from, to, port string
		verdict        string
		egress         map[string]any
		ingress        map[string]any
	}{
		{"prod/web", "prod/db", "tcp/5432", "allow",
			map[string]any{"verdict": "allow", "tier": "default", "policy": "knp.default.web-egress", "rule": 0.0},
			map[string]any{"verdict": "allow", "tier": "default", "policy": "knp.default.db", "rule": 0.0}},
		{"dev/client", "prod/db", "tcp/5432", "deny",
			map[string]any{"verdict": "allow", "reason": "profile", "profile": "kns.dev"},
			map[string]any{"verdict": "deny", "reason": "end of tier", "tier": "default"}},
		{"dev/client", "10.0.1.2", "udp/9000", "allow",
			map[string]any{"verdict": "allow"},
			map[string]any{"verdict": "allow", "policy": "knp.default.db", "rule": 1.0}},
		{"prod/db", "prod/db", "sctp/1", "allow",
			map[string]any{"verdict": "allow", "reason": "same endpoint"},
			map[string]any{"verdict": "allow", "reason": "same endpoint"}},
	}
	for _, tc := range tests {
		t.Run(tc.from+"->"+tc.to+"/"+tc.port, func(t *testing.T) {
			out, err := runPolicy(t, "trace", "-f", f, "--from", tc.from, "--to", tc.to, "--port", tc.port, "-o", "json")
			if err != nil {
				t.Fatalf("trace: %v\n%s", err, out)
			}
			var got map[string]any
			if err := json.Unmarshal([]byte(out), &got); err != nil {
				t.Fatalf("output is not JSON: %v\n%s", err, out)
			}
			if got["verdict"] != tc.verdict {
				t.Errorf("verdict = %v, want %s\n%s", got["verdict"], tc.verdict, out)
			}
			for side, want := range map[string]map[string]any{"egress": tc.egress, "ingress": tc.ingress} {
				sub, _ := got[side].(map[string]any)
				for k, v := range want {
					if diff := cmp.Diff(v, sub[k]); diff != "" {
						t.Errorf("%s.%s (-want +got):\n%s", side, k, diff)
					}
				}
			}
		})
	}
}

func TestPolicyTraceText(t *testing.T) {
	out, err := runPolicy(t, "trace", "-f", "testdata/policy", "--from", "dev/client", "--to", "prod/db", "--port", "tcp/5432")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"profile kns.dev", "end of tier default", "verdict: deny"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestPolicyMatrixJSON(t *testing.T) {
	out, err := runPolicy(t, "matrix", "-f", "testdata/policy/k8s_basic.yaml", "--ports", "tcp/5432,udp/53", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Results []connectivity.Row `json:"results"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out)
	}
	if len(got.Results) != 2*3*3 {
		t.Fatalf("got %d results, want 18", len(got.Results))
	}
	want := map[string]string{
		"prod/web prod/db tcp/5432":    "allow",
		"dev/client prod/db tcp/5432":  "deny",
		"prod/web dev/client udp/53":   "allow",
		"prod/web dev/client tcp/5432": "deny",
		"prod/db prod/db tcp/5432":     "allow",
	}
	for _, r := range got.Results {
		if v, ok := want[r.From+" "+r.To+" "+r.Port]; ok && v != r.Verdict {
			t.Errorf("%s -> %s %s = %s, want %s", r.From, r.To, r.Port, r.Verdict, v)
		}
	}
}

func TestPolicyUsageErrors(t *testing.T) {
	tests := [][]string{
		{"trace", "-f", "testdata/policy", "--from", "prod/web", "--to", "prod/db", "--port", "http/80"},
		{"trace", "-f", "testdata/policy", "--from", "prod/web", "--to", "prod/db", "--port", "tcp/0"},
		{"trace", "-f", "testdata/policy", "--from", "prod/web", "--to", "prod/db"},
		{"trace", "-f", "testdata/policy", "--from", "web", "--to", "prod/db", "--port", "tcp/1"},
		{"matrix", "-f", "testdata/policy", "-o", "yaml"},
	}
	for _, args := range tests {
		_, err := runPolicy(t, args...)
		var ue UsageError
		if !errors.As(err, &ue) {
			t.Errorf("%v: err = %v, want a usage error", args, err)
		}
	}
	if _, err := runPolicy(t, "trace", "-f", "testdata/policy", "--from", "prod/nope", "--to", "prod/db", "--port", "tcp/1"); err == nil {
		t.Error("unknown pod: want an error")
	}
}

// TestPolicyTraceOnline reads the same scenario from a datastore instead of files.
func TestPolicyTraceOnline(t *testing.T) {
	docs, err := LoadManifests([]string{"testdata/policy/k8s_basic.yaml"}, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	st := memory.New(0)
	for _, d := range docs {
		if _, err := st.Create(context.Background(), d.Object); err != nil {
			t.Fatal(err)
		}
	}
	o := &Options{OpenStore: func(context.Context) (store.Store, error) { return st, nil }}
	c := NewPolicyCmd(o)
	var out bytes.Buffer
	c.SetOut(&out)
	c.SetErr(&out)
	c.SetArgs([]string{"trace", "--from", "dev/client", "--to", "prod/db", "--port", "udp/9000", "-o", "json"})
	if err := c.ExecuteContext(context.Background()); err != nil {
		t.Fatalf("trace: %v\n%s", err, out.String())
	}
	var got connectivity.TraceReport
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if got.Verdict != "allow" || got.Ingress.Policy != "knp.default.db" || got.Ingress.Rule == nil || *got.Ingress.Rule != 1 {
		t.Errorf("online trace = %+v, want allow by knp.default.db rule 1", got)
	}
}

// TestPolicyLenientLoad: documents that decode but fail validation (pods without containers)
// are traced with a warning; a document that does not decode is an error.
func TestPolicyLenientLoad(t *testing.T) {
	dir := t.TempDir()
	minimal := `apiVersion: v1
kind: Pod
metadata: {name: a, namespace: x, labels: {app: a}}
status: {podIP: 192.0.2.1}
---
apiVersion: v1
kind: Pod
metadata: {name: b, namespace: x, labels: {app: b}}
status: {podIP: 192.0.2.2}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny, namespace: x}
spec:
  podSelector: {matchLabels: {app: b}}
`
	if err := os.WriteFile(filepath.Join(dir, "min.yaml"), []byte(minimal), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := runPolicy(t, "trace", "-f", filepath.Join(dir, "min.yaml"), "--from", "x/a", "--to", "x/b", "--port", "tcp/80")
	if err != nil {
		t.Fatalf("trace: %v\n%s", err, out)
	}
	if !strings.Contains(out, "warning:") || !strings.Contains(out, "verdict: deny") {
		t.Errorf("want a warning and a deny verdict:\n%s", out)
	}
	if err := os.WriteFile(filepath.Join(dir, "bad.yaml"), []byte("kind: Pod\nmetadata: {name: a\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := runPolicy(t, "matrix", "-f", filepath.Join(dir, "bad.yaml")); err == nil {
		t.Error("undecodable manifest: want an error")
	}
}

func TestPolicyMatrixFamily(t *testing.T) {
	verdicts := func(family string) map[string]string {
		t.Helper()
		args := []string{"matrix", "-f", "testdata/policy-family/dual.yaml", "--ports", "tcp/80", "-o", "json"}
		if family != "" {
			args = append(args, "--family", family)
		}
		out, err := runPolicy(t, args...)
		if err != nil {
			t.Fatalf("matrix --family %q: %v\n%s", family, err, out)
		}
		var got struct {
			Results []struct {
				From, To, Verdict string
				Family            int
			} `json:"results"`
		}
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatalf("output is not JSON: %v\n%s", err, out)
		}
		m := map[string]string{}
		for _, r := range got.Results {
			m[r.From+" "+r.To+" "+fmt.Sprint(r.Family)] = r.Verdict
		}
		return m
	}
	for family, want := range map[string]map[string]string{
		"":  {"ds/p1 ds/p2 0": "allow", "ds/p3 ds/p2 0": "allow", "ds/p2 ds/p1 0": "allow"},
		"4": {"ds/p1 ds/p2 4": "allow", "ds/p3 ds/p2 4": "allow"},
		"6": {"ds/p1 ds/p2 6": "deny", "ds/p2 ds/p1 6": "allow", "ds/p3 ds/p2 6": "unknown"},
	} {
		got := verdicts(family)
		for k, v := range want {
			if got[k] != v {
				t.Errorf("--family %q: %s = %q, want %q", family, k, got[k], v)
			}
		}
	}
	if _, err := runPolicy(t, "matrix", "-f", "testdata/policy-family/dual.yaml", "--family", "5"); err == nil {
		t.Error("--family 5 accepted")
	}
}
