package agent

import (
	"github.com/trellisnet/trellis/internal/dataplane/nft"
	"github.com/trellisnet/trellis/internal/model"
)

// felixKind is FelixConfiguration: the agent reads the node's dataplane settings from it
// (logPrefix; the calculation takes its failsafe ports), as Felix does.
func felixKind() *model.Kind {
	k := model.KindFelixConfiguration
	return k
}

// felixUpdate records a FelixConfiguration's log prefix (nil obj: deleted); other kinds are
// ignored. Precedence, as with Felix: the agent's own flag, then FelixConfiguration
// "node.<node>", then "default", then the renderer's default. (The failsafe ports of
// "default" go to the calculation like any other object.)
func (p *policyLoop) felixUpdate(k objKey, obj model.Object) {
	if k.kind != p.felix || p.felix == nil {
		return
	}
	if p.logPrefixes == nil {
		p.logPrefixes = map[string]string{}
	}
	if fc, ok := obj.(*model.FelixConfiguration); ok {
		p.logPrefixes[k.name] = fc.Spec.LogPrefix
	} else {
		delete(p.logPrefixes, k.name)
	}
	p.applyLogPrefix()
}

// applyLogPrefix replaces the renderer when the effective log prefix changed; the next
// sync then renders every Log rule with the new prefix.
func (p *policyLoop) applyLogPrefix() {
	prefix := p.cfg.LogPrefix
	if prefix == "" {
		prefix = p.logPrefixes["node."+p.cfg.NodeName]
	}
	if prefix == "" {
		prefix = p.logPrefixes["default"]
	}
	if prefix == p.logPrefix && p.renderer != nil {
		return
	}
	p.logPrefix = prefix
	p.renderer = nft.NewRenderer(nft.Config{IfPrefix: p.cfg.WorkloadPrefix, LogPrefix: prefix})
	p.needFull = true
}
