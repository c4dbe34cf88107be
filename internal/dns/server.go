package dns

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/trellisnet/trellis/internal/model"
	"github.com/trellisnet/trellis/internal/store"
	"github.com/trellisnet/trellis/internal/store/reach"
)

// Config is what the server listens on and answers for.
type Config struct {
	// Listen is host:port for both UDP and TCP (":53").
	Listen string
	// Zone is the cluster domain, "cluster.local" when empty.
	Zone string
	// DatastoreEndpoint names the datastore in the warning logged while it cannot be
	// reached.
	DatastoreEndpoint string
}

// Server answers DNS queries for the cluster zone from the store.
type Server struct {
	cfg     Config
	st      store.Store
	log     *slog.Logger
	view    *view
	mon     *reach.Monitor // is the datastore reachable
	metrics *metrics
}

// New returns a server; it does no I/O.
func New(cfg Config, st store.Store, log *slog.Logger) *Server {
	if cfg.Zone == "" {
		cfg.Zone = "cluster.local"
	}
	cfg.Zone = strings.ToLower(strings.Trim(cfg.Zone, "."))
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, st: st, log: log, view: newView()}
	s.mon = reach.New(reach.Config{Endpoint: cfg.DatastoreEndpoint}, st, log.With("component", "datastore"))
	s.metrics = newMetrics(s.view, s.mon.Collectors())
	return s
}

// Synced reports whether the first list of Services and EndpointSlices is in.
func (s *Server) Synced() bool { return s.view.Synced() }

// Follow keeps the server's view of the store current until ctx ends. While the store
// cannot be reached the view keeps answering from what it has (a warning is logged); when
// it answers again the view lists again and re-watches.
func (s *Server) Follow(ctx context.Context) {
	var wg sync.WaitGroup
	mon := s.mon
	wg.Go(func() { mon.Run(ctx) })
	for _, k := range []*model.Kind{model.KindService, model.KindEndpointSlice} {
		wg.Go(func() { s.view.follow(ctx, s.st, k, s.log, mon.Back) })
	}
	wg.Wait()
}

// ServeDNS answers one query. A query before the first sync gets SERVFAIL (the client
// retries), never a wrong NXDOMAIN.
func (s *Server) ServeDNS(w mdns.ResponseWriter, req *mdns.Msg) {
	start := time.Now()
	m := new(mdns.Msg)
	m.SetReply(req)
	m.RecursionAvailable = false
	switch {
	case req.Opcode != mdns.OpcodeQuery || len(req.Question) != 1:
		m.Rcode = mdns.RcodeNotImplemented
	case !s.view.Synced():
		m.Rcode = mdns.RcodeServerFailure
	default:
		r := s.view.answer(s.cfg.Zone, req.Question[0])
		m.Rcode, m.Answer, m.Extra = r.rcode, r.answer, r.extra
		name := strings.ToLower(mdns.Fqdn(req.Question[0].Name))
		inZone := name == s.cfg.Zone+"." || strings.HasSuffix(name, "."+s.cfg.Zone+".")
		m.Authoritative = inZone
		if inZone && len(m.Answer) == 0 {
			m.Ns = []mdns.RR{soa(s.cfg.Zone)}
		}
	}
	// Counted before the write, so a client that has its answer finds it counted.
	s.metrics.observe(req, m, w.RemoteAddr().Network(), start)
	if err := w.WriteMsg(m); err != nil {
		s.log.Debug("write dns reply", "err", err)
	}
}

// Run listens on UDP and TCP, follows the store and serves until ctx ends. ready, if not
// nil, receives the bound UDP address once both listeners are open.
func (s *Server) Run(ctx context.Context, ready func(udp, tcp net.Addr)) error {
	pc, err := net.ListenPacket("udp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("dns: listen udp %s: %w", s.cfg.Listen, err)
	}
	// The same port for TCP, also when the configured one is 0.
	host, _, _ := net.SplitHostPort(s.cfg.Listen)
	l, err := net.Listen("tcp", net.JoinHostPort(host, fmt.Sprint(pc.LocalAddr().(*net.UDPAddr).Port)))
	if err != nil {
		pc.Close()
		return fmt.Errorf("dns: listen tcp %s: %w", s.cfg.Listen, err)
	}
	udp := &mdns.Server{PacketConn: pc, Handler: s}
	tcp := &mdns.Server{Listener: l, Handler: s, ReadTimeout: 5 * time.Second}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	wg.Go(func() { s.Follow(ctx) })
	errc := make(chan error, 2)
	started := make(chan struct{}, 2)
	for _, srv := range []*mdns.Server{udp, tcp} {
		srv.NotifyStartedFunc = func() { started <- struct{}{} }
		wg.Go(func() {
			if err := srv.ActivateAndServe(); err != nil {
				errc <- err
			}
		})
	}
	for range 2 {
		select {
		case <-started:
		case err := <-errc:
			cancel()
			pc.Close()
			l.Close()
			wg.Wait()
			return fmt.Errorf("dns: serve: %w", err)
		}
	}
	s.log.Info("dns server listening", "udp", pc.LocalAddr().String(), "tcp", l.Addr().String(), "zone", s.cfg.Zone)
	if ready != nil {
		ready(pc.LocalAddr(), l.Addr())
	}
	var runErr error
	select {
	case <-ctx.Done():
	case err := <-errc:
		runErr = fmt.Errorf("dns: serve: %w", err)
	}
	cancel()
	sctx, scancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer scancel()
	_ = udp.ShutdownContext(sctx)
	_ = tcp.ShutdownContext(sctx)
	wg.Wait()
	if runErr != nil && !errors.Is(runErr, net.ErrClosed) {
		return runErr
	}
	return nil
}
