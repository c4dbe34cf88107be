package healthsrv

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Disabled as Config.Addr turns the server off.
const Disabled = "none"

// Config is what the server serves and where.
type Config struct {
	// Addr is the TCP HOST:PORT to listen on; Disabled or empty: no server.
	Addr string
	// Gatherer is served on /metrics; nil: an empty registry.
	Gatherer prometheus.Gatherer
	// Live and Ready answer /healthz and /readyz: nil or a nil error is 200, an error
	// 503 with its text. Nil functions always pass.
	Live, Ready func() error
}

// Handler serves /healthz, /readyz and /metrics.
func Handler(cfg Config) http.Handler {
	g := cfg.Gatherer
	if g == nil {
		g = prometheus.NewRegistry()
	}
	mux := http.NewServeMux()
	mux.Handle("/healthz", check(cfg.Live))
	mux.Handle("/readyz", check(cfg.Ready))
	mux.Handle("/metrics", promhttp.HandlerFor(g, promhttp.HandlerOpts{}))
	return mux
}

func check(f func() error) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		if f != nil {
			if err := f(); err != nil {
				http.Error(w, err.Error(), http.StatusServiceUnavailable)
				return
			}
		}
		fmt.Fprintln(w, "ok")
	}
}

// Server is a running health and metrics server.
type Server struct {
	srv *http.Server
	l   net.Listener
}

// Start listens on cfg.Addr and serves in the background until Close or the end of ctx;
// nil (and no error) when cfg.Addr is Disabled or empty. Serve errors are logged to log.
func Start(ctx context.Context, cfg Config, log *slog.Logger) (*Server, error) {
	if cfg.Addr == "" || cfg.Addr == Disabled {
		return nil, nil
	}
	l, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("listen for health and metrics on %s: %w", cfg.Addr, err)
	}
	s := &Server{l: l, srv: &http.Server{Handler: Handler(cfg), ReadHeaderTimeout: 10 * time.Second,
		BaseContext: func(net.Listener) context.Context { return ctx }}}
	go func() {
		if err := s.srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) && log != nil {
			log.Error("health server stopped", "addr", l.Addr().String(), "err", err)
		}
	}()
	go func() {
		<-ctx.Done()
		s.Close()
	}()
	if log != nil {
		log.Info("health and metrics server listening", "addr", l.Addr().String())
	}
	return s, nil
}

// Addr is the address the server listens on ("" for a nil server).
func (s *Server) Addr() string {
	if s == nil {
		return ""
	}
	return s.l.Addr().String()
}

// Close stops the server; safe on a nil server and more than once.
func (s *Server) Close() {
	if s == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = s.srv.Shutdown(ctx)
}
