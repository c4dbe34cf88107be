// Package collect turns what the kernel logged about connections into flow records: an
// NFLOG packet's prefix names the rule that decided (nft.FlowRules), its addresses the
// workloads at each end, and conntrack's counters its packets and bytes. The node agent feeds it and flushes it every interval into the flow store.
package collect

import (
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/trellisnet/trellis/internal/dataplane/nft"
	"github.com/trellisnet/trellis/internal/flow"
	"github.com/trellisnet/trellis/internal/flow/nflog"
	"github.com/trellisnet/trellis/internal/policy"
)

// Names finds the workload holding an address, cluster-wide.
type Names interface {
	Lookup(ip netip.Addr) (namespace, name string, ok bool)
}

// Config bounds a collector.
type Config struct {
	Node string
	// MaxKeys bounds the flow keys of one interval, MaxConns the connections waiting for
	// their counters; beyond them observations are dropped and counted.
	MaxKeys  int
	MaxConns int
	// Counters: conntrack dumps are fed to Counters, so allowed connections are
	// remembered until they end.
	Counters bool
}

// Stats counts what a collector dropped.
type Stats struct {
	Observed      uint64 // logged packets turned into flows
	UnknownPrefix uint64 // logged packets whose prefix no rule of the current table has
	DroppedFlows  uint64 // observations beyond MaxKeys
	DroppedConns  uint64 // connections whose counters were not waited for (MaxConns)
	Counted       uint64 // conntrack counter reports added to flows
}

// Collector builds flow records. Safe for concurrent use: the NFLOG reader, the conntrack
// listener, the agent's sync and the flush run on their own goroutines.
type Collector struct {
	cfg   Config
	names Names
	agg   *flow.Aggregator

	mu          sync.RWMutex
	rules, prev map[string]nft.FlowRule
	state       *policy.State
	staged      *policy.State // the staged view; nil when no staged policy exists

	connMu sync.Mutex
	conns  map[connKey]*conn // allowed connections whose counters are reported
	// shared holds one copy of each flow key the remembered connections count into (with
	// how many reference it): connections of one key share it, so a flood of them costs a
	// few words each, not a flow each.
	shared map[string]*sharedFlow

	observed, unknown, droppedConns, counted atomic.Uint64
}

// connKey is a connection's original direction.
type connKey struct {
	src, dst         netip.Addr
	proto            string
	srcPort, dstPort uint16
}

// conn is an allowed connection: the flows it counts into (a reporter each), what was
// reported of its counters so far, and how many conntrack dumps in a row missed it.
type conn struct {
	flows          []*sharedFlow
	packets, bytes uint64
	missed         int
}

type sharedFlow struct {
	flow flow.Flow
	key  string
	refs int
}

// ConnCounters is one conntrack entry's counters, both directions summed.
type ConnCounters struct {
	Src, Dst         netip.Addr
	Proto            string
	SrcPort, DstPort uint16
	Packets, Bytes   uint64
}

// New returns a collector whose first interval starts at start.
func New(cfg Config, names Names, start time.Time) *Collector {
	if cfg.MaxKeys == 0 {
		cfg.MaxKeys = 20000
	}
	if cfg.MaxConns == 0 {
		cfg.MaxConns = 50000
	}
	return &Collector{cfg: cfg, names: names, agg: flow.NewAggregator(start, cfg.MaxKeys),
		rules: map[string]nft.FlowRule{}, conns: map[connKey]*conn{}, shared: map[string]*sharedFlow{}}
}

// Update installs the prefix dictionary and the state of the table just programmed, and
// the staged view of the same inputs (policy.Options.Staged; nil when no staged policy
// exists). The previous dictionary stays known, for packets logged before the change.
func (c *Collector) Update(rules map[string]nft.FlowRule, st, staged *policy.State) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.prev, c.rules, c.state, c.staged = c.rules, rules, st, staged
}

// Observe records one logged packet; it reports false when the packet made no flow.
func (c *Collector) Observe(p nflog.Packet) bool {
	c.mu.RLock()
	fr, ok := c.rules[p.Prefix]
	if !ok {
		fr, ok = c.prev[p.Prefix]
	}
	st, staged := c.state, c.staged
	c.mu.RUnlock()
	if !ok {
		c.unknown.Add(1)
		return false
	}
	f := flow.Flow{
		Source:      c.endpoint(p.Src),
		Destination: c.endpoint(p.Dst),
		Protocol:    p.Proto,
		Action:      flow.ActionDeny,
		Reporter:    flow.ReporterSource,
		Node:        c.cfg.Node,
		Policies:    []flow.PolicyHit{hit(fr, p, st)},
		Connections: 1,
	}
	if p.DstPort != 0 {
		f.Destination.Port = int(p.DstPort)
	}
	if staged != nil {
		f.Pending = pending(f.Policies[0], fr.Ingress, p, staged)
	}
	if fr.Ingress {
		f.Reporter = flow.ReporterDestination
	}
	if fr.Action == policy.ActionAllow {
		f.Action = flow.ActionAllow
	}
	key := f.Key() // once: the aggregator and the connection's counters share it
	if f.Action == flow.ActionAllow {
		if c.cfg.Counters {
			c.await(p, f, key) // conntrack counts its packets and bytes when it ends
		}
	} else {
		// A denied connection has no conntrack entry: each packet it tries is logged.
		f.Packets, f.Bytes = 1, uint64(p.Len)
	}
	if !c.agg.AddKeyed(key, f) {
		return false
	}
	c.observed.Add(1)
	return true
}

func (c *Collector) endpoint(ip netip.Addr) flow.Endpoint {
	e := flow.Endpoint{IP: ip.String()}
	if c.names != nil {
		e.Namespace, e.Name, _ = c.names.Lookup(ip)
	}
	return e
}

// hit is the policy hit a flow rule stands for. A merged run names only its tier: the
// calculation says which of its policies allowed the packet.
func hit(fr nft.FlowRule, p nflog.Packet, st *policy.State) flow.PolicyHit {
	h := flow.PolicyHit{Tier: fr.Tier, Rule: fr.Rule, RuleName: fr.RuleName, Action: string(fr.Action)}
	switch fr.Kind {
	case nft.FlowPolicy, nft.FlowEndOfTier:
		h.Namespace, h.Name, h.Kind = fr.Policy.Namespace, fr.Policy.Name, string(fr.Policy.Kind)
	case nft.FlowProfile:
		h.Name, h.Kind = fr.Profile, "Profile"
	case nft.FlowFinal:
		h.Name, h.Kind = "final", "Default"
	case nft.FlowMerged:
		h.Name, h.Kind = "merged run", "Merged"
		if st != nil {
			tr := policy.Trace(st, policy.Packet{Src: p.Src, Dst: p.Dst, Proto: p.Proto, Port: p.DstPort, SrcPort: p.SrcPort})
			d := tr.Egress
			if fr.Ingress {
				d = tr.Ingress
			}
			if d.Reason == policy.ReasonRule && d.Tier == fr.Tier && d.Verdict == policy.ActionAllow {
				h.Namespace, h.Name, h.Kind, h.Rule, h.RuleName = d.Policy.Namespace, d.Policy.Name, string(d.Policy.Kind), d.Rule, d.RuleName
			}
		}
	}
	return h
}

// await remembers an allowed connection so that its counters are reported.
func (c *Collector) await(p nflog.Packet, f flow.Flow, key string) {
	k := connKey{p.Src, p.Dst, p.Proto, p.SrcPort, p.DstPort}
	f.Connections = 0
	c.connMu.Lock()
	defer c.connMu.Unlock()
	cn := c.conns[k]
	if cn == nil {
		if len(c.conns) >= c.cfg.MaxConns {
			c.droppedConns.Add(1)
			return
		}
		cn = &conn{}
		c.conns[k] = cn
	}
	sf := c.shared[key]
	if sf == nil {
		sf = &sharedFlow{flow: f, key: key}
		c.shared[key] = sf
	}
	sf.refs++
	cn.flows = append(cn.flows, sf)
}

// forget drops a remembered connection (connMu held).
func (c *Collector) forget(k connKey, cn *conn) {
	delete(c.conns, k)
	for _, sf := range cn.flows {
		if sf.refs--; sf.refs == 0 {
			delete(c.shared, sf.key)
		}
	}
}

// Counters reports a conntrack dump: each remembered connection's packets and bytes
// since the last report go to its flows. A connection missing from two dumps in a row
// has ended and is forgotten (conntrack keeps an ended TCP connection for two minutes,
// UDP for 30 seconds, so a dump every interval sees every connection's final counters).
func (c *Collector) Counters(entries []ConnCounters) {
	c.connMu.Lock()
	seen := make(map[connKey]bool, len(c.conns))
	var report []flow.Flow
	for _, e := range entries {
		k := connKey{e.Src.Unmap(), e.Dst.Unmap(), e.Proto, e.SrcPort, e.DstPort}
		cn := c.conns[k]
		if cn == nil {
			continue
		}
		seen[k] = true
		cn.missed = 0
		if e.Packets < cn.packets || e.Bytes < cn.bytes {
			cn.packets, cn.bytes = 0, 0 // a new connection with the same tuple
		}
		dp, db := e.Packets-cn.packets, e.Bytes-cn.bytes
		cn.packets, cn.bytes = e.Packets, e.Bytes
		if dp == 0 && db == 0 {
			continue
		}
		c.counted.Add(1)
		for _, sf := range cn.flows {
			f := sf.flow
			f.Packets, f.Bytes = dp, db
			report = append(report, f)
		}
	}
	for k, cn := range c.conns {
		if !seen[k] {
			if cn.missed++; cn.missed >= 2 {
				c.forget(k, cn)
			}
		}
	}
	c.connMu.Unlock()
	for _, f := range report {
		c.agg.Add(f)
	}
}

// Flush ends the interval at now and returns its flows.
func (c *Collector) Flush(now time.Time) []flow.Flow { return c.agg.Flush(now) }

// Stats returns the counts so far.
func (c *Collector) Stats() Stats {
	return Stats{Observed: c.observed.Load(), UnknownPrefix: c.unknown.Load(), DroppedFlows: c.agg.Dropped(),
		DroppedConns: c.droppedConns.Load(), Counted: c.counted.Load()}
}

// Waiting is the number of connections waiting for their counters.
func (c *Collector) Waiting() int {
	c.connMu.Lock()
	defer c.connMu.Unlock()
	return len(c.conns)
}

// pending is what the staged view decides for the packet's side, when a staged policy
// matters: it decides, or the verdict differs from the enforced one (actual).
func pending(actual flow.PolicyHit, ingress bool, p nflog.Packet, staged *policy.State) []flow.PolicyHit {
	tr := policy.Trace(staged, policy.Packet{Src: p.Src, Dst: p.Dst, Proto: p.Proto, Port: p.DstPort, SrcPort: p.SrcPort})
	d := tr.Egress
	if ingress {
		d = tr.Ingress
	}
	h, ok := decisionHit(d, staged, ingress)
	if !ok {
		return nil
	}
	stagedKind := false
	switch policy.PolicyKind(h.Kind) {
	case policy.PolicyStaged, policy.PolicyStagedGlobal, policy.PolicyStagedKubernetes:
		stagedKind = true
	}
	if !stagedKind && h.Action == actual.Action {
		return nil
	}
	return []flow.PolicyHit{h}
}

// decisionHit is the policy hit of a traced decision (ok false: nothing enforced on that
// side). The end of a tier names the tier's last policy for the endpoint, as the
// dataplane's flow rules do.
func decisionHit(d policy.Decision, st *policy.State, ingress bool) (flow.PolicyHit, bool) {
	h := flow.PolicyHit{Tier: d.Tier, Rule: d.Rule, RuleName: d.RuleName, Action: string(d.Verdict)}
	switch d.Reason {
	case policy.ReasonRule:
		h.Namespace, h.Name, h.Kind = d.Policy.Namespace, d.Policy.Name, string(d.Policy.Kind)
	case policy.ReasonEndOfTier:
		h.Rule = -1
		if id, ok := lastPolicy(st, d.Endpoint, d.Tier, ingress); ok {
			h.Namespace, h.Name, h.Kind = id.Namespace, id.Name, string(id.Kind)
		}
	case policy.ReasonProfile:
		h.Name, h.Kind = d.Profile, "Profile"
	case policy.ReasonDefault:
		h.Name, h.Kind, h.Rule = "final", "Default", -1
	default:
		return h, false
	}
	return h, true
}

// lastPolicy is the last policy of tier in the chain of endpoint ("workload/ns/pod").
func lastPolicy(st *policy.State, endpoint, tier string, ingress bool) (policy.PolicyID, bool) {
	for i := range st.Endpoints {
		ep := &st.Endpoints[i]
		if string(ep.Kind)+"/"+ep.Name != endpoint {
			continue
		}
		ch := ep.Egress
		if ingress {
			ch = ep.Ingress
		}
		for _, tc := range ch.Tiers {
			if tc.Name == tier && len(tc.Policies) > 0 {
				return tc.Policies[len(tc.Policies)-1], true
			}
		}
	}
	return policy.PolicyID{}, false
}
