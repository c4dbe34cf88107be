package bgp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/google/uuid"
	api "github.com/osrg/gobgp/v4/api"
	"github.com/osrg/gobgp/v4/pkg/apiutil"
	"github.com/osrg/gobgp/v4/pkg/packet/bgp"
	"github.com/osrg/gobgp/v4/pkg/server"

	"github.com/trellisnet/trellis/internal/route"
)

// Config is a speaker's identity.
type Config struct {
	RouterID netip.Addr
	ASNumber uint32
	// ListenAddress is the address to listen on and to use as source and next hop; the
	// invalid Addr listens on every address and uses RouterID as next hop.
	ListenAddress netip.Addr
	// ListenAddress6, when valid, is also listened on and is the source and next hop of
	// IPv6 sessions and prefixes.
	ListenAddress6 netip.Addr
	// ListenPort is the TCP port; 0 means 179, -1 means do not listen (active only).
	ListenPort int
	// ClusterID is the route-reflector cluster ID; empty when not a reflector.
	ClusterID string
	// ConnectRetry is the pause between connection attempts; 0 means 3 s.
	ConnectRetry time.Duration
	// Logger receives gobgp's log records (warnings and above unless its handler says
	// otherwise); nil discards them.
	Logger *slog.Logger
}

// OnLearned receives the complete set of learned routes after every change.
type OnLearned func([]route.Route)

// Speaker is one BGP speaker. Its methods are safe for concurrent use.
type Speaker struct {
	cfg     Config
	onLearn OnLearned

	mu       sync.Mutex
	srv      *server.BgpServer
	cancel   context.CancelFunc
	done     chan struct{}
	peers    map[netip.Addr]route.Peer
	prefixes map[netip.Prefix]uuid.UUID
	accept   []netip.Prefix
	reject   []netip.Prefix
	// imports are the BGPFilter import rules of peers that have any.
	imports map[netip.Addr][]route.FilterRule
	// exportKey is the canonical text of the export rules installed as gobgp policy.
	exportKey string
	// learned are the paths of each prefix's multipath set, by the peer that sent them.
	learned map[netip.Prefix]map[netip.Addr]netip.Addr
	eor     map[netip.Addr]bool
	notify  chan struct{}
}

// New returns a speaker; it does no I/O and starts nothing. onLearned may be nil.
func New(cfg Config, onLearned OnLearned) *Speaker {
	if cfg.ConnectRetry == 0 {
		cfg.ConnectRetry = 3 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Speaker{cfg: cfg, onLearn: onLearned, peers: map[netip.Addr]route.Peer{},
		prefixes: map[netip.Prefix]uuid.UUID{}, learned: map[netip.Prefix]map[netip.Addr]netip.Addr{},
		eor: map[netip.Addr]bool{}, notify: make(chan struct{}, 1)}
}

// nextHop is the address advertised as next hop of our prefixes.
func (s *Speaker) nextHop() netip.Addr {
	if s.cfg.ListenAddress.IsValid() && !s.cfg.ListenAddress.IsUnspecified() {
		return s.cfg.ListenAddress
	}
	return s.cfg.RouterID
}

// Start starts the BGP server (listening unless ListenPort is -1), the event watcher and
// the goroutine that calls the callback. It returns once the server accepts requests.
func (s *Speaker) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv != nil {
		return errors.New("start bgp speaker: already started")
	}
	if !s.cfg.RouterID.Is4() {
		return fmt.Errorf("start bgp speaker: router ID %q is not an IPv4 address", s.cfg.RouterID)
	}
	srv := server.NewBgpServer(server.LoggerOption(s.cfg.Logger, nil))
	go srv.Serve()
	port := int32(s.cfg.ListenPort)
	if port == 0 {
		port = route.DefaultListenPort
	}
	// Multiple paths: equal paths from several peers are all kept and installed (ECMP).
	global := &api.Global{Asn: s.cfg.ASNumber, RouterId: s.cfg.RouterID.String(), ListenPort: port, UseMultiplePaths: true}
	if a := s.cfg.ListenAddress; a.IsValid() {
		global.ListenAddresses = []string{a.String()}
		if a6 := s.cfg.ListenAddress6; a6.IsValid() {
			global.ListenAddresses = append(global.ListenAddresses, a6.String())
		}
	}
	if err := srv.StartBgp(ctx, &api.StartBgpRequest{Global: global}); err != nil {
		return fmt.Errorf("start bgp speaker as %d router-id %s port %d: %w", s.cfg.ASNumber, s.cfg.RouterID, port, err)
	}
	if err := installPolicies(ctx, srv, s.cfg.ClusterID != ""); err != nil {
		_ = srv.StopBgp(context.Background(), &api.StopBgpRequest{})
		return err
	}
	wctx, cancel := context.WithCancel(context.Background())
	cb := server.WatchEventMessageCallbacks{
		OnBestPath:   s.onBestPath,
		OnPathEor:    s.onEor,
		OnPeerUpdate: s.onPeer,
	}
	if err := srv.WatchEvent(wctx, cb, server.WatchBestPath(true), server.WatchEor(true), server.WatchPeer()); err != nil {
		cancel()
		_ = srv.StopBgp(context.Background(), &api.StopBgpRequest{})
		return fmt.Errorf("start bgp speaker: watch events: %w", err)
	}
	s.srv, s.cancel, s.done = srv, cancel, make(chan struct{})
	go s.deliver(wctx, s.done)
	return nil
}

// Stop closes every session and stops the server. With graceful, GR-capable peers get no
// NOTIFICATION and keep our routes for the restart time; otherwise they drop them at once.
func (s *Speaker) Stop(ctx context.Context, graceful bool) error {
	s.mu.Lock()
	srv, cancel, done := s.srv, s.cancel, s.done
	s.srv = nil
	s.mu.Unlock()
	if srv == nil {
		return nil
	}
	cancel()
	<-done
	if err := srv.StopBgp(ctx, &api.StopBgpRequest{AllowGracefulRestart: graceful}); err != nil {
		return fmt.Errorf("stop bgp speaker: %w", err)
	}
	return nil
}

func (s *Speaker) server() (*server.BgpServer, error) {
	if s.srv == nil {
		return nil, errors.New("bgp speaker not started")
	}
	return s.srv, nil
}

// deliver calls the callback with the latest learned set whenever it changed.
func (s *Speaker) deliver(ctx context.Context, done chan struct{}) {
	defer close(done)
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.notify:
			if s.onLearn != nil {
				s.onLearn(s.Learned())
			}
		}
	}
}

func (s *Speaker) changed() {
	select {
	case s.notify <- struct{}{}:
	default:
	}
}

// Learned returns the accepted learned routes, sorted by destination.
func (s *Speaker) Learned() []route.Route {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []route.Route
	for p, paths := range s.learned {
		if accepted(s.reject, p) {
			continue
		}
		pooled := accepted(s.accept, p)
		var via []netip.Addr
		for peer, nh := range paths {
			switch route.Decide(s.imports[peer], p, true) {
			case route.Accept:
				via = append(via, nh)
			case route.NoMatch:
				if pooled {
					via = append(via, nh)
				}
			}
		}
		if len(via) > 0 {
			out = append(out, route.Learned(p, via))
		}
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i].Dst, out[j].Dst
		if c := a.Addr().Compare(b.Addr()); c != 0 {
			return c < 0
		}
		return a.Bits() < b.Bits()
	})
	return out
}

func accepted(accept []netip.Prefix, p netip.Prefix) bool {
	for _, a := range accept {
		if a.Bits() <= p.Bits() && a.Contains(p.Addr()) {
			return true
		}
	}
	return false
}

// SetAccept sets the prefixes whose learned routes are reported: a learned prefix is
// reported when it lies inside one of them.
func (s *Speaker) SetAccept(prefixes []netip.Prefix) {
	s.mu.Lock()
	s.accept = append([]netip.Prefix(nil), prefixes...)
	s.mu.Unlock()
	s.changed()
}

// SetImportFilters sets the BGPFilter import rules of peers: a learned path a peer's rules
// accept is reported even outside the accepted prefixes, one they reject is not reported,
// and one no rule matches is treated as without filters. Rejected prefixes stay rejected.
func (s *Speaker) SetImportFilters(filters []route.PeerFilter) {
	m := map[netip.Addr][]route.FilterRule{}
	for _, f := range filters {
		if len(f.Import) > 0 {
			m[f.Peer] = append([]route.FilterRule(nil), f.Import...)
		}
	}
	s.mu.Lock()
	s.imports = m
	s.mu.Unlock()
	s.changed()
}

// SetReject sets prefixes whose learned routes are never reported, even inside an
// accepted prefix (service address ranges: each node's proxy handles them).
func (s *Speaker) SetReject(prefixes []netip.Prefix) {
	s.mu.Lock()
	s.reject = append([]netip.Prefix(nil), prefixes...)
	s.mu.Unlock()
	s.changed()
}

func (s *Speaker) onBestPath(paths []*apiutil.Path, _ time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range paths {
		pfx, ok := nlriPrefix(p.Nlri)
		if !ok {
			continue
		}
		local := !p.PeerAddress.IsValid() || p.PeerAddress.IsUnspecified()
		if local {
			// Our own prefix is the best: nothing learned is used for it.
			delete(s.learned, pfx)
			continue
		}
		peer := p.PeerAddress.Unmap()
		nh, hasNH := pathNextHop(p)
		if p.Withdrawal || !hasNH {
			delete(s.learned[pfx], peer)
			if len(s.learned[pfx]) == 0 {
				delete(s.learned, pfx)
			}
			continue
		}
		if s.learned[pfx] == nil {
			s.learned[pfx] = map[netip.Addr]netip.Addr{}
		}
		s.learned[pfx][peer] = nh
	}
	s.changed()
}

func (s *Speaker) onEor(p *apiutil.Path, _ time.Time) {
	if p == nil || !p.PeerAddress.IsValid() {
		return
	}
	s.mu.Lock()
	s.eor[p.PeerAddress.Unmap()] = true
	s.mu.Unlock()
}

func (s *Speaker) onPeer(ev *apiutil.WatchEventMessage_PeerEvent, _ time.Time) {
	if ev == nil || ev.Type != apiutil.PEER_EVENT_STATE {
		return
	}
	if ev.Peer.State.SessionState != bgp.BGP_FSM_ESTABLISHED {
		s.mu.Lock()
		delete(s.eor, ev.Peer.State.NeighborAddress.Unmap())
		s.mu.Unlock()
	}
}

// Synced reports whether every configured peer has sent End-of-RIB since it last came up:
// until then a restarted agent should keep the routes it installed before.
func (s *Speaker) Synced() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for a := range s.peers {
		if !s.eor[a] {
			return false
		}
	}
	return true
}

func nlriPrefix(n bgp.NLRI) (netip.Prefix, bool) {
	if p, ok := n.(*bgp.IPAddrPrefix); ok {
		return p.Prefix.Masked(), true
	}
	return netip.Prefix{}, false
}

func pathNextHop(p *apiutil.Path) (netip.Addr, bool) {
	for _, a := range p.Attrs {
		switch a := a.(type) {
		case *bgp.PathAttributeNextHop:
			return a.Value.Unmap(), a.Value.IsValid()
		case *bgp.PathAttributeMpReachNLRI:
			return a.Nexthop.Unmap(), a.Nexthop.IsValid()
		}
	}
	return netip.Addr{}, false
}

// portString is a peer's "addr" or "addr:port" for messages.
func portString(p route.Peer) string {
	if p.Port == 0 || p.Port == route.DefaultListenPort {
		return p.Address.String()
	}
	return p.Address.String() + ":" + strconv.Itoa(int(p.Port))
}
