package agent

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"

	"github.com/trellisnet/trellis/internal/agent/agentapi"
	"github.com/trellisnet/trellis/internal/bgp"
	"github.com/trellisnet/trellis/internal/dataplane/link"
	"github.com/trellisnet/trellis/internal/ipam"
	"github.com/trellisnet/trellis/internal/ipam/ipamstore"
	"github.com/trellisnet/trellis/internal/model"
	"github.com/trellisnet/trellis/internal/route"
	"github.com/trellisnet/trellis/internal/runner"
	"github.com/trellisnet/trellis/internal/store"
)

// Routing modes of Config.Routing.
const (
	// RoutingAuto programs pod routing when this node's Node resource has a BGP address
	// (spec.bgp.ipv4Address) or an IPv4 pool uses VXLAN (Always or CrossSubnet).
	RoutingAuto = "auto"
	// RoutingOff never programs routes, VXLAN devices or BGP sessions.
	RoutingOff = "off"
)

// TunnelMAC derives a node's VXLAN tunnel MAC from its name: locally administered,
// unicast, deterministic.
func TunnelMAC(node string) string {
	sum := sha256.Sum256([]byte("trellis-vxlan/" + node))
	mac := net.HardwareAddr(sum[:6])
	mac[0] = (mac[0] | 0x02) &^ 0x01
	return mac.String()
}

// routingKinds are the kinds the routing calculation reads.
var routingKinds = []struct{ apiVersion, kind string }{
	{model.APIVersionCalico, "Node"},
	{model.APIVersionCalico, "IPPool"},
	{model.APIVersionCalico, "BGPConfiguration"},
	{model.APIVersionCalico, "BGPPeer"},
	{model.APIVersionCalico, "BGPFilter"},
	{model.APIVersionIPAM, "IPAMBlock"},
	{model.APIVersionIPAM, "BlockAffinity"},
	{"v1", "Service"},
	{"discovery.k8s.io/v1", "EndpointSlice"},
}

// routeDataplane is the kernel side of routing (link.Manager).
type routeDataplane interface {
	SyncRoutes(desired []route.Route) (link.Changes, error)
	EnsureVXLAN(v route.VTEP, mtu int) error
	SyncFDB(dev string, want []route.FDBEntry) (link.Changes, error)
	SyncNeighbors(dev string, want []route.Neighbor) (link.Changes, error)
	DeleteVXLAN(name string) error
	Routes() ([]route.Route, error)
}

// bgpConnectRetry is the pause between connection attempts to a peer. gobgp waits at
// least 1.5-2 s before any attempt, the first included, so a joining node's sessions come
// up about 2 s after its peers learn of it, and a failed attempt is retried as soon.
const bgpConnectRetry = time.Second

// restartGrace bounds how long a restarted agent keeps the kernel routes it finds while its
// BGP peers have not all sent End-of-RIB.
const restartGrace = route.DefaultMaxRestartTime * time.Second

// routingInputs is one read of the routing kinds (one List each; a change between two Lists
// pokes the router again, so the next sync sees it).
type routingInputs struct {
	nodes   []*model.Node
	pools   []*model.IPPool
	configs []*model.BGPConfiguration
	peers   []*model.BGPPeer
	filters []*model.BGPFilter
	blocks  []*model.IPAMBlock
	svcs    []*corev1.Service
	slices  []*discoveryv1.EndpointSlice
}

// router is the agent's routing loop: it shares the agent's watch (record pokes it for
// routing kinds), lists the routing kinds on each coalesced change and on every resync,
// computes route.Compute for this node and applies it.
type router struct {
	node  string
	cfg   Config
	st    store.Store
	log   *slog.Logger
	kinds map[*model.Kind]bool
	wake  chan struct{}
	open  func() (routeDataplane, error)

	// Owned by the routing goroutine.
	dp      routeDataplane
	speaker *bgp.Speaker
	bgpCfg  bgp.Config // the running speaker's identity
	bgpLog  *slog.Logger
	started time.Time // when this router first programmed routes
	vtep    bool      // a VXLAN device was ensured

	mu     sync.Mutex
	active *bgp.Speaker // for status
	// dirty are the kinds changed since they were last listed (guarded by mu); cache
	// is the last list of each kind (owned by the routing goroutine).
	dirty map[*model.Kind]bool
	cache map[*model.Kind][]model.Object
}

func newRouter(cfg Config, st store.Store, log *slog.Logger) *router {
	r := &router{node: cfg.NodeName, cfg: cfg, st: st, log: log, kinds: map[*model.Kind]bool{},
		wake: make(chan struct{}, 1), open: openRouteDataplane, bgpLog: log.With("component", "bgp"),
		dirty: map[*model.Kind]bool{}, cache: map[*model.Kind][]model.Object{}}
	for _, k := range routingKinds {
		if kind, ok := model.Lookup(k.apiVersion, k.kind); ok {
			r.kinds[kind] = true
		}
	}
	return r
}

// wants reports whether a change of kind k concerns routing; if so it marks the kind to
// be listed again by the next sync (the caller then pokes).
func (r *router) wants(k *model.Kind) bool {
	if r == nil || !r.kinds[k] {
		return false
	}
	r.mu.Lock()
	r.dirty[k] = true
	r.mu.Unlock()
	return true
}

func (r *router) poke() {
	if r == nil {
		return
	}
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// run syncs when poked (at most once per rate limit), every resync period and after a
// failure. When ctx ends the BGP speaker stops gracefully (peers keep our routes for the
// restart time) and the kernel routes stay (fail static).
func (r *router) run(ctx context.Context) {
	resync := time.NewTicker(r.cfg.ResyncPeriod)
	defer resync.Stop()
	retry := time.NewTimer(time.Hour)
	retry.Stop()
	defer retry.Stop()
	limit := max(r.cfg.RateLimit, 200*time.Millisecond)
	var last time.Time
	r.poke()
	full := true
	for {
		select {
		case <-ctx.Done():
			r.stop()
			return
		case <-r.wake:
		case <-resync.C:
			full = true
		case <-retry.C:
			full = true
		}
		if d := limit - time.Since(last); d > 0 && !runner.Sleep(ctx, d) {
			r.stop()
			return
		}
		last = time.Now()
		if full {
			r.markAll()
			full = false
		}
		if err := r.syncOnce(ctx); err != nil && ctx.Err() == nil {
			r.log.Warn("sync routing failed; retrying", "err", err)
			retry.Reset(r.cfg.RetryPeriod)
		}
	}
}

func (r *router) stop() {
	if r.speaker == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := r.speaker.Stop(ctx, true); err != nil {
		r.log.Warn("stop bgp speaker failed", "err", err)
	}
	r.speaker = nil
	r.mu.Lock()
	r.active = nil
	r.mu.Unlock()
}

// markAll makes the next list read every routing kind (start, resync, after an error).
func (r *router) markAll() {
	r.mu.Lock()
	for k := range r.kinds {
		r.dirty[k] = true
	}
	r.mu.Unlock()
}

// list reads the routing kinds changed since their last list (every kind the first
// time) and returns the inputs from the cache. A kind that fails to list stays marked.
func (r *router) list(ctx context.Context) (routingInputs, error) {
	var in routingInputs
	r.mu.Lock()
	dirty := r.dirty
	r.dirty = map[*model.Kind]bool{}
	r.mu.Unlock()
	for k := range r.kinds {
		if _, cached := r.cache[k]; cached && !dirty[k] {
			continue
		}
		res, err := r.st.List(ctx, k, store.ListOptions{})
		if err != nil {
			r.markAll()
			return in, fmt.Errorf("list %s: %w", k.Resource(), err)
		}
		r.cache[k] = append([]model.Object{}, res.Items...)
	}
	for _, items := range r.cache {
		for _, o := range items {
			switch v := o.(type) {
			case *model.Node:
				in.nodes = append(in.nodes, v)
			case *model.IPPool:
				in.pools = append(in.pools, v)
			case *model.BGPConfiguration:
				in.configs = append(in.configs, v)
			case *model.BGPPeer:
				in.peers = append(in.peers, v)
			case *model.BGPFilter:
				in.filters = append(in.filters, v)
			case *model.IPAMBlock:
				in.blocks = append(in.blocks, v)
			case *corev1.Service:
				in.svcs = append(in.svcs, v)
			case *discoveryv1.EndpointSlice:
				in.slices = append(in.slices, v)
			}
		}
	}
	return in, nil
}

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
func (r *router) syncOnce(ctx context.Context) error {
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
func (r *router) keepInstalled(calculated, learned []route.Route) []route.Route {
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
func (r *router) teardown() error {
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

func (r *router) applyOverlay(n route.Node) error {
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
func (r *router) applyBGP(ctx context.Context, n route.Node, pools []*model.IPPool) ([]route.Route, error) {
	sp := n.BGP
	cfg := bgp.Config{RouterID: sp.RouterID, ASNumber: sp.ASNumber, ListenAddress: sp.Address, ListenAddress6: sp.Address6,
		ListenPort: int(sp.ListenPort), ClusterID: sp.ClusterID, Logger: r.bgpLog, ConnectRetry: bgpConnectRetry}
	if r.speaker != nil && r.bgpCfg != cfg {
		r.log.Info("bgp identity changed; restarting the speaker", "routerID", sp.RouterID, "as", sp.ASNumber)
		r.stop()
	}
	if r.speaker == nil {
		s := bgp.New(cfg, func([]route.Route) { r.poke() })
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

// ensureTunnel gives the node a VXLAN tunnel address (from IPAM, handle agentapi.TunnelHandle) and
// MAC and writes them to its Node with compare-and-swap. It returns the updated Node.
func (r *router) ensureTunnel(ctx context.Context, own *model.Node, pools []*model.IPPool) (*model.Node, error) {
	a := ipam.New(ipamstore.New(r.st), ipamstore.Match)
	handle := agentapi.TunnelHandle(r.node)
	have, err := a.AddrsByHandle(ctx, handle)
	if err != nil {
		return nil, fmt.Errorf("vxlan tunnel address of node %s: %w", r.node, err)
	}
	var addr netip.Addr
	if len(have) > 0 {
		addr = have[0].Addr
	} else {
		in, err := ipamstore.Load(ctx, r.st)
		if err != nil {
			return nil, fmt.Errorf("vxlan tunnel address of node %s: %w", r.node, err)
		}
		var names []string
		for _, p := range pools {
			names = append(names, p.Name)
		}
		res, err := a.AutoAssign(ctx, ipam.AssignArgs{Node: r.node, NodeLabels: own.Labels, Handle: handle,
			Attrs: map[string]string{ipam.AttrNode: r.node, "type": "vxlanTunnelAddress"}, Num4: 1,
			Pools: in.Pools, IPv4Pools: names, Reserved: in.Reserved, Config: in.Config, Use: ipam.UseTunnel})
		if err != nil {
			return nil, fmt.Errorf("allocate vxlan tunnel address for node %s: %w", r.node, err)
		}
		if len(res.IPv4) == 0 {
			return nil, fmt.Errorf("allocate vxlan tunnel address for node %s: no address assigned", r.node)
		}
		addr = res.IPv4[0].Addr
	}
	cp := *own
	upd := &cp
	if upd.Spec.IPv4VXLANTunnelAddr == "" {
		upd.Spec.IPv4VXLANTunnelAddr = addr.String()
	}
	if upd.Spec.VXLANTunnelMACAddr == "" {
		upd.Spec.VXLANTunnelMACAddr = TunnelMAC(r.node)
	}
	obj, err := r.st.Update(ctx, upd)
	if err != nil {
		return nil, fmt.Errorf("record vxlan tunnel of node %s: %w", r.node, err)
	}
	r.log.Info("vxlan tunnel recorded", "addr", upd.Spec.IPv4VXLANTunnelAddr, "mac", upd.Spec.VXLANTunnelMACAddr)
	if n, ok := obj.(*model.Node); ok {
		return n, nil
	}
	return upd, nil
}

// peers reports the BGP sessions for status (nil without a speaker).
func (r *router) peers() []agentapi.BGPPeer {
	if r == nil {
		return nil
	}
	r.mu.Lock()
	s := r.active
	r.mu.Unlock()
	if s == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	st, err := s.Status(ctx)
	if err != nil {
		return nil
	}
	now := time.Now()
	out := make([]agentapi.BGPPeer, 0, len(st))
	for _, p := range st {
		bp := agentapi.BGPPeer{Address: p.Address.String(), State: p.State, ASNumber: p.ASNumber,
			Uptime: p.Uptime(now).String(), Received: p.Received, Accepted: p.Accepted, Advertised: p.Advertised}
		if !p.Since.IsZero() {
			bp.Since = p.Since.UTC().Format(time.RFC3339)
		}
		out = append(out, bp)
	}
	slices.SortFunc(out, func(x, y agentapi.BGPPeer) int {
		xa, _ := netip.ParseAddr(x.Address)
		ya, _ := netip.ParseAddr(y.Address)
		return xa.Compare(ya)
	})
	return out
}
