package agent

import (
	"github.com/trellisnet/trellis/internal/dataplane/nft"
	"github.com/trellisnet/trellis/internal/model"
)

// felixKind is FelixConfiguration: the agent reads the node's dataplane settings from it
// (today logPrefix), as Felix does.
func felixKind() *model.Kind {
	k, _ := model.Lookup(model.APIVersionCalico, "FelixConfiguration")
	return k
}

// felixUpdate records a FelixConfiguration (nil obj: deleted) and reports whether k was
// one. Precedence, as with Felix: the agent's own flag, then FelixConfiguration
// "node.<node>", then "default", then the renderer's default.
func (a *Agent) felixUpdate(k objKey, obj model.Object) bool {
	if k.kind != a.felix || a.felix == nil {
		return false
	}
	if a.logPrefixes == nil {
		a.logPrefixes = map[string]string{}
	}
	if fc, ok := obj.(*model.FelixConfiguration); ok {
		a.logPrefixes[k.name] = fc.Spec.LogPrefix
	} else {
		delete(a.logPrefixes, k.name)
	}
	a.applyLogPrefix()
	return true
}

// applyLogPrefix replaces the renderer when the effective log prefix changed; the next
// sync then renders every Log rule with the new prefix.
func (a *Agent) applyLogPrefix() {
	prefix := a.cfg.LogPrefix
	if prefix == "" {
		prefix = a.logPrefixes["node."+a.cfg.NodeName]
	}
	if prefix == "" {
		prefix = a.logPrefixes["default"]
	}
	if prefix == a.logPrefix && a.renderer != nil {
		return
	}
	a.logPrefix = prefix
	a.renderer = nft.NewRenderer(nft.Config{IfPrefix: a.cfg.WorkloadPrefix, LogPrefix: prefix})
	a.needFull = true
}
