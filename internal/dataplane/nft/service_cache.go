package nft

import (
	"maps"

	"github.com/trellisnet/trellis/internal/service"
)

// ServiceRenderer renders successive service states, handing out last render's chain
// and set objects where the new ones are equal, so a partial plan skips them by
// identity and an endpoint change touches only the chains and map elements it changes.
// Its output equals RenderServices'. Not safe for concurrent use.
type ServiceRenderer struct {
	cfg  Config
	last *Table
}

// NewServiceRenderer returns a ServiceRenderer with nothing rendered yet.
func NewServiceRenderer(cfg Config) *ServiceRenderer {
	return &ServiceRenderer{cfg: cfg.withDefaults()}
}

// Render is RenderServices(cfg, st), reusing the previous call's equal objects.
func (sr *ServiceRenderer) Render(st *service.State) *Table {
	t := RenderServices(sr.cfg, st)
	if sr.last != nil {
		for name, c := range t.Chains {
			if old := sr.last.Chains[name]; old != nil && old.equal(c) {
				t.Chains[name] = old
			}
		}
		for name, s := range t.Sets {
			if old := sr.last.Sets[name]; old != nil && old.sameDecl(s) && maps.EqualFunc(old.Elements, s.Elements, Element.equal) {
				t.Sets[name] = old
			}
		}
	}
	sr.last = t
	return t
}
