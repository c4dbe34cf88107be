// Package collect turns what the kernel logged about connections into flow records: an
// NFLOG packet's prefix names the rule that decided (nft.FlowRules), the flow bits of its
// mark the egress allow it passed before (nft.FlowMarks), its addresses the workloads at
// each end, and conntrack's counters its packets and bytes. The node agent feeds it and flushes it every interval into the flow store.
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

// Services finds the Service ("namespace/name") whose frontend (cluster IP, external or
// load-balancer IP, or node port on any address) a connection was sent to before the
// service proxy translated it.
type Services interface {
	Service(dst netip.AddrPort, proto string) (string, bool)
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
	UnknownPrefix uint64 // logged packets whose prefix (or mark's flow ID) no rule of the current table has
	DroppedFlows  uint64 // observations beyond MaxKeys
	DroppedConns  uint64 // connections whose counters were not waited for (MaxConns)
	Counted       uint64 // conntrack counter reports added to flows
}

// Collector builds flow records. Safe for concurrent use: the NFLOG reader, the conntrack
// listener, the agent's sync and the flush run on their own goroutines.
type Collector struct {
	cfg      Config
	names    Names
	services Services // nil: no destination services
	agg      *flow.Aggregator

	mu          sync.RWMutex
	rules, prev map[string]nft.FlowRule
	marks       [2]nft.FlowMarks // the current and the previous flow IDs
	state       *policy.State
	staged      *policy.State // the staged view; nil when no staged policy exists

	// merged caches which policy of a merged run allowed a packet (a trace through the
	// state), for the state mergedFor, by everything the run's rules can match on.
	mergedMu  sync.Mutex
	mergedFor *policy.State
	merged    map[mergedKey]flow.PolicyHit

	connMu sync.Mutex
	conns  map[connKey]*conn // allowed connections whose counters are reported
	// shared holds one copy of each flow key the remembered connections count into (with
	// how many reference it): connections of one key share it, so a flood of them costs a
	// few words each, not a flow each.
	shared map[string]*sharedFlow

	observed, unknown, droppedConns, counted atomic.Uint64
}

// mergedKey is what decides which policy of a merged run allowed a packet: the run (its
// tier and direction) and the packet's addresses, protocol and destination port (merged
// rules never match source ports, and no policy before the run decided the packet).
type mergedKey struct {
	tier     string
	ingress  bool
	src, dst netip.Addr
	proto    string
	port     uint16
}

// maxMerged bounds the merged-run cache; it starts over when full.
const maxMerged = 8192

// connKey is a connection's original direction.
type connKey struct {
	src, dst         netip.Addr
	proto            string
	srcPort, dstPort uint16
}

// conn is an allowed connection. Its first observations wait in pending for the first
// conntrack dump that has it, which says whether it was sent to a Service (its original
// destination) and starts its counters; then they are aggregated, and later dumps add
// its packets and bytes to flows (a reporter each). missed counts the dumps in a row
// that did not have it.
type conn struct {
	pending        []flow.Flow
	seen           time.Time // when the first of pending was logged
	flows          []*sharedFlow
	packets, bytes uint64
	missed         int
}

type sharedFlow struct {
	flow flow.Flow
	key  string
	refs int
}

// ConnCounters is one conntrack entry: the connection as the filter hooks see it (after
// the service proxy's DNAT, before any SNAT), the destination it was originally sent to,
// and its counters, both directions summed.
type ConnCounters struct {
	Src, Dst         netip.Addr
	Proto            string
	SrcPort, DstPort uint16
	Packets, Bytes   uint64
	// OrigDst is the destination before DNAT (Dst's when there was none).
	OrigDst netip.AddrPort
}

// New returns a collector whose first interval starts at start; services may be nil.
func New(cfg Config, names Names, services Services, start time.Time) *Collector {
	if cfg.MaxKeys == 0 {
		cfg.MaxKeys = 20000
	}
	if cfg.MaxConns == 0 {
		cfg.MaxConns = 50000
	}
	return &Collector{cfg: cfg, names: names, services: services, agg: flow.NewAggregator(start, cfg.MaxKeys),
		rules: map[string]nft.FlowRule{}, conns: map[connKey]*conn{}, shared: map[string]*sharedFlow{}}
}

// Update installs the prefix dictionary, the flow IDs and the state of the table just
// programmed, and the staged view of the same inputs (policy.Options.Staged; nil when no
// staged policy exists). The previous dictionary and IDs stay known, for packets logged
// before the change.
func (c *Collector) Update(rules map[string]nft.FlowRule, marks nft.FlowMarks, st, staged *policy.State) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.prev, c.rules, c.state, c.staged = c.rules, rules, st, staged
	c.marks = [2]nft.FlowMarks{marks, c.marks[0]}
}

// Observe records one logged packet: the egress allow its mark names, if any (it was
// passed on the way to this message's verdict), then the verdict its prefix names. It
// reports false when the packet made no flow.
func (c *Collector) Observe(p nflog.Packet) bool {
	c.mu.RLock()
	rules, prev, marks, st, staged := c.rules, c.prev, c.marks, c.state, c.staged
	c.mu.RUnlock()
	rule := func(prefix string) (nft.FlowRule, bool) {
		fr, ok := rules[prefix]
		if !ok {
			fr, ok = prev[prefix]
		}
		return fr, ok
	}
	// A message can stand for two verdicts: what they share is worked out once.
	m := logged{p: p, src: c.endpoint(p.Src), dst: c.endpoint(p.Dst), st: st, staged: staged}
	made := false
	if p.Mark&(marks[0].Mask|marks[1].Mask) != 0 {
		prefix, ok := marks[0].Prefix(p.Mark)
		if !ok {
			prefix, ok = marks[1].Prefix(p.Mark)
		}
		fr, known := rule(prefix)
		if ok && known {
			made = c.observe(&m, fr)
		} else {
			c.unknown.Add(1)
		}
	}
	if p.Prefix == nft.FlowMarkPrefix {
		return made
	}
	fr, ok := rule(p.Prefix)
	if !ok {
		c.unknown.Add(1)
		return made
	}
	return c.observe(&m, fr) || made
}

// logged is one logged packet and what its verdicts share: its ends' names, the states
// it is judged against and, when a staged policy exists, its trace through the staged
// view (made at the first verdict that needs it).
type logged struct {
	p        nflog.Packet
	src, dst flow.Endpoint
	st       *policy.State
	staged   *policy.State
	traced   *policy.Result
}

// stagedTrace is the packet's trace through the staged view.
func (m *logged) stagedTrace() policy.Result {
	if m.traced == nil {
		p := m.p
		tr := policy.Trace(m.staged, policy.Packet{Src: p.Src, Dst: p.Dst, Proto: p.Proto, Port: p.DstPort, SrcPort: p.SrcPort})
		m.traced = &tr
	}
	return *m.traced
}

// observe records the flow of one verdict fr of a logged packet.
func (c *Collector) observe(m *logged, fr nft.FlowRule) bool {
	p := m.p
	f := flow.Flow{
		Source:      m.src,
		Destination: m.dst,
		Protocol:    p.Proto,
		Action:      flow.ActionDeny,
		Reporter:    flow.ReporterSource,
		Node:        c.cfg.Node,
		Policies:    []flow.PolicyHit{c.hit(fr, p, m.st)},
		Connections: 1,
	}
	if p.DstPort != 0 {
		f.Destination.Port = int(p.DstPort)
	}
	if m.staged != nil {
		f.Pending = pending(f.Policies[0], fr.Ingress, m.stagedTrace(), m.staged)
	}
	if fr.Ingress {
		f.Reporter = flow.ReporterDestination
	}
	if fr.Action == policy.ActionAllow {
		f.Action = flow.ActionAllow
	}
	if f.Action == flow.ActionAllow && c.cfg.Counters && c.await(p, f) {
		// Aggregated at the first conntrack dump with the connection: it names the Service.
		c.observed.Add(1)
		return true
	}
	if f.Action == flow.ActionDeny {
		// A denied connection has no conntrack entry: each packet it tries is logged.
		f.Packets, f.Bytes = 1, uint64(p.Len)
	}
	if !c.agg.Add(f) {
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
// calculation says which of its policies allowed the packet (cached per run and packet
// key, as a trace costs several microseconds).
func (c *Collector) hit(fr nft.FlowRule, p nflog.Packet, st *policy.State) flow.PolicyHit {
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
		if st == nil {
			break
		}
		k := mergedKey{fr.Tier, fr.Ingress, p.Src, p.Dst, p.Proto, p.DstPort}
		c.mergedMu.Lock()
		if c.mergedFor != st || len(c.merged) >= maxMerged {
			c.mergedFor, c.merged = st, map[mergedKey]flow.PolicyHit{}
		}
		cached, ok := c.merged[k]
		c.mergedMu.Unlock()
		if ok {
			return cached
		}
		tr := policy.Trace(st, policy.Packet{Src: p.Src, Dst: p.Dst, Proto: p.Proto, Port: p.DstPort, SrcPort: p.SrcPort})
		d := tr.Egress
		if fr.Ingress {
			d = tr.Ingress
		}
		if d.Reason == policy.ReasonRule && d.Tier == fr.Tier && d.Verdict == policy.ActionAllow {
			h.Namespace, h.Name, h.Kind, h.Rule, h.RuleName = d.Policy.Namespace, d.Policy.Name, string(d.Policy.Kind), d.Rule, d.RuleName
		}
		c.mergedMu.Lock()
		if c.mergedFor == st {
			c.merged[k] = h
		}
		c.mergedMu.Unlock()
	}
	return h
}

// await remembers an allowed connection's observation until a conntrack dump has the
// connection; false when MaxConns connections are remembered already.
func (c *Collector) await(p nflog.Packet, f flow.Flow) bool {
	k := connKey{p.Src, p.Dst, p.Proto, p.SrcPort, p.DstPort}
	c.connMu.Lock()
	defer c.connMu.Unlock()
	cn := c.conns[k]
	if cn == nil {
		if len(c.conns) >= c.cfg.MaxConns {
			c.droppedConns.Add(1)
			return false
		}
		cn = &conn{seen: p.Time}
		c.conns[k] = cn
	}
	cn.pending = append(cn.pending, f)
	return true
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

// keyed is a flow to aggregate under its key.
type keyed struct {
	key  string
	flow flow.Flow
}

// settle aggregates a connection's pending observations, with the Service it was sent
// to ("" for none or not known), and shares their flows for its counters (connMu held).
// It returns the flows to aggregate.
func (c *Collector) settle(cn *conn, service string, report []keyed) []keyed {
	for _, f := range cn.pending {
		f.Destination.Service = service
		key := f.Key() // once: the aggregator and the connection's counters share it
		report = append(report, keyed{key, f})
		f.Connections = 0
		sf := c.shared[key]
		if sf == nil {
			sf = &sharedFlow{flow: f, key: key}
			c.shared[key] = sf
		}
		sf.refs++
		cn.flows = append(cn.flows, sf)
	}
	cn.pending = nil
	return report
}

// Counters reports a conntrack dump taken at taken: each remembered connection's first
// observations are aggregated, with the Service its original destination names, and its
// packets and bytes since the last report go to its flows. A connection logged before
// the dump but missing from it has ended: its observations are aggregated without
// counters, and after two such dumps it is forgotten (conntrack keeps an ended TCP
// connection for ten seconds to two minutes, UDP for 30 seconds, so a dump every
// interval sees most connections' final counters).
func (c *Collector) Counters(entries []ConnCounters, taken time.Time) {
	c.connMu.Lock()
	seen := make(map[connKey]bool, len(c.conns))
	var report []keyed
	for _, e := range entries {
		k := connKey{e.Src.Unmap(), e.Dst.Unmap(), e.Proto, e.SrcPort, e.DstPort}
		orig := netip.AddrPortFrom(e.OrigDst.Addr().Unmap(), e.OrigDst.Port())
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
		if len(cn.pending) > 0 {
			service := ""
			if c.services != nil && e.OrigDst.IsValid() && orig != netip.AddrPortFrom(k.dst, k.dstPort) {
				service, _ = c.services.Service(orig, e.Proto)
			}
			n := len(report)
			report = c.settle(cn, service, report)
			for i := n; i < len(report); i++ {
				report[i].flow.Packets, report[i].flow.Bytes = dp, db
			}
			c.counted.Add(1)
			continue
		}
		if dp == 0 && db == 0 {
			continue
		}
		c.counted.Add(1)
		for _, sf := range cn.flows {
			f := sf.flow
			f.Packets, f.Bytes = dp, db
			report = append(report, keyed{sf.key, f})
		}
	}
	for k, cn := range c.conns {
		if seen[k] || cn.seen.After(taken) {
			continue // logged after the dump began: the next one has it
		}
		if len(cn.pending) > 0 {
			report = c.settle(cn, "", report)
		}
		if cn.missed++; cn.missed >= 2 {
			c.forget(k, cn)
		}
	}
	c.connMu.Unlock()
	for _, r := range report {
		c.agg.AddKeyed(r.key, r.flow)
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

// pending is what the staged view (tr: the packet's trace through it) decides for the
// packet's side, when a staged policy matters: it decides, or the verdict differs from
// the enforced one (actual).
func pending(actual flow.PolicyHit, ingress bool, tr policy.Result, staged *policy.State) []flow.PolicyHit {
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
