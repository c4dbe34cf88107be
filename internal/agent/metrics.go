package agent

import (
	"context"
	"regexp"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/trellisnet/trellis/internal/agent/agentapi"
	"github.com/trellisnet/trellis/internal/runner/runnermetrics"
)

// metrics are the agent's Prometheus metrics, in a registry of its own (several agents
// can run in one process, e.g. in tests).
type metrics struct {
	reg           *prometheus.Registry
	loops         *runnermetrics.Metrics // the policy and routing loops' runs
	syncs         *prometheus.CounterVec
	syncDuration  *prometheus.HistogramVec
	phaseDuration *prometheus.HistogramVec
	syncErrors    prometheus.Counter
	storeErrors   prometheus.Counter
	convertErrors prometheus.Counter
	events        prometheus.Counter
	driftRepairs  prometheus.Counter
	lastSync      prometheus.Gauge
	endpoints     prometheus.Gauge
	policies      prometheus.Gauge
	chains        prometheus.Gauge
	rules         prometheus.Gauge
	sets          prometheus.Gauge
	elements      prometheus.Gauge
}

func newMetrics(a *Agent) *metrics {
	m := &metrics{reg: prometheus.NewRegistry(), loops: runnermetrics.New()}
	m.reg.MustRegister(m.loops.Collectors()...)
	m.reg.MustRegister(&bgpCollector{peers: func() []agentapi.BGPPeer { return a.routing.Peers() }})
	gauge := func(name, help string) prometheus.Gauge {
		g := prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "trellis", Subsystem: "agent", Name: name, Help: help})
		m.reg.MustRegister(g)
		return g
	}
	counter := func(name, help string) prometheus.Counter {
		c := prometheus.NewCounter(prometheus.CounterOpts{Namespace: "trellis", Subsystem: "agent", Name: name, Help: help})
		m.reg.MustRegister(c)
		return c
	}
	m.syncs = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "trellis", Subsystem: "agent",
		Name: "syncs_total", Help: "Successful dataplane syncs by type (full, partial)."}, []string{"type"})
	m.syncDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: "trellis", Subsystem: "agent",
		Name: "sync_duration_seconds", Help: "Duration of dataplane syncs (render and nft transaction) by type.",
		Buckets: prometheus.ExponentialBuckets(0.001, 2, 15)}, []string{"type"})
	m.phaseDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: "trellis", Subsystem: "agent",
		Name: "sync_phase_duration_seconds", Help: "Duration of the phases of a sync: calculate, render, apply (plan and nft transaction).",
		Buckets: prometheus.ExponentialBuckets(0.001, 2, 15)}, []string{"phase"})
	m.reg.MustRegister(m.syncs, m.syncDuration, m.phaseDuration)
	m.syncErrors = counter("sync_errors_total", "Failed dataplane syncs.")
	m.storeErrors = counter("datastore_errors_total", "Failed datastore lists, watches and status writes.")
	m.convertErrors = counter("convert_errors_total", "Stored objects the calculation could not read (ignored).")
	m.driftRepairs = counter("drift_repairs_total", "Full syncs after a foreign change of the nftables table (seen by the monitor).")
	m.events = counter("watch_events_total", "Datastore watch events recorded.")
	m.lastSync = gauge("last_sync_timestamp_seconds", "Unix time of the start of the last successful sync.")
	m.endpoints = gauge("endpoints", "Local endpoints programmed.")
	m.policies = gauge("policies", "Policies referenced by local endpoints.")
	m.chains = gauge("chains", "Chains in the owned nftables table.")
	m.rules = gauge("rules", "Rules in the owned nftables table.")
	m.sets = gauge("sets", "Sets and maps in the owned nftables table.")
	m.elements = gauge("set_elements", "Set and map elements in the owned nftables table.")
	m.reg.MustRegister(a.reach.Collectors()...)
	m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if a.dp.Counters != nil {
		m.reg.MustRegister(&ruleCollector{a: a})
	}
	return m
}

func (m *metrics) observeSync(kind string, took time.Duration, err error) {
	if err != nil {
		m.syncErrors.Inc()
		return
	}
	m.syncs.WithLabelValues(kind).Inc()
	m.syncDuration.WithLabelValues(kind).Observe(took.Seconds())
}

func (m *metrics) observeState(s syncSnapshot) {
	m.lastSync.Set(float64(s.at.UnixNano()) / 1e9)
	m.endpoints.Set(float64(s.endpoints))
	m.policies.Set(float64(s.policies))
	m.chains.Set(float64(s.stats.Chains))
	m.rules.Set(float64(s.stats.Rules))
	m.sets.Set(float64(s.stats.Sets))
	m.elements.Set(float64(s.stats.Elements))
}

var (
	rulePackets = prometheus.NewDesc("trellis_rule_packets_total",
		"Packets that matched a policy or profile rule (or an end-of-tier drop), from the nft rule counters.",
		[]string{"tier", "policy", "direction", "rule"}, nil)
	ruleBytes = prometheus.NewDesc("trellis_rule_bytes_total",
		"Bytes that matched a policy or profile rule (or an end-of-tier drop), from the nft rule counters.",
		[]string{"tier", "policy", "direction", "rule"}, nil)
)

// ruleCollector reads the nft rule counters at scrape time.
type ruleCollector struct{ a *Agent }

func (c *ruleCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- rulePackets
	ch <- ruleBytes
}

func (c *ruleCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	counters, err := c.a.dp.Counters(ctx)
	if err != nil {
		c.a.log.Warn("read nftables rule counters failed", "err", err)
		return
	}
	for _, s := range aggregateRules(counters, c.a.health.tiers()) {
		l := []string{s.tier, s.policy, s.direction, s.rule}
		ch <- prometheus.MustNewConstMetric(rulePackets, prometheus.CounterValue, float64(s.packets), l...)
		ch <- prometheus.MustNewConstMetric(ruleBytes, prometheus.CounterValue, float64(s.bytes), l...)
	}
}

// ruleSample is the sum of the counters of the nft rules rendered from one policy rule.
type ruleSample struct {
	tier, policy, direction, rule string
	packets, bytes                uint64
}

var (
	policyRuleRE  = regexp.MustCompile(`^(policy|profile) (\S+) (ingress|egress)\[(\d+)\]$`)
	endOfTierRE   = regexp.MustCompile(`^(ingress|egress) end of tier (\S+)$`)
	finalActionRE = regexp.MustCompile(`^(ingress|egress) final (allow|deny)$`)
)

// aggregateRules turns nft rule counters into per-rule samples, from the comments the
// renderer writes: "policy NAME DIR[i]", "profile NAME DIR[i]", "DIR end of tier T" and
// "DIR final ACTION". Several nft rules rendered from one policy rule (IP families, port
// alternatives) and one rule in several endpoints' chains are summed. Other rules are
// ignored. tiers maps policy names to their tier.
func aggregateRules(counters []RuleCounter, tiers map[string]string) []ruleSample {
	type key struct{ tier, policy, direction, rule string }
	sums := map[key]*ruleSample{}
	var order []key
	for _, rc := range counters {
		var k key
		if m := policyRuleRE.FindStringSubmatch(rc.Comment); m != nil {
			k = key{policy: m[2], direction: m[3], rule: m[4]}
			if m[1] == "profile" {
				k.policy, k.tier = "profile:"+m[2], "profile"
			} else {
				k.tier = tiers[m[2]]
			}
		} else if m := endOfTierRE.FindStringSubmatch(rc.Comment); m != nil {
			k = key{tier: m[2], direction: m[1], rule: "end-of-tier"}
		} else if m := finalActionRE.FindStringSubmatch(rc.Comment); m != nil {
			k = key{direction: m[1], rule: "final-" + m[2]}
		} else {
			continue
		}
		s, ok := sums[k]
		if !ok {
			s = &ruleSample{tier: k.tier, policy: k.policy, direction: k.direction, rule: k.rule}
			sums[k] = s
			order = append(order, k)
		}
		s.packets += rc.Packets
		s.bytes += rc.Bytes
	}
	out := make([]ruleSample, 0, len(order))
	for _, k := range order {
		out = append(out, *sums[k])
	}
	return out
}

// trimQuotes removes the quotes nft may keep around a comment.
func trimQuotes(s string) string { return strings.Trim(s, `"`) }
