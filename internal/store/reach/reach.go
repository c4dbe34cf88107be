package reach

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/trellisnet/trellis/internal/model"
	"github.com/trellisnet/trellis/internal/store"
)

// Defaults of Config's zero values.
const (
	DefaultPeriod  = time.Second
	DefaultTimeout = 2 * time.Second
	// stillDownEvery is how often a warning repeats while the store stays unreachable.
	stillDownEvery = 30 * time.Second
)

// probeName names the object a probe asks for; it never exists.
const probeName = "trellis-reachability-probe"

// Config is a Monitor's configuration.
type Config struct {
	// Endpoint names the datastore in logs and in Reason (the configured endpoints).
	Endpoint string
	// Period is the interval between probes; DefaultPeriod.
	Period time.Duration
	// Timeout bounds one probe; DefaultTimeout.
	Timeout time.Duration
}

// State is whether the store answers and, if not, since when and why.
type State struct {
	Up    bool
	Since time.Time // when it became unreachable (zero while up)
	Err   string    // the last failure while down
}

// Monitor follows the reachability of one store. Create it with New, start it with Run.
// Safe for concurrent use.
type Monitor struct {
	cfg        Config
	st         store.Store
	log        *slog.Logger
	up         prometheus.Gauge
	reconnects prometheus.Counter

	mu       sync.Mutex
	state    State
	back     chan struct{}
	lastWarn time.Time
}

// New returns a Monitor of st, assumed up until a probe fails. It does no I/O.
func New(cfg Config, st store.Store, log *slog.Logger) *Monitor {
	if cfg.Period <= 0 {
		cfg.Period = DefaultPeriod
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m := &Monitor{cfg: cfg, st: st, log: log, state: State{Up: true}, back: make(chan struct{}),
		up: prometheus.NewGauge(prometheus.GaugeOpts{Name: "trellis_datastore_up",
			Help: "Whether the datastore answered the last probe (1) or not (0)."}),
		reconnects: prometheus.NewCounter(prometheus.CounterOpts{Name: "trellis_datastore_reconnects_total",
			Help: "Times the datastore answered again after being unreachable."}),
	}
	m.up.Set(1)
	return m
}

// Collectors returns the monitor's metrics, for a registry.
func (m *Monitor) Collectors() []prometheus.Collector {
	return []prometheus.Collector{m.up, m.reconnects}
}

// Run probes every Period until ctx ends.
func (m *Monitor) Run(ctx context.Context) {
	t := time.NewTicker(m.cfg.Period)
	defer t.Stop()
	for {
		m.probe(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (m *Monitor) probe(ctx context.Context) {
	pctx, cancel := context.WithTimeout(ctx, m.cfg.Timeout)
	_, err := m.st.Get(pctx, model.KindIPPool, "", probeName)
	cancel()
	if ctx.Err() != nil {
		return
	}
	if err == nil || errors.Is(err, store.ErrNotFound) {
		m.set(nil)
		return
	}
	m.set(err)
}

// Observe reports the result of a store operation made elsewhere: ErrUnavailable marks
// the store down at once; anything else is left to the probes.
func (m *Monitor) Observe(err error) {
	if errors.Is(err, store.ErrUnavailable) {
		m.set(err)
	}
}

// set records a probe's outcome (nil: answered) and reports transitions.
func (m *Monitor) set(err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := time.Now()
	switch {
	case err == nil && m.state.Up:
	case err == nil:
		m.log.Info("datastore reachable again; listing again", "endpoint", m.cfg.Endpoint,
			"unreachableFor", now.Sub(m.state.Since).Round(time.Millisecond))
		m.state = State{Up: true}
		m.up.Set(1)
		m.reconnects.Inc()
		close(m.back)
		m.back = make(chan struct{})
	case m.state.Up:
		m.state = State{Since: now, Err: err.Error()}
		m.up.Set(0)
		m.lastWarn = now
		m.log.Warn("datastore unreachable; dataplane keeps enforcing what it has", "endpoint", m.cfg.Endpoint, "err", err)
	default:
		m.state.Err = err.Error()
		if now.Sub(m.lastWarn) >= stillDownEvery {
			m.lastWarn = now
			m.log.Warn("datastore still unreachable", "endpoint", m.cfg.Endpoint,
				"since", m.state.Since.Format(time.RFC3339), "err", err)
		}
	}
}

// State returns the current state.
func (m *Monitor) State() State {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.state
}

// Reason is "" while the store is up, else why not, naming the endpoint:
// "datastore unreachable since 2026-01-02T03:04:05Z: unix:///run/x.sock: <error>".
func (m *Monitor) Reason() string {
	s := m.State()
	if s.Up {
		return ""
	}
	return fmt.Sprintf("datastore unreachable since %s: %s: %s", s.Since.UTC().Format(time.RFC3339), m.cfg.Endpoint, s.Err)
}

// Back returns a channel closed when the store next answers after being unreachable.
func (m *Monitor) Back() <-chan struct{} {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.back
}

// Drain calls onEvent for every event of w until w ends or back is closed (the datastore
// answers again after being unreachable, so a fresh watch and a full reconcile are due),
// then stops w.
func Drain(w store.Watch, back <-chan struct{}, onEvent func()) {
	defer w.Stop()
	for {
		select {
		case _, ok := <-w.Events():
			if !ok {
				return
			}
			onEvent()
		case <-back:
			return
		}
	}
}
