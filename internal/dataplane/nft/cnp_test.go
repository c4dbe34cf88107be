package nft

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/trellisnet/trellis/internal/model"
	"github.com/trellisnet/trellis/internal/policy"
)

// cnpPods places the connectivity pods for cnp.table: namespace and labels by name.
var cnpPods = map[string]struct {
	ns     string
	labels map[string]string
	ports  []policy.NamedPort
}{
	"s": {"ta", map[string]string{"app": "server"}, []policy.NamedPort{{Name: "metrics", Proto: "udp", Port: 7003}}},
	"a": {"ta", map[string]string{"app": "client"}, nil},
	"b": {"tb", map[string]string{"app": "client"}, nil},
	"c": {"free", map[string]string{"app": "free"}, nil},
}

// cnpState computes the state of cnp.table: the resources of testdata/cnp.yaml and the
// pods a, b, c and s as workload endpoints (x stays unknown).
func cnpState(t testing.TB, pods map[string]testPod) *policy.State {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "cnp.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	docs, err := model.Decode(data, "cnp.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var rs []policy.Resource
	for _, d := range docs {
		if errs := model.Validate(d.Object); len(errs) > 0 {
			t.Fatalf("%s: %v", d.Ref(), errs)
		}
		r, err := policy.FromObject(d.Object)
		if err != nil {
			t.Fatal(err)
		}
		rs = append(rs, r)
	}
	for name, p := range cnpPods {
		tp, ok := pods[name]
		if !ok {
			t.Fatalf("no pod %s", name)
		}
		rs = append(rs, &policy.EndpointInput{Kind: policy.KindWorkload, Name: p.ns + "/" + name, Namespace: p.ns,
			Interface: tp.Iface, Labels: p.labels, ServiceAccount: "default", Orchestrator: model.OrchestratorK8s,
			Profiles: []string{model.PrefixProfileNamespace + p.ns}, Addrs: hostPrefixes(tp), Ports: p.ports})
	}
	return policy.Compute(policy.Options{}, rs)
}

func TestTraceCNP(t *testing.T) {
	rows := loadConnTable(t, "cnp.table")
	a, b, c, s := testPods()
	st := cnpState(t, map[string]testPod{"a": a, "b": b, "c": c, "s": s})
	for name, cfg := range renderConfigs {
		t.Run(name, func(t *testing.T) {
			_, tab := applyFake(t, Render(cfg, st))
			checkRows(t, tab, rows, connPeers())
		})
	}
}
