package policy

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/trellisnet/trellis/internal/model"
)

// nsWorld is a small random cluster for namespace-label churn: members that see exactly
// their namespace's labels and members that do not (own pcns.* labels, a profile passing
// pcns.* labels, another namespace's profile, no namespace profile, a user profile
// shadowing kns.<ns>), network sets, and selectors reading namespace labels through a
// namespaceSelector and directly.
type nsWorld struct {
	rng        *rand.Rand
	namespaces map[string]*Namespace
	fixed      []Resource
}

var nsNames = []string{"n0", "n1", "n2", "n3"}

func (w *nsWorld) randomLabels() map[string]string {
	l := map[string]string{}
	if w.rng.IntN(4) != 0 {
		l["team"] = []string{"a", "b", "c"}[w.rng.IntN(3)]
	}
	if w.rng.IntN(2) == 0 {
		l["env"] = []string{"x", "y"}[w.rng.IntN(2)]
	}
	if w.rng.IntN(3) == 0 {
		l["tier"] = "gold"
	}
	return l
}

func newNSWorld(seed uint64) *nsWorld {
	w := &nsWorld{rng: rand.New(rand.NewPCG(seed, 7)), namespaces: map[string]*Namespace{}}
	for _, ns := range nsNames {
		w.namespaces[ns] = &Namespace{Name: ns, Labels: w.randomLabels()}
	}
	w.fixed = append(w.fixed,
		&ProfileInput{Name: "pass-team", LabelsToApply: map[string]string{"pcns.team": "b"}},
		&ProfileInput{Name: "plain", LabelsToApply: map[string]string{"x": "1"}},
		&ProfileInput{Name: "kns.n3", LabelsToApply: map[string]string{"pcns.team": "c"}},
	)
	for i := range 40 {
		ns := nsNames[i%len(nsNames)]
		ep := &EndpointInput{Kind: KindWorkload, Name: fmt.Sprintf("%s/p%d", ns, i), Namespace: ns, Node: "node-0",
			Labels:   map[string]string{"app": []string{"web", "db"}[i%2]},
			Profiles: []string{"kns." + ns},
			Addrs:    []netip.Prefix{netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 0, byte(i / 250), byte(i%250 + 1)}), 32)}}
		switch i % 8 {
		case 1:
			ep.Labels["pcns.env"] = "own"
		case 2:
			ep.Profiles = []string{"pass-team", "kns." + ns}
		case 3:
			ep.Profiles = []string{"kns." + nsNames[(i+1)%len(nsNames)]}
		case 4:
			ep.Profiles = nil
		case 5:
			ep.Profiles = []string{"kns." + ns, "plain"}
		}
		w.fixed = append(w.fixed, ep)
	}
	for i, ns := range nsNames {
		set := &NetworkSet{Namespace: ns, Name: "ext", Labels: map[string]string{"app": "web"},
			Nets: []netip.Prefix{netip.PrefixFrom(netip.AddrFrom4([4]byte{198, 51, 100, byte(i + 1)}), 32)}}
		if i == 1 {
			set.Labels["pcns.team"] = "a"
		}
		w.fixed = append(w.fixed, set)
	}
	nsSels := []string{"team == 'a'", "team == 'b' && env == 'x'", "has(tier)", "!has(team)", "env in {'x', 'y'}", "all()"}
	for i, nsSel := range nsSels {
		w.fixed = append(w.fixed,
			&PolicyInput{ID: PolicyID{Kind: PolicyGlobal, Name: fmt.Sprintf("g%d", i)}, Tier: "default",
				Selector: []string{"app == 'web'", "app == 'db'", ""}[i%3], NamespaceSelector: nsSel,
				Ingress: []model.Rule{{Action: model.Allow, Source: model.EntityRule{Selector: "app == 'web'", NamespaceSelector: nsSel}}}},
			&PolicyInput{ID: PolicyID{Kind: PolicyNamespaced, Namespace: nsNames[i%len(nsNames)], Name: fmt.Sprintf("p%d", i)},
				Tier: "default", Selector: "pcns.team == 'a' || app == 'db'",
				Egress: []model.Rule{{Action: model.Allow, Destination: model.EntityRule{Selector: "pcns.env == 'x'", NamespaceSelector: "all()"}}}},
		)
	}
	return w
}

func (w *nsWorld) resources() []Resource {
	rs := append([]Resource(nil), w.fixed...)
	for _, ns := range nsNames {
		if n := w.namespaces[ns]; n != nil {
			rs = append(rs, n)
		}
	}
	return rs
}

// TestNamespaceLabelChurnEqualsFromScratch changes, deletes and re-creates namespaces'
// labels at random and requires the incremental State to equal Compute after every step.
func TestNamespaceLabelChurnEqualsFromScratch(t *testing.T) {
	for seed := range uint64(4) {
		w := newNSWorld(seed)
		c := NewCalculator(Options{Node: "node-0"})
		for _, r := range w.resources() {
			c.Update(r)
		}
		for step := range 60 {
			ns := nsNames[w.rng.IntN(len(nsNames))]
			switch {
			case w.rng.IntN(6) == 0 && w.namespaces[ns] != nil:
				w.namespaces[ns] = nil
				c.Delete(Key{Kind: KeyNamespace, Name: ns})
			default:
				n := &Namespace{Name: ns, Labels: w.randomLabels()}
				w.namespaces[ns] = n
				c.Update(n)
			}
			if step%3 == 0 {
				c.Changes()
			}
			want := Compute(Options{Node: "node-0"}, w.resources())
			if diff := cmp.Diff(want, c.State(), stateCmp); diff != "" {
				t.Fatalf("seed %d step %d (%s): incremental != from scratch (-want +got):\n%s", seed, step, ns, diff)
			}
		}
	}
}

// TestNamespaceLabelChangeEvaluatesOnlyFlipped checks that a namespace label change that
// no namespace selector's answer depends on evaluates nothing, and one that flips a
// selector evaluates only that selector's candidates in the namespace.
func TestNamespaceLabelChangeEvaluatesOnlyFlipped(t *testing.T) {
	c := NewCalculator(Options{Node: "node-0"})
	c.Update(&Namespace{Name: "x", Labels: map[string]string{"team": "a"}})
	for i := range 50 {
		c.Update(&EndpointInput{Kind: KindWorkload, Name: fmt.Sprintf("x/p%d", i), Namespace: "x", Node: "node-0",
			Labels: map[string]string{"app": fmt.Sprint(i % 10)}, Profiles: []string{"kns.x"}})
	}
	c.Update(&PolicyInput{ID: PolicyID{Kind: PolicyGlobal, Name: "g"}, Tier: "default", Selector: "app == '3'", NamespaceSelector: "team == 'b'"})
	c.State()
	before := c.idx.evals
	c.Update(&Namespace{Name: "x", Labels: map[string]string{"team": "a", "other": "1"}})
	if n := c.idx.evals - before; n != 0 {
		t.Errorf("unrelated namespace label: %d evaluations, want 0", n)
	}
	before = c.idx.evals
	c.Update(&Namespace{Name: "x", Labels: map[string]string{"team": "b"}})
	if n := c.idx.evals - before; n != 5 {
		t.Errorf("flipping namespace selector: %d evaluations, want 5 (the members carrying app=3)", n)
	}
	if got := len(c.State().Endpoints); got != 50 {
		t.Fatalf("endpoints: %d", got)
	}
}

// TestScenarioNamespaceLabelChurn gives every namespace of every calculation scenario the
// labels of each other namespace in turn (and none), then its own again: the State must
// equal the from-scratch calculation at the end and after each step must equal Compute
// over the resources as they are then.
func TestScenarioNamespaceLabelChurn(t *testing.T) {
	for _, file := range scenarioFiles(t) {
		sc := loadScenario(t, file)
		var nss []*Namespace
		for _, r := range sc.resources {
			if ns, ok := r.(*Namespace); ok {
				nss = append(nss, ns)
			}
		}
		c := NewCalculator(Options{})
		for _, r := range sc.resources {
			c.Update(r)
		}
		current := map[string]*Namespace{}
		for _, ns := range nss {
			current[ns.Name] = ns
		}
		resources := func() []Resource {
			var out []Resource
			for _, r := range sc.resources {
				if ns, ok := r.(*Namespace); ok {
					r = current[ns.Name]
				}
				out = append(out, r)
			}
			return out
		}
		for _, ns := range nss {
			variants := []map[string]string{nil}
			for _, other := range nss {
				variants = append(variants, other.Labels)
			}
			for i, labels := range append(variants, ns.Labels) {
				current[ns.Name] = &Namespace{Name: ns.Name, Labels: labels}
				c.Update(current[ns.Name])
				if diff := cmp.Diff(Compute(Options{}, resources()), c.State(), stateCmp); diff != "" {
					t.Fatalf("%s: namespace %s variant %d: incremental != from scratch:\n%s", file, ns.Name, i, diff)
				}
			}
		}
		if diff := cmp.Diff(Compute(Options{}, sc.resources), c.State(), stateCmp); diff != "" {
			t.Fatalf("%s: after churn != from scratch:\n%s", file, diff)
		}
	}
}
