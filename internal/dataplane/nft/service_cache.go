package nft

import (
	"maps"
	"reflect"

	"github.com/trellisnet/trellis/internal/service"
)

// ServiceRenderer renders successive service states incrementally: a service port whose
// state did not change reuses its chains and elements from the previous render, and
// every chain and set equal to last render's is handed out as the very same object, so
// a partial plan skips it by identity and an endpoint change touches only the chains
// and map elements it changes. Its output equals RenderServices'. Not safe for
// concurrent use.
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
	next := make(map[string]svcFragment, len(sr.frags))
	if st != nil {
		for i := range st.Ports {
			p := &st.Ports[i]
			id := p.ID()
			f, ok := sr.frags[id]
			if !ok || !reflect.DeepEqual(f.port, *p) {
				r := &svcRenderer{cfg: sr.cfg, t: NewTable()}
				r.fixedSets()
				r.port(p)
				f = svcFragment{port: *p, t: r.t}
			}
			next[id] = f
			for name, c := range f.t.Chains {
				t.Chains[name] = c
			}
			for name, s := range f.t.Sets {
				if fixed := t.Sets[name]; fixed != nil && s.sameDecl(fixed) {
					for _, e := range s.Elements {
						fixed.AddElement(e.Key, e.Value)
					}
				} else {
					t.Sets[name] = s
				}
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
		for name, s := range t.Sets {
			if old := sr.last.Sets[name]; old != nil && old != s && old.sameDecl(s) && maps.EqualFunc(old.Elements, s.Elements, Element.equal) {
				t.Sets[name] = old
			}
		}
	}
	sr.last = t
	return t
}
