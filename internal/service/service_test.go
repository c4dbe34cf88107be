package service_test

import (
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"

	"github.com/trellisnet/trellis/internal/model"
	"github.com/trellisnet/trellis/internal/service"
)

var update = flag.Bool("update", false, "rewrite golden files")

// loadInput reads a scenario: Services and EndpointSlices as YAML documents; a first line
// "# node: NAME" names the node (default node-a).
func loadInput(t *testing.T, path string) service.Input {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	in := service.Input{Node: "node-a"}
	if first, _, _ := strings.Cut(string(data), "\n"); strings.HasPrefix(first, "# node: ") {
		in.Node = strings.TrimPrefix(first, "# node: ")
	}
	docs, err := model.Decode(data, path)
	if err != nil {
		t.Fatalf("decode %s: %v", path, err)
	}
	for _, d := range docs {
		model.SetDefaults(d.Object)
		switch o := d.Object.(type) {
		case *corev1.Service:
			in.Services = append(in.Services, o)
		case *discoveryv1.EndpointSlice:
			in.Slices = append(in.Slices, o)
		default:
			t.Fatalf("%s: unexpected %T", path, o)
		}
	}
	return in
}

func TestComputeGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no scenarios: %v", err)
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".yaml")
		t.Run(name, func(t *testing.T) {
			in := loadInput(t, f)
			got := service.Compute(in).String()
			golden := strings.TrimSuffix(f, ".yaml") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("read golden (run with -update): %v", err)
			}
			if diff := cmp.Diff(string(want), got); diff != "" {
				t.Errorf("state differs from %s (-want +got):\n%s", golden, diff)
			}
			// Input order does not matter.
			rev := service.Input{Node: in.Node, Services: slices.Clone(in.Services), Slices: slices.Clone(in.Slices)}
			slices.Reverse(rev.Services)
			slices.Reverse(rev.Slices)
			if diff := cmp.Diff(got, service.Compute(rev).String()); diff != "" {
				t.Errorf("reversed input gives a different state (-in order +reversed):\n%s", diff)
			}
		})
	}
}

func TestVerdicts(t *testing.T) {
	ep := func(local bool) service.Endpoint { return service.Endpoint{Local: local} }
	tests := []struct {
		name               string
		port               service.Port
		internal, external service.Verdict
	}{
		{"no endpoints", service.Port{NodePort: 30000}, service.Reject, service.Reject},
		{"remote only, cluster", service.Port{Cluster: []service.Endpoint{ep(false)}}, service.Forward, service.Forward},
		{"remote only, etp local", service.Port{ExternalLocal: true, Cluster: []service.Endpoint{ep(false)}}, service.Forward, service.Drop},
		{"remote only, itp local", service.Port{InternalLocal: true, Cluster: []service.Endpoint{ep(false)}}, service.Drop, service.Forward},
		{"local, both local", service.Port{InternalLocal: true, ExternalLocal: true, Cluster: []service.Endpoint{ep(true)}, Local: []service.Endpoint{ep(true)}}, service.Forward, service.Forward},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.port.InternalVerdict(); got != tt.internal {
				t.Errorf("internal verdict %s, want %s", got, tt.internal)
			}
			if got := tt.port.ExternalVerdict(); got != tt.external {
				t.Errorf("external verdict %s, want %s", got, tt.external)
			}
		})
	}
}

func TestComputeSkipsNil(t *testing.T) {
	st := service.Compute(service.Input{Node: "n", Services: []*corev1.Service{nil}, Slices: []*discoveryv1.EndpointSlice{nil}})
	if len(st.Ports) != 0 || len(st.HealthChecks) != 0 {
		t.Errorf("nil inputs gave %s", st)
	}
}
