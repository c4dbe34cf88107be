package archtest

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

const mod = "github.com/trellisnet/trellis/"

// layers are the house's layering rules (docs/ARCHITECTURE.md, "Packages").
var layers = []Layer{
	{
		Name:      "the CLI's datastore verbs import no daemon",
		Packages:  []string{mod + "internal/ctl/..."},
		Forbidden: []string{mod + "internal/lab/...", mod + "internal/agent/...", mod + "internal/controller/...", mod + "internal/dns/...", mod + "internal/demo/...", mod + "internal/cni"},
	},
	{
		Name:      "only the binary imports the CNI plugin",
		Packages:  []string{mod + "..."},
		Except:    []string{mod + "cmd/trellis", mod + "internal/cni/..."},
		Forbidden: []string{mod + "internal/cni"},
	},
	{
		Name:      "the lab reaches daemons as processes, through their API packages only",
		Packages:  []string{mod + "internal/lab/..."},
		Forbidden: []string{mod + "internal/agent", mod + "internal/dns", mod + "internal/cni", mod + "internal/ctl/..."},
	},
	{
		Name:      "controllers import no node-side daemon",
		Packages:  []string{mod + "internal/controller/..."},
		Forbidden: []string{mod + "internal/agent", mod + "internal/cni", mod + "internal/lab/...", mod + "internal/ctl/..."},
	},
	{
		Name: "the pure core reaches no edge",
		Packages: []string{mod + "internal/selector/...", mod + "internal/model/...", mod + "internal/policy", mod + "internal/ipam",
			mod + "internal/service/...", mod + "internal/route/...", mod + "internal/connectivity/..."},
		Forbidden: []string{mod + "internal/store/etcd/...", mod + "internal/store/embed/...", mod + "internal/dataplane/...",
			mod + "internal/bgp/...", mod + "internal/netns/...", mod + "internal/cni/...", mod + "internal/agent/...",
			mod + "internal/lab/...", mod + "internal/ctl/...", mod + "internal/controller/...", mod + "internal/dns/...",
			mod + "internal/testnet/...", mod + "internal/ipam/ipamstore/...",
			"github.com/vishvananda/netlink", "sigs.k8s.io/knftables", "go.etcd.io/etcd/client/v3"},
	},
}

func TestLayers(t *testing.T) {
	deps, err := ModuleDeps("../..")
	if err != nil {
		t.Fatal(err)
	}
	if len(deps) < 20 {
		t.Fatalf("go list found %d packages: not the module root?", len(deps))
	}
	for _, v := range LayerViolations(deps, layers) {
		t.Error(v)
	}
}

func TestLayerViolations(t *testing.T) {
	deps := map[string][]string{
		"m/ctl":       {"fmt", "m/model", "m/lab/api"},
		"m/ctl/sub":   {"m/agent"},
		"m/lab":       {"m/agent/api", "m/model"},
		"m/lab/x":     {"m/agent"},
		"m/cmd":       {"m/cni"},
		"m/other":     {"m/cni", "m/cni/pluginproc"},
		"m/cni":       {"m/cni/pluginproc"},
		"m/agent/api": {"fmt"},
	}
	got := LayerViolations(deps, []Layer{
		{Name: "no lab", Packages: []string{"m/ctl/..."}, Forbidden: []string{"m/lab", "m/agent/..."}},
		{Name: "no agent", Packages: []string{"m/lab/..."}, Forbidden: []string{"m/agent"}},
		{Name: "only cmd", Packages: []string{"m/..."}, Except: []string{"m/cmd", "m/cni/..."}, Forbidden: []string{"m/cni"}},
	})
	want := []string{
		"m/ctl/sub depends on m/agent: no lab",
		"m/lab/x depends on m/agent: no agent",
		"m/other depends on m/cni: only cmd",
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("violations (-want +got):\n%s", d)
	}
}
