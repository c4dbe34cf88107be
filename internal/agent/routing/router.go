package routing

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"

	"github.com/trellisnet/trellis/internal/bgp"
	"github.com/trellisnet/trellis/internal/dataplane/link"
	"github.com/trellisnet/trellis/internal/model"
	"github.com/trellisnet/trellis/internal/route"
	"github.com/trellisnet/trellis/internal/runner"
	"github.com/trellisnet/trellis/internal/store"
)

// routingKinds are the kinds the routing calculation reads.
var routingKinds = []*model.Kind{
	model.KindNode, model.KindIPPool, model.KindBGPConfiguration, model.KindBGPPeer, model.KindBGPFilter,
	model.KindIPAMBlock, model.KindBlockAffinity, model.KindService, model.KindEndpointSlice,
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
// triggers the router again, so the next sync sees it).
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

// Config is a router's node and timing; the agent fills it from its own Config.
type Config struct {
	// NodeName is the node whose routing this router programs (required).
	NodeName string
	// ResyncPeriod is the interval of syncs that list every routing kind again; zero:
	// none.
	ResyncPeriod time.Duration
	// RateLimit is the least interval between the starts of two syncs; never less than
	// minInterval.
	RateLimit time.Duration
	// RetryPeriod is the delay before retrying after a failed sync (which lists every
	// kind again).
	RetryPeriod time.Duration
	// Name and Observer, when set, are the loop's name and the observer of its runs
	// (metrics).
	Name     string
	Observer runner.Observer
}

// minInterval is the least interval between two routing syncs, whatever Config.RateLimit
// says: a sync lists the changed kinds from the store and talks to netlink and gobgp.
const minInterval = 200 * time.Millisecond

// Router is the agent's routing loop: it shares the agent's watch (the agent calls Changed
// for every kind it sees), lists the routing kinds that changed on each coalesced change
// and every kind on every resync, computes route.Compute for this node and applies it.
// Create it with New and start it with Run.
type Router struct {
	node   string
	st     store.Store
	log    *slog.Logger
	kinds  map[*model.Kind]bool
	runner *runner.Runner
	open   func() (routeDataplane, error)

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

// New returns the router of cfg.NodeName over the store. It does no I/O and starts no
// goroutines.
func New(cfg Config, st store.Store, log *slog.Logger) *Router {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := &Router{node: cfg.NodeName, st: st, log: log, kinds: map[*model.Kind]bool{},
		open: openRouteDataplane, bgpLog: log.With("component", "bgp"),
		dirty: map[*model.Kind]bool{}, cache: map[*model.Kind][]model.Object{}}
	r.runner = runner.New(runner.Config{Start: true, MinInterval: max(cfg.RateLimit, minInterval),
		Resync: cfg.ResyncPeriod, Retry: cfg.RetryPeriod, Name: cfg.Name, Observer: cfg.Observer,
		OnError: func(err error, _ time.Duration) { r.log.Warn("sync routing failed; retrying", "err", err) }})
	for _, k := range routingKinds {
		r.kinds[k] = true
	}
	return r
}

// Changed tells the router that an object of kind k changed. A routing kind is listed
// again by the next sync, which it triggers; other kinds are ignored. Safe for concurrent
// use.
func (r *Router) Changed(k *model.Kind) {
	if r.wants(k) {
		r.runner.Trigger()
	}
}

// Relisted tells the router that its feed listed everything again (its watch was
// (re)started): every routing kind is listed again by the next sync, which it triggers.
func (r *Router) Relisted() {
	r.markAll()
	r.runner.Trigger()
}

// wants reports whether a change of kind k concerns routing; if so it marks the kind to
// be listed again by the next sync.
func (r *Router) wants(k *model.Kind) bool {
	if !r.kinds[k] {
		return false
	}
	r.mu.Lock()
	r.dirty[k] = true
	r.mu.Unlock()
	return true
}

// Run syncs at start, when triggered (at most once per rate limit), every resync period
// and after a failure; all but triggered syncs list every kind again. When ctx ends the
// BGP speaker stops gracefully (peers keep our routes for the restart time) and the
// kernel routes stay (fail static).
func (r *Router) Run(ctx context.Context) {
	r.runner.Run(ctx, func(ctx context.Context, why runner.Reason) error {
		if why != runner.Triggered {
			r.markAll()
		}
		return r.syncOnce(ctx)
	})
	r.stop()
}

func (r *Router) stop() {
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
func (r *Router) markAll() {
	r.mu.Lock()
	for k := range r.kinds {
		r.dirty[k] = true
	}
	r.mu.Unlock()
}

// list reads the routing kinds changed since their last list (every kind the first
// time) and returns the inputs from the cache. A kind that fails to list stays marked.
func (r *Router) list(ctx context.Context) (routingInputs, error) {
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
