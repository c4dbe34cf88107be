package admission

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	admissionv1 "k8s.io/api/admission/v1"
)

// Metrics count the webhook's reviews; set Reviewer.Metrics to record them and register
// Collectors in the serving component's registry.
type Metrics struct {
	reviews  *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

// NewMetrics returns the webhook's metrics, registered nowhere yet.
func NewMetrics() *Metrics {
	return &Metrics{
		reviews: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "trellis", Subsystem: "admission",
			Name: "reviews_total", Help: "Admission reviews answered, by webhook (validate, mutate), kind, operation and whether the request was allowed."},
			[]string{"webhook", "kind", "operation", "allowed"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: "trellis", Subsystem: "admission",
			Name: "review_duration_seconds", Help: "Time to decide one admission review (decode, defaults, validation, reference checks), by webhook.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14)}, []string{"webhook"}),
	}
}

// Collectors are the metrics, for a registry.
func (m *Metrics) Collectors() []prometheus.Collector {
	return []prometheus.Collector{m.reviews, m.duration}
}

// observe records one decided review; a nil m records nothing.
func (m *Metrics) observe(webhook string, req *admissionv1.AdmissionRequest, resp *admissionv1.AdmissionResponse, start time.Time) {
	if m == nil {
		return
	}
	m.reviews.WithLabelValues(webhook, req.Kind.Kind, string(req.Operation), strconv.FormatBool(resp.Allowed)).Inc()
	m.duration.WithLabelValues(webhook).Observe(time.Since(start).Seconds())
}
