package nft

import (
	"maps"
	"reflect"
	"slices"

	"github.com/trellisnet/trellis/internal/service"
)

// ServiceRenderer renders successive service states incrementally: a service port whose
// state did not change reuses its chains and elements from the previous render; a fixed
// map or set (RenderServices' svc-addr4, svc-hairpin4, ...) that no changed port
// contributes to differently is last render's very object; and every other chain and set
// equal to last render's is handed out as the same object. A partial plan skips reused
// objects by identity, so an endpoint change costs about the chains and elements it
// changes. Its output equals RenderServices'. Not safe for concurrent use.
type ServiceRenderer struct {
	cfg   Config
	last  *Table
	frags map[string]svcFragment
}

// svcFragment is one service port's rendering: its chains and affinity sets, and the
// elements it adds to the fixed maps and sets.
type svcFragment struct {
	port service.Port
	t    *Table
}

// NewServiceRenderer returns a ServiceRenderer with nothing rendered yet.
func NewServiceRenderer(cfg Config) *ServiceRenderer {
	return &ServiceRenderer{cfg: cfg.withDefaults(), frags: map[string]svcFragment{}}
}

// Render is RenderServices(cfg, st), reusing the previous call's work and objects.
func (sr *ServiceRenderer) Render(st *service.State) *Table {
	t := RenderServices(sr.cfg, nil)
	fixed := map[string]bool{}
	for name := range t.Sets {
		fixed[name] = true
	}
	// touched: fixed sets whose elements from some port changed (all of them the first
	// time).
	touched := map[string]bool{}
	if sr.last == nil {
		maps.Copy(touched, fixed)
	}
	var ports []*service.Port
	if st != nil {
		for i := range st.Ports {
			ports = append(ports, &st.Ports[i])
		}
	}
	next := make(map[string]svcFragment, len(ports))
	order := make([]string, 0, len(ports))
	for _, p := range ports {
		id := p.ID()
		old, had := sr.frags[id]
		f := old
		if !had || !reflect.DeepEqual(old.port, *p) {
			r := &svcRenderer{cfg: sr.cfg, t: NewTable()}
			r.fixedSets()
			r.port(p)
			f = svcFragment{port: *p, t: r.t}
			for name := range fixed {
				if !had || !maps.EqualFunc(old.t.Sets[name].Elements, f.t.Sets[name].Elements, Element.equal) {
					touched[name] = true
				}
			}
		}
		if _, dup := next[id]; !dup {
			order = append(order, id)
		}
		next[id] = f
		for name, c := range f.t.Chains {
			t.Chains[name] = c
		}
		for name, s := range f.t.Sets {
			if !fixed[name] {
				t.Sets[name] = s
			}
		}
	}
	for id, old := range sr.frags {
		if _, ok := next[id]; !ok {
			for name := range fixed {
				if len(old.t.Sets[name].Elements) > 0 {
					touched[name] = true
				}
			}
		}
	}
	for name := range fixed {
		if !touched[name] {
			t.Sets[name] = sr.last.Sets[name]
			continue
		}
		for _, id := range order {
			for _, e := range next[id].t.Sets[name].Elements {
				t.Sets[name].AddElement(e.Key, e.Value)
			}
		}
	}
	sr.frags = next
	if sr.last != nil {
		for name, c := range t.Chains {
			if old := sr.last.Chains[name]; old != nil && old != c && old.equal(c) {
				t.Chains[name] = old
			}
		}
		for _, name := range slices.Collect(maps.Keys(t.Sets)) {
			s := t.Sets[name]
			if old := sr.last.Sets[name]; old != nil && old != s && old.sameDecl(s) && maps.EqualFunc(old.Elements, s.Elements, Element.equal) {
				t.Sets[name] = old
			}
		}
	}
	sr.last = t
	return t
}
