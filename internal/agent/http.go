package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/trellisnet/trellis/internal/agent/agentapi"
	"github.com/trellisnet/trellis/internal/flow"
)

// server is the health, metrics and status HTTP server on TCP and a unix socket, and the
// metrics-only server on MetricsAddr.
type server struct {
	srv     *http.Server
	tcp     net.Listener
	unix    net.Listener
	sock    string
	metrics *http.Server // nil without MetricsAddr
	ml      net.Listener
}

// serve starts listening on HealthAddr and StatusSocket (each unless agentapi.Disabled).
func (a *Agent) serve(ctx context.Context) (*server, error) {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		if !a.Status().Healthy {
			http.Error(w, "sync loop stuck", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		s := a.Status()
		switch {
		case !s.InSync:
			http.Error(w, "not in sync with the datastore yet", http.StatusServiceUnavailable)
		case s.DatastoreUnreachable != "":
			http.Error(w, s.DatastoreUnreachable, http.StatusServiceUnavailable)
		case !s.Ready:
			http.Error(w, "last sync failed: "+s.LastError, http.StatusServiceUnavailable)
		default:
			fmt.Fprintln(w, "ok")
		}
	})
	mux.HandleFunc("/status", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(a.Status())
	})
	mux.HandleFunc(agentapi.EndpointPath, a.serveEndpoint)
	if a.policy.flows != nil {
		mux.Handle(flow.Path, flow.Handler(a.policy.flows.store, time.Now))
	}
	mux.Handle("/metrics", promhttp.HandlerFor(a.metrics.reg, promhttp.HandlerOpts{}))
	s := &server{srv: &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second,
		BaseContext: func(net.Listener) context.Context { return ctx }}}
	if a.cfg.HealthAddr != agentapi.Disabled {
		l, err := net.Listen("tcp", a.cfg.HealthAddr)
		if err != nil {
			return nil, fmt.Errorf("listen for health on %s: %w", a.cfg.HealthAddr, err)
		}
		s.tcp = l
	}
	if a.cfg.StatusSocket != agentapi.Disabled {
		if err := os.MkdirAll(filepath.Dir(a.cfg.StatusSocket), 0o755); err != nil {
			s.close()
			return nil, fmt.Errorf("create status socket directory: %w", err)
		}
		// A socket left by a killed agent would make Listen fail; it is ours to replace.
		if fi, err := os.Lstat(a.cfg.StatusSocket); err == nil && fi.Mode()&os.ModeSocket != 0 {
			_ = os.Remove(a.cfg.StatusSocket)
		}
		l, err := net.Listen("unix", a.cfg.StatusSocket)
		if err != nil {
			s.close()
			return nil, fmt.Errorf("listen on status socket %s: %w", a.cfg.StatusSocket, err)
		}
		s.unix, s.sock = l, a.cfg.StatusSocket
	}
	if err := a.listenMetrics(ctx, s); err != nil {
		s.close()
		return nil, err
	}
	for _, l := range []net.Listener{s.tcp, s.unix} {
		if l != nil {
			a.serveOn(s.srv, l)
		}
	}
	if s.ml != nil {
		a.serveOn(s.metrics, s.ml)
	}
	return s, nil
}

// listenMetrics opens the metrics-only listener (MetricsAddr): /metrics for a scraper
// over the network, while health, status and the endpoint question stay on HealthAddr
// (loopback by default) and the socket.
func (a *Agent) listenMetrics(ctx context.Context, s *server) error {
	if a.cfg.MetricsAddr == "" || a.cfg.MetricsAddr == agentapi.Disabled {
		return nil
	}
	l, err := net.Listen("tcp", a.cfg.MetricsAddr)
	if err != nil {
		return fmt.Errorf("listen for metrics on %s: %w", a.cfg.MetricsAddr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(a.metrics.reg, promhttp.HandlerOpts{}))
	s.ml, s.metrics = l, &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second,
		BaseContext: func(net.Listener) context.Context { return ctx }}
	return nil
}

func (a *Agent) serveOn(srv *http.Server, l net.Listener) {
	go func() {
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.log.Error("health server stopped", "addr", l.Addr().String(), "err", err)
		}
	}()
}

// serveEndpoint answers agentapi.EndpointPath: 200 once the endpoint with that uid has its
// policy programmed (waiting up to ?wait=), else 503.
func (a *Agent) serveEndpoint(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	ns, name, uid := q.Get("namespace"), q.Get("name"), q.Get("uid")
	if ns == "" || name == "" || uid == "" {
		http.Error(w, "namespace, name and uid are required", http.StatusBadRequest)
		return
	}
	var wait time.Duration
	if s := q.Get("wait"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d < 0 {
			http.Error(w, fmt.Sprintf("wait: invalid duration %q", s), http.StatusBadRequest)
			return
		}
		wait = min(d, agentapi.MaxEndpointWait)
	}
	ctx, cancel := context.WithTimeout(r.Context(), wait)
	defer cancel()
	if !a.policy.programmed.wait(ctx, ns, name, uid) {
		http.Error(w, "policy of endpoint "+ns+"/"+name+" not programmed yet", http.StatusServiceUnavailable)
		return
	}
	fmt.Fprintln(w, "programmed")
}

func (s *server) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = s.srv.Shutdown(ctx)
	if s.metrics != nil {
		_ = s.metrics.Shutdown(ctx)
	}
	for _, l := range []net.Listener{s.tcp, s.unix, s.ml} {
		if l != nil {
			_ = l.Close()
		}
	}
	if s.sock != "" {
		_ = os.Remove(s.sock)
	}
}

func (s *server) tcpAddr() string {
	if s.tcp == nil {
		return ""
	}
	return s.tcp.Addr().String()
}

func (s *server) socketPath() string { return s.sock }

func (s *server) metricsAddr() string {
	if s.ml == nil {
		return ""
	}
	return s.ml.Addr().String()
}
