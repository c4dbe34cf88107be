package nft

import (
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"sigs.k8s.io/knftables"

	"github.com/trellisnet/trellis/internal/model"
	"github.com/trellisnet/trellis/internal/service"
)

// serviceScenarios are the service package's golden scenarios, decoded.
func serviceScenarios(t *testing.T) map[string]service.Input {
	t.Helper()
	files, err := filepath.Glob("../../service/testdata/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no service scenarios: %v", err)
	}
	out := map[string]service.Input{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		docs, err := model.Decode(data, f)
		if err != nil {
			t.Fatal(err)
		}
		in := service.Input{Node: "node-a"}
		for _, d := range docs {
			model.SetDefaults(d.Object)
			switch o := d.Object.(type) {
			case *corev1.Service:
				in.Services = append(in.Services, o)
			case *discoveryv1.EndpointSlice:
				in.Slices = append(in.Slices, o)
			}
		}
		out[strings.TrimSuffix(filepath.Base(f), ".yaml")] = in
	}
	return out
}

func TestRenderServicesGolden(t *testing.T) {
	for name, in := range serviceScenarios(t) {
		t.Run(name, func(t *testing.T) {
			st := service.Compute(in)
			got := RenderServices(Config{}, st).String()
			golden(t, "services-"+name+".golden", got)
			if again := NewServiceRenderer(Config{}).Render(st).String(); again != got {
				t.Errorf("ServiceRenderer differs from RenderServices:\n%s", cmp.Diff(got, again))
			}
		})
	}
}

func TestMergeCollision(t *testing.T) {
	a, b, c, s := testPods()
	pol := Render(Config{}, connectivityState(a, b, c, s))
	before := pol.String()
	svc := RenderServices(Config{}, nil)
	svc.Chains[ChainForwardFrom] = &Chain{Name: ChainForwardFrom}
	if err := pol.Merge(svc); err == nil {
		t.Fatal("merge with a colliding chain succeeded")
	}
	if pol.String() != before {
		t.Fatal("a failed merge changed the table")
	}
	ok := RenderServices(Config{}, nil)
	if err := pol.Merge(ok); err != nil {
		t.Fatalf("merge: %v", err)
	}
	for name := range ok.Chains {
		if pol.Chains[name] != ok.Chains[name] {
			t.Errorf("chain %s not merged", name)
		}
	}
}

// randomServiceState picks a random subset of the scenarios' services and slices.
func randomServiceState(rng *rand.Rand, all []service.Input) *service.State {
	in := service.Input{Node: "node-a"}
	for _, s := range all {
		for _, svc := range s.Services {
			if rng.IntN(3) > 0 {
				in.Services = append(in.Services, svc)
			}
		}
		for _, sl := range s.Slices {
			if rng.IntN(3) > 0 {
				in.Slices = append(in.Slices, sl)
			}
		}
	}
	return service.Compute(in)
}

func TestServicesPartialEqualsFullFake(t *testing.T) {
	ctx := context.Background()
	var all []service.Input
	for _, in := range serviceScenarios(t) {
		all = append(all, in)
	}
	a, b, c, s := testPods()
	for seed := range uint64(10) {
		rng := rand.New(rand.NewPCG(seed, 11))
		partial := knftables.NewFake(knftables.InetFamily, "trellis")
		ap := NewApplier(partial)
		sr := NewServiceRenderer(Config{})
		for step := range 10 {
			want := Render(Config{}, connectivityState(a, b, c, s))
			svcState := randomServiceState(rng, all)
			svc := sr.Render(svcState)
			if got, fresh := svc.String(), RenderServices(Config{}, svcState).String(); got != fresh {
				t.Fatalf("seed %d step %d: ServiceRenderer differs from RenderServices:\n%s", seed, step, cmp.Diff(fresh, got))
			}
			if err := want.Merge(svc); err != nil {
				t.Fatal(err)
			}
			if _, err := ap.Apply(ctx, want); err != nil {
				t.Fatalf("seed %d step %d: apply: %v", seed, step, err)
			}
			fresh := knftables.NewFake(knftables.InetFamily, "trellis")
			if _, err := NewApplier(fresh).Apply(ctx, want); err != nil {
				t.Fatalf("seed %d step %d: fresh full sync: %v", seed, step, err)
			}
			if diff := cmp.Diff(fakeDump(fresh), fakeDump(partial)); diff != "" {
				t.Fatalf("seed %d step %d: partial != full (-full +partial):\n%s", seed, step, diff)
			}
		}
	}
}

func TestServiceRendererUnchangedIsEmpty(t *testing.T) {
	ctx := context.Background()
	in := serviceScenarios(t)["external"]
	f := knftables.NewFake(knftables.InetFamily, "trellis")
	ap := NewApplier(f)
	sr := NewServiceRenderer(Config{})
	if _, err := ap.Apply(ctx, sr.Render(service.Compute(in))); err != nil {
		t.Fatal(err)
	}
	res, err := ap.Apply(ctx, sr.Render(service.Compute(in)))
	if err != nil {
		t.Fatal(err)
	}
	if res.Operations != 0 {
		t.Fatalf("unchanged services: %d operations, want 0", res.Operations)
	}
}
