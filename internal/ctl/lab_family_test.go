package ctl

import (
	"bytes"
	"context"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/trellisnet/trellis/internal/store"
	"github.com/trellisnet/trellis/internal/store/memory"
)

const dualStackFixture = `apiVersion: v1
kind: Namespace
metadata: {name: default}
---
apiVersion: v1
kind: Pod
metadata: {name: p1, namespace: default, labels: {app: p1}}
spec: {nodeName: node1, containers: [{name: web, image: trellis}]}
status: {phase: Running, podIP: 10.244.0.1, podIPs: [{ip: 10.244.0.1}, {ip: "2001:db8:244::1"}]}
---
apiVersion: v1
kind: Pod
metadata: {name: p2, namespace: default, labels: {app: p2}}
spec: {nodeName: node2, containers: [{name: web, image: trellis}]}
status: {phase: Running, podIP: 10.244.1.1, podIPs: [{ip: 10.244.1.1}, {ip: "2001:db8:244:1::1"}]}
---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: web-v4-only, namespace: default}
spec:
  selector: app == 'p2'
  types: [Ingress]
  ingress:
  - {action: Allow, protocol: TCP, ipVersion: 4, destination: {ports: [80]}}
`

// TestCompareFamilyMatrix: the calculation is asked per family, so an IPv4-only rule
// allows p1 -> p2 over IPv4 and denies it over IPv6, and a probe disagreeing on IPv6
// alone is reported with its family.
func TestCompareFamilyMatrix(t *testing.T) {
	f := filepath.Join(t.TempDir(), "dual.yaml")
	if err := os.WriteFile(f, []byte(dualStackFixture), 0o644); err != nil {
		t.Fatal(err)
	}
	docs, err := LoadManifests([]string{f}, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	st := memory.New(0)
	for _, d := range docs {
		if _, err := st.Create(context.Background(), d.Object); err != nil {
			t.Fatal(err)
		}
	}
	open := func(context.Context) (store.Store, error) { return nopClose{st}, nil }
	o := &Options{OpenStore: open}
	res := func(from, to string, fam int, v string) labMatrixResult {
		return labMatrixResult{matrixResult{From: "default/" + from, To: "default/" + to, Port: "tcp/80", Verdict: v}, fam}
	}
	truth := []labMatrixResult{res("p1", "p2", 4, "allow"), res("p1", "p2", 6, "deny"),
		res("p2", "p1", 4, "allow"), res("p2", "p1", 6, "allow"), res("p1", "p2", 0, "allow")}
	for _, tc := range []struct {
		name  string
		flip  int // index of truth to flip, -1 none
		diffs string
	}{
		{"agreement", -1, ""},
		{"IPv6 disagreement", 1, "default/p1 -> default/p2 tcp/80 IPv6: packets allow, calculation deny"},
		{"IPv4 disagreement", 0, "default/p1 -> default/p2 tcp/80 IPv4: packets deny, calculation allow"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			probed := append([]labMatrixResult(nil), truth...)
			if tc.flip >= 0 {
				probed[tc.flip].Verdict = map[string]string{"allow": "deny", "deny": "allow"}[probed[tc.flip].Verdict]
			}
			var out bytes.Buffer
			err := compareFamilyMatrix(context.Background(), o, open, probed, &out, io.Discard)
			if (err != nil) != (tc.diffs != "") {
				t.Fatalf("err %v, want disagreement %q\n%s", err, tc.diffs, out.String())
			}
			if tc.diffs == "" && !strings.Contains(out.String(), "no disagreement") {
				t.Errorf("output %q", out.String())
			}
			if tc.diffs != "" && !strings.Contains(out.String(), "1 disagreements:\n  "+tc.diffs+"\n") {
				t.Errorf("output %q, want the disagreement %q", out.String(), tc.diffs)
			}
		})
	}
}

func TestMatrixFamilies(t *testing.T) {
	v4, v6 := netip.MustParseAddr("10.244.0.1"), netip.MustParseAddr("2001:db8:244::1")
	dual := map[string][]netip.Addr{"a/x": {v4, v6}, "a/y": {v4, v6}}
	mixed := map[string][]netip.Addr{"a/x": {v4, v6}, "a/y": {v4}}
	for _, tc := range []struct {
		name  string
		flag  string
		addrs map[string][]netip.Addr
		want  []int
		err   string
	}{
		{"default dual-stack", "", dual, []int{4, 6}, ""},
		{"default with an IPv4-only pod", "", mixed, []int{4}, ""},
		{"explicit 6", "6", dual, []int{6}, ""},
		{"explicit all", "all", dual, []int{4, 6}, ""},
		{"6 but a pod lacks it", "6", mixed, nil, "pod a/y has no IPv6 address"},
		{"invalid", "5", dual, nil, "invalid family"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := matrixFamilies(tc.flag, []string{"a/x", "a/y"}, tc.addrs)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("families (-want +got):\n%s", d)
			}
		})
	}
}
