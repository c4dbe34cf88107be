package runnermetrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/trellisnet/trellis/internal/runner"
)

// Metrics implements runner.Observer over Prometheus metrics. Create it with New.
type Metrics struct {
	runs     *prometheus.CounterVec
	errors   *prometheus.CounterVec
	duration *prometheus.HistogramVec
	success  *prometheus.GaugeVec
}

// New returns the loop metrics, registered nowhere yet (see Collectors).
func New() *Metrics {
	opts := func(name, help string) prometheus.Opts {
		return prometheus.Opts{Namespace: "trellis", Subsystem: "loop", Name: name, Help: help}
	}
	return &Metrics{
		runs: prometheus.NewCounterVec(prometheus.CounterOpts(opts("runs_total",
			"Runs of a control loop that ended, by loop and by what started them (start, triggered, resync, retry).")),
			[]string{"loop", "reason"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts(opts("errors_total",
			"Runs of a control loop that returned an error (retried after a backoff).")), []string{"loop"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: "trellis", Subsystem: "loop",
			Name: "run_duration_seconds", Help: "Duration of the runs of a control loop (reconciliations, syncs).",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16)}, []string{"loop"}),
		success: prometheus.NewGaugeVec(prometheus.GaugeOpts(opts("last_success_timestamp_seconds",
			"Unix time of the end of the last successful run of a control loop.")), []string{"loop"}),
	}
}

// Collectors are the metrics, for a registry.
func (m *Metrics) Collectors() []prometheus.Collector {
	return []prometheus.Collector{m.runs, m.errors, m.duration, m.success}
}

// Declare creates the series of the named loops at zero, so they are scraped before their
// first run ends (a loop that never finishes a run is then visible as such).
func (m *Metrics) Declare(loops ...string) {
	for _, l := range loops {
		m.errors.WithLabelValues(l)
		m.duration.WithLabelValues(l)
	}
}

// Ran records one run (runner.Observer).
func (m *Metrics) Ran(loop string, why runner.Reason, took time.Duration, err error) {
	m.runs.WithLabelValues(loop, why.String()).Inc()
	m.duration.WithLabelValues(loop).Observe(took.Seconds())
	if err != nil {
		m.errors.WithLabelValues(loop).Inc()
		return
	}
	m.success.WithLabelValues(loop).Set(float64(time.Now().UnixNano()) / 1e9)
}

var _ runner.Observer = (*Metrics)(nil)
