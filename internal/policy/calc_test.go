package policy

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"sigs.k8s.io/yaml"

	"github.com/trellisnet/trellis/internal/model"
)

var update = flag.Bool("update", false, "rewrite golden files")

// scenario is one testdata/calc file: YAML resources and trace queries.
type scenario struct {
	resources []Resource
	traces    []string
}

func loadScenario(t *testing.T, path string) scenario {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	text, traces, _ := strings.Cut(string(data), "#### trace\n")
	var sc scenario
	for _, l := range strings.Split(traces, "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			sc.traces = append(sc.traces, l)
		}
	}
	for i, doc := range strings.Split(text, "\n---\n") {
		var head struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
		}
		if err := yaml.Unmarshal([]byte(doc), &head); err != nil {
			t.Fatalf("%s: document %d: %v", path, i, err)
		}
		if head.Kind == "" {
			continue
		}
		k, ok := model.Lookup(head.APIVersion, head.Kind)
		if !ok {
			t.Fatalf("%s: document %d: unknown kind %s %s", path, i, head.APIVersion, head.Kind)
		}
		obj := k.New()
		if err := yaml.UnmarshalStrict([]byte(doc), obj); err != nil {
			t.Fatalf("%s: document %d: %v", path, i, err)
		}
		r, err := FromObject(obj)
		if err != nil {
			t.Fatalf("%s: document %d: %v", path, i, err)
		}
		if r != nil {
			sc.resources = append(sc.resources, r)
		}
	}
	return sc
}

// runTraces evaluates "FROM TO PROTO/PORT" lines (FROM/TO: ns/pod, host/NAME or an IP).
func runTraces(t *testing.T, st *State, lines []string) string {
	t.Helper()
	var b strings.Builder
	for _, l := range lines {
		f := strings.Fields(l)
		if len(f) != 3 {
			t.Fatalf("bad trace line %q", l)
		}
		src, dst := traceAddr(t, st, f[0], f[1]), traceAddr(t, st, f[1], f[0])
		proto, port, _ := strings.Cut(f[2], "/")
		n, _ := strconv.Atoi(port)
		r := Trace(st, Packet{Src: src, Dst: dst, Proto: proto, Port: uint16(n)})
		fmt.Fprintf(&b, "%s => %s\n  egress  %s\n  ingress %s\n", l, r.Verdict, r.Egress, r.Ingress)
		for _, lg := range append(r.Egress.Logged, r.Ingress.Logged...) {
			fmt.Fprintf(&b, "  logged %s\n", lg)
		}
		for _, p := range append(r.Egress.Passed, r.Ingress.Passed...) {
			fmt.Fprintf(&b, "  passed %s\n", p)
		}
	}
	return b.String()
}

// traceAddr resolves ref to an address, of the family of other when other is an address.
func traceAddr(t *testing.T, st *State, ref, other string) netip.Addr {
	t.Helper()
	if a, err := netip.ParseAddr(ref); err == nil {
		return a
	}
	want6 := false
	if a, err := netip.ParseAddr(other); err == nil {
		want6 = a.Is6()
	}
	kind, name := KindWorkload, ref
	if n, ok := strings.CutPrefix(ref, "host/"); ok {
		kind, name = KindHost, n
	}
	ep, ok := st.Endpoint(kind, name)
	if !ok || len(ep.Addrs) == 0 {
		t.Fatalf("trace: no endpoint %q with an address", ref)
	}
	for _, p := range ep.Addrs {
		if p.Addr().Is6() == want6 {
			return p.Addr()
		}
	}
	return ep.Addrs[0].Addr()
}

func scenarioFiles(t *testing.T) []string {
	files, err := filepath.Glob("testdata/calc/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no scenarios: %v", err)
	}
	return files
}

// TestCalcGolden computes every scenario from scratch and compares the canonical state and
// the trace results with the golden file (go test -run TestCalcGolden -update rewrites them).
func TestCalcGolden(t *testing.T) {
	for _, file := range scenarioFiles(t) {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".txt"), func(t *testing.T) {
			sc := loadScenario(t, file)
			st := Compute(Options{}, sc.resources)
			got := st.String() + "#### trace\n" + runTraces(t, st, sc.traces)
			golden := strings.TrimSuffix(file, ".txt") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if diff := cmp.Diff(string(want), got); diff != "" {
				t.Errorf("state mismatch (-golden +got):\n%s", diff)
			}
		})
	}
}

// TestIncrementalEqualsFromScratch feeds every scenario shuffled, reversed and with churn
// (each resource first added in a perturbed form, deleted, re-added and finally set) and
// requires the same State as the from-scratch calculation.
func TestIncrementalEqualsFromScratch(t *testing.T) {
	for _, file := range scenarioFiles(t) {
		sc := loadScenario(t, file)
		want := Compute(Options{}, sc.resources)
		name := strings.TrimSuffix(filepath.Base(file), ".txt")
		orders := map[string][]Resource{"reversed": reversed(sc.resources)}
		rng := rand.New(rand.NewPCG(1, uint64(len(sc.resources))))
		for i := range 5 {
			s := append([]Resource(nil), sc.resources...)
			rng.Shuffle(len(s), func(a, b int) { s[a], s[b] = s[b], s[a] })
			orders[fmt.Sprintf("shuffled%d", i)] = s
		}
		for order, rs := range orders {
			t.Run(name+"/"+order, func(t *testing.T) {
				c := NewCalculator(Options{})
				for _, r := range rs {
					c.Update(r)
				}
				if diff := cmp.Diff(want, c.State(), stateCmp); diff != "" {
					t.Errorf("incremental != from scratch (-want +got):\n%s", diff)
				}
			})
		}
		t.Run(name+"/churn", func(t *testing.T) {
			c := NewCalculator(Options{})
			rs := reversed(sc.resources)
			for _, r := range rs {
				c.Update(perturb(r))
			}
			c.State() // fill the member caches, which the rest must invalidate
			for i, r := range rs {
				if i%2 == 0 {
					c.Delete(r.Key())
				}
			}
			for i, r := range sc.resources {
				c.Update(perturb(r))
				if i%3 == 0 {
					c.State()
				}
				c.Update(r)
			}
			c.Changes()
			if diff := cmp.Diff(want, c.State(), stateCmp); diff != "" {
				t.Errorf("after churn != from scratch (-want +got):\n%s", diff)
			}
		})
	}
}

func reversed(rs []Resource) []Resource {
	out := make([]Resource, len(rs))
	for i, r := range rs {
		out[len(rs)-1-i] = r
	}
	return out
}

// perturb returns a different version of r with the same key.
func perturb(r Resource) Resource {
	switch r := r.(type) {
	case *EndpointInput:
		c := *r
		c.Labels = map[string]string{"perturbed": "yes"}
		c.Addrs = []netip.Prefix{netip.MustParsePrefix("203.0.113.99/32")}
		return &c
	case *Namespace:
		return &Namespace{Name: r.Name, Labels: map[string]string{"perturbed": "yes"}}
	case *PolicyInput:
		c := *r
		c.Selector = "perturbed == 'yes'"
		c.Ingress = []model.Rule{{Action: model.Allow, Source: model.EntityRule{Selector: "has(perturbed)"}}}
		return &c
	case *NetworkSet:
		c := *r
		c.Labels = nil
		return &c
	case *Tier:
		o := 1.0
		return &Tier{Name: r.Name, Order: &o, DefaultPass: !r.DefaultPass}
	}
	return r
}

// stateCmp lets go-cmp compare the netip values inside a State.
var stateCmp = cmpopts.EquateComparable(netip.Prefix{}, netip.Addr{})
