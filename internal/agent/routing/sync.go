package routing

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/trellisnet/trellis/internal/bgp"
	"github.com/trellisnet/trellis/internal/model"
	"github.com/trellisnet/trellis/internal/route"
)

// overlayPools are the IPv4 pools whose vxlanMode is Always or CrossSubnet.
func overlayPools(pools []*model.IPPool) []*model.IPPool {
	var out []*model.IPPool
	for _, p := range pools {
		pf, err := netip.ParsePrefix(p.Spec.CIDR)
		if err == nil && pf.Addr().Is4() && !p.Spec.Disabled &&
			(p.Spec.VXLANMode == model.EncapAlways || p.Spec.VXLANMode == model.EncapCrossSubnet) {
			out = append(out, p)
		}
	}
	return out
}

// routingWanted decides, for RoutingAuto, whether this node routes and whether it speaks BGP.
func routingWanted(own *model.Node, pools []*model.IPPool) (enabled, useBGP, overlay bool) {
	if own == nil {
		return false, false, false
	}
	useBGP = own.Spec.BGP != nil && own.Spec.BGP.IPv4Address != ""
	overlay = len(overlayPools(pools)) > 0
	return useBGP || overlay, useBGP, overlay
}

// syncOnce computes this node's routing and applies it.
func (r *Router) syncOnce(ctx context.Context) error {
	in, err := r.list(ctx)
	if err != nil {
		return err
	}
	var own *model.Node
	for _, n := range in.nodes {
		if n.Name == r.node {
			own = n
		}
	}
	enabled, useBGP, overlay := routingWanted(own, in.pools)
	if !enabled {
		return r.teardown()
	}
	if overlay && (own.Spec.IPv4VXLANTunnelAddr == "" || own.Spec.VXLANTunnelMACAddr == "") {
		updated, err := r.ensureTunnel(ctx, own, overlayPools(in.pools))
		if err != nil {
			return err
		}
		// The allocation may have claimed a block: read the blocks again.
		r.markAll()
		if in, err = r.list(ctx); err != nil {
			return err
		}
		for i, n := range in.nodes {
			if n.Name == r.node {
				in.nodes[i] = updated
			}
		}
	}
	blocks, borrowed, probs := route.BlocksFromModel(in.blocks)
	res := route.Compute(route.Input{Nodes: in.nodes, Pools: in.pools, BGPConfig: in.configs,
		BGPPeers: in.peers, BGPFilters: in.filters, Blocks: blocks, Borrowed: borrowed, BGP: useBGP,
		Services: route.ServicesFromModel(in.svcs, in.slices)})
	for _, p := range append(probs, res.Problems...) {
		r.log.Debug("routing input ignored", "problem", p.String())
	}
	n, ok := res.Find(r.node)
	if !ok {
		return nil
	}
	if r.dp == nil {
		if r.dp, err = r.open(); err != nil {
			return err
		}
		r.started = time.Now()
	}
	var errs []error
	if n.VTEP != nil {
		errs = append(errs, r.applyOverlay(n))
	} else if r.vtep {
		errs = append(errs, r.dp.DeleteVXLAN(route.VXLANDevice))
		r.vtep = false
	}
	var learned []route.Route
	if n.BGP != nil {
		learned, err = r.applyBGP(ctx, n, in.pools)
		errs = append(errs, err)
		if !r.speaker.Synced() && time.Since(r.started) < restartGrace {
			learned = r.keepInstalled(n.Routes, learned)
		}
	} else if r.speaker != nil {
		r.stop()
	}
	ch, err := r.dp.SyncRoutes(route.Merge(n.Routes, learned))
	if err != nil {
		errs = append(errs, fmt.Errorf("sync routes of node %s: %w", r.node, err))
	} else {
		r.log.Debug("synced routes", "changes", ch)
	}
	return errors.Join(errs...)
}

// keepInstalled adds to learned the non-blackhole routes of ours found in the kernel for
// destinations neither calculated nor learned yet: after a restart, routes learned by the
// previous agent stay until every peer has re-sent its routes (End-of-RIB).
func (r *Router) keepInstalled(calculated, learned []route.Route) []route.Route {
	cur, err := r.dp.Routes()
	if err != nil {
		r.log.Warn("read installed routes failed", "err", err)
		return learned
	}
	have := map[netip.Prefix]bool{}
	for _, rt := range append(slices.Clone(calculated), learned...) {
		have[rt.Dst] = true
	}
	out := slices.Clone(learned)
	for _, rt := range cur {
		if !have[rt.Dst] && !rt.Blackhole && len(rt.NextHops) > 0 {
			out = append(out, rt)
		}
	}
	return out
}

// teardown removes what routing programmed when it is no longer wanted (the Node lost its
// BGP address and no pool uses VXLAN, or the Node is gone): the speaker stops and every
// route of ours and the VXLAN device are removed. It does nothing if nothing was programmed.
func (r *Router) teardown() error {
	if r.dp == nil {
		return nil
	}
	r.stop()
	var errs []error
	if r.vtep {
		errs = append(errs, r.dp.DeleteVXLAN(route.VXLANDevice))
		r.vtep = false
	}
	if _, err := r.dp.SyncRoutes(nil); err != nil {
		errs = append(errs, fmt.Errorf("remove routes of node %s: %w", r.node, err))
	}
	r.log.Info("pod routing turned off for this node")
	return errors.Join(errs...)
}

func (r *Router) applyOverlay(n route.Node) error {
	if err := r.dp.EnsureVXLAN(*n.VTEP, 0); err != nil {
		return err
	}
	r.vtep = true
	if _, err := r.dp.SyncFDB(n.VTEP.Device, n.FDB); err != nil {
		return err
	}
	_, err := r.dp.SyncNeighbors(n.VTEP.Device, n.Neighbors)
	return err
}

// applyBGP starts the speaker once (restarting it if its identity changed), then sets its
// peers, advertised prefixes and accepted prefixes; it returns the learned routes.
func (r *Router) applyBGP(ctx context.Context, n route.Node, pools []*model.IPPool) ([]route.Route, error) {
	sp := n.BGP
	cfg := bgp.Config{RouterID: sp.RouterID, ASNumber: sp.ASNumber, ListenAddress: sp.Address, ListenAddress6: sp.Address6,
		ListenPort: int(sp.ListenPort), ClusterID: sp.ClusterID, Logger: r.bgpLog, ConnectRetry: bgpConnectRetry}
	if r.speaker != nil && r.bgpCfg != cfg {
		r.log.Info("bgp identity changed; restarting the speaker", "routerID", sp.RouterID, "as", sp.ASNumber)
		r.stop()
	}
	if r.speaker == nil {
		s := bgp.New(cfg, func([]route.Route) { r.runner.Trigger() })
		if err := s.Start(ctx); err != nil {
			return nil, err
		}
		r.speaker, r.bgpCfg = s, cfg
		r.mu.Lock()
		r.active = s
		r.mu.Unlock()
		r.log.Info("bgp speaker started", "routerID", sp.RouterID, "as", sp.ASNumber, "port", sp.ListenPort)
	}
	var accept []netip.Prefix
	for _, p := range pools {
		if pf, err := netip.ParsePrefix(p.Spec.CIDR); err == nil {
			accept = append(accept, pf.Masked())
		}
	}
	r.speaker.SetAccept(accept)
	r.speaker.SetReject(n.NoInstall)
	errs := []error{r.speaker.SetFilters(ctx, n.Filters), r.speaker.SetPeers(ctx, sp.Peers), r.speaker.SetPrefixes(n.Advertise)}
	return r.speaker.Learned(), errors.Join(errs...)
}
