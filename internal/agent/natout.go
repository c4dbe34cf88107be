package agent

import (
	"log/slog"
	"maps"
	"net/netip"
	"slices"

	"github.com/trellisnet/trellis/internal/dataplane/nft"
	"github.com/trellisnet/trellis/internal/model"
)

// natOutgoing keeps the IPPools the watch recorded and renders IPPool natOutgoing
// (nft.RenderNATOutgoing) again only when what it reads of them (CIDRs, natOutgoing)
// changed; otherwise the last table, the very same objects, is merged, so the partial
// plan skips it. Runs on the policy loop's runner goroutine.
type natOutgoing struct {
	cfg   nft.Config
	log   *slog.Logger
	pools map[string]*model.IPPool // by name
	dirty bool                     // pools changed since the last render
	in    nft.NATOutgoing          // the input of table
	table *nft.Table               // last rendered; nil: never
}

func newNATOutgoing(cfg Config, log *slog.Logger) *natOutgoing {
	n := &natOutgoing{cfg: nft.Config{IfPrefix: cfg.WorkloadPrefix}, log: log}
	n.reset()
	return n
}

// reset forgets every pool (a new snapshot follows).
func (n *natOutgoing) reset() {
	n.pools = map[string]*model.IPPool{}
	n.dirty = true
}

// update records an IPPool (nil obj: deleted) and reports whether k was one.
func (n *natOutgoing) update(k objKey, obj model.Object) bool {
	if k.kind != model.KindIPPool {
		return false
	}
	if pool, ok := obj.(*model.IPPool); ok {
		n.pools[k.name] = pool
	} else {
		delete(n.pools, k.name)
	}
	n.dirty = true
	return true
}

// changed reports whether the pools changed since the last render.
func (n *natOutgoing) changed() bool { return n.dirty || n.table == nil }

// render returns the nat-outgoing table of the current pools.
func (n *natOutgoing) render() *nft.Table {
	if !n.changed() {
		return n.table
	}
	n.dirty = false
	in := n.input()
	if n.table != nil && slices.Equal(in.Masquerade, n.in.Masquerade) && slices.Equal(in.Pools, n.in.Pools) {
		return n.table
	}
	n.in, n.table = in, nft.RenderNATOutgoing(n.cfg, in)
	return n.table
}

// input is the pools' CIDRs in name order: every pool, disabled or not, keeps its
// addresses from being masqueraded, and those with natOutgoing are masqueraded. A CIDR
// that does not parse (validation rejects it before it is stored) is logged and left
// out.
func (n *natOutgoing) input() nft.NATOutgoing {
	var in nft.NATOutgoing
	for _, name := range slices.Sorted(maps.Keys(n.pools)) {
		pool := n.pools[name]
		cidr, err := netip.ParsePrefix(pool.Spec.CIDR)
		if err != nil {
			n.log.Warn("ignoring IPPool with an unparsable cidr for natOutgoing", "pool", name, "cidr", pool.Spec.CIDR, "err", err)
			continue
		}
		in.Pools = append(in.Pools, cidr)
		if pool.Spec.NATOutgoing {
			in.Masquerade = append(in.Masquerade, cidr)
		}
	}
	return in
}
