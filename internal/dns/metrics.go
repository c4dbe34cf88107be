package dns

import (
	"errors"
	"time"

	mdns "github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics are the DNS server's Prometheus metrics, in a registry of its own.
type metrics struct {
	reg      *prometheus.Registry
	queries  *prometheus.CounterVec
	duration *prometheus.HistogramVec
	records  *prometheus.CounterVec
}

func newMetrics(v *view, reachCollectors []prometheus.Collector) *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	m.queries = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "trellis", Subsystem: "dns",
		Name: "queries_total", Help: "DNS queries answered, by question type (A, AAAA, SRV, PTR, ...; other) and response code (NOERROR, NXDOMAIN, SERVFAIL, ...)."},
		[]string{"type", "rcode"})
	m.duration = prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: "trellis", Subsystem: "dns",
		Name: "request_duration_seconds", Help: "Time from a query's arrival to its reply being ready to send, by transport (udp, tcp).",
		Buckets: prometheus.ExponentialBuckets(0.00005, 2, 16)}, []string{"proto"})
	m.records = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "trellis", Subsystem: "dns",
		Name: "answer_records_total", Help: "Resource records sent in the answer sections of replies, by record type."},
		[]string{"type"})
	services := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "trellis", Subsystem: "dns",
		Name: "services", Help: "Services the server answers for (its view of the datastore)."},
		func() float64 { s, _ := v.size(); return float64(s) })
	slices := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "trellis", Subsystem: "dns",
		Name: "endpoint_slices", Help: "EndpointSlices in the server's view (headless and SRV answers)."},
		func() float64 { _, n := v.size(); return float64(n) })
	m.reg.MustRegister(m.queries, m.duration, m.records, services, slices)
	m.reg.MustRegister(reachCollectors...)
	m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// observe records one reply to req, begun at start, over transport proto.
func (m *metrics) observe(req, reply *mdns.Msg, proto string, start time.Time) {
	m.queries.WithLabelValues(questionType(req), rcodeName(reply.Rcode)).Inc()
	m.duration.WithLabelValues(proto).Observe(time.Since(start).Seconds())
	for _, rr := range reply.Answer {
		m.records.WithLabelValues(typeName(rr.Header().Rrtype)).Inc()
	}
}

// questionType names the type of a query's one question; "other" for unknown types and
// "none" for a message without exactly one question (bounded label values).
func questionType(req *mdns.Msg) string {
	if len(req.Question) != 1 {
		return "none"
	}
	return typeName(req.Question[0].Qtype)
}

func typeName(t uint16) string {
	if s, ok := mdns.TypeToString[t]; ok {
		return s
	}
	return "other"
}

func rcodeName(rc int) string {
	if s, ok := mdns.RcodeToString[rc]; ok {
		return s
	}
	return "other"
}

// size counts the view's services and slices.
func (v *view) size() (services, slices int) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	for _, s := range v.slices {
		slices += len(s)
	}
	return len(v.services), slices
}

// Gatherer is the server's metrics registry, for /metrics.
func (s *Server) Gatherer() prometheus.Gatherer { return s.metrics.reg }

// Ready is nil once the first list of Services and EndpointSlices is in (before, queries
// get SERVFAIL); while the datastore is unreachable the server stays ready and answers
// from what it has.
func (s *Server) Ready() error {
	if !s.Synced() {
		return errors.New("services and endpoint slices not listed yet")
	}
	return nil
}
