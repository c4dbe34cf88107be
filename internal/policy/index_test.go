package policy

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/trellisnet/trellis/internal/model"
)

func testEndpoint(ns, name, addr string, labels map[string]string) *EndpointInput {
	return &EndpointInput{Kind: KindWorkload, Name: ns + "/" + name, Namespace: ns, Node: "n1", Labels: labels,
		ServiceAccount: "default", Profiles: defaultProfiles(ns, "default"),
		Addrs: []netip.Prefix{netip.MustParsePrefix(addr)}}
}

func ruleFrom(sel string) []model.Rule {
	return []model.Rule{{Action: model.Allow, Source: model.EntityRule{Selector: sel}}}
}

// TestLabelChangeUpdatesOnlyAffectedSets: moving one endpoint from app=a to app=b changes
// exactly the two sets that select on those values, and re-evaluates only candidates.
func TestLabelChangeUpdatesOnlyAffectedSets(t *testing.T) {
	c := NewCalculator(Options{})
	c.Update(&Namespace{Name: "x"})
	c.Update(&Namespace{Name: "y"})
	c.Update(testEndpoint("x", "p1", "192.0.2.1/32", map[string]string{"app": "a"}))
	c.Update(testEndpoint("x", "p2", "192.0.2.2/32", map[string]string{"app": "c"}))
	c.Update(&PolicyInput{ID: PolicyID{Kind: PolicyNamespaced, Namespace: "x", Name: "pa"}, Selector: "app == 'c'",
		Ingress: ruleFrom("app == 'a'")})
	c.Update(&PolicyInput{ID: PolicyID{Kind: PolicyNamespaced, Namespace: "x", Name: "pb"}, Selector: "app == 'c'",
		Ingress: ruleFrom("app == 'b'")})
	c.Update(&PolicyInput{ID: PolicyID{Kind: PolicyNamespaced, Namespace: "x", Name: "pz"}, Selector: "app == 'c'",
		Ingress: ruleFrom("app == 'z'")})
	// Many policies in another namespace: an update in x must not evaluate their selectors.
	for i := range 200 {
		c.Update(&PolicyInput{ID: PolicyID{Kind: PolicyNamespaced, Namespace: "y", Name: fmt.Sprintf("p%d", i)},
			Selector: fmt.Sprintf("app == 'q%d'", i), Ingress: ruleFrom(fmt.Sprintf("app == 'r%d'", i))})
	}
	st := c.State()
	setOf := func(pol string) string {
		p, _ := st.Policy(PolicyID{Kind: PolicyNamespaced, Namespace: "x", Name: pol})
		return p.Ingress[0].Source.IPSets[0]
	}
	setA, setB := setOf("pa"), setOf("pb")
	c.Changes()

	before := c.idx.evals
	c.Update(testEndpoint("x", "p1", "192.0.2.1/32", map[string]string{"app": "b"}))
	evals := c.idx.evals - before
	d := c.Changes()
	want := []string{setA, setB}
	if setB < setA {
		want = []string{setB, setA}
	}
	if diff := cmp.Diff(want, d.IPSets); diff != "" {
		t.Errorf("changed sets (-want +got):\n%s", diff)
	}
	if evals > 10 {
		t.Errorf("label change evaluated %d expressions, want only the few candidates", evals)
	}
	st = c.State()
	a, _ := st.IPSet(setA)
	b, _ := st.IPSet(setB)
	if len(a.Members) != 0 || len(b.Members) != 1 || b.Members[0].Prefix.String() != "192.0.2.1/32" {
		t.Errorf("after move: set a=%v set b=%v", a.Members, b.Members)
	}
}

// TestChangesReportsSelectedEndpoints: a policy add marks exactly the local endpoints it
// selects; a node filter keeps remote endpoints out of the state and the delta.
func TestChangesReportsSelectedEndpoints(t *testing.T) {
	c := NewCalculator(Options{Node: "n1"})
	c.Update(&Namespace{Name: "x"})
	c.Update(testEndpoint("x", "p1", "192.0.2.1/32", map[string]string{"app": "a"}))
	c.Update(testEndpoint("x", "p2", "192.0.2.2/32", map[string]string{"app": "b"}))
	remote := testEndpoint("x", "p3", "192.0.2.3/32", map[string]string{"app": "a"})
	remote.Node = "n2"
	c.Update(remote)
	c.Changes()
	c.Update(&PolicyInput{ID: PolicyID{Kind: PolicyNamespaced, Namespace: "x", Name: "pa"}, Selector: "app == 'a'",
		Ingress: ruleFrom("app == 'b'")})
	d := c.Changes()
	if diff := cmp.Diff([]string{"workload/x/p1"}, d.Endpoints); diff != "" {
		t.Errorf("changed endpoints (-want +got):\n%s", diff)
	}
	st := c.State()
	if len(st.Endpoints) != 2 {
		t.Errorf("local endpoints = %d, want 2 (p3 is on n2)", len(st.Endpoints))
	}
}
