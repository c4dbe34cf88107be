package agent

import (
	"context"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/trellisnet/trellis/internal/dataplane/nft"
	"github.com/trellisnet/trellis/internal/flow"
	"github.com/trellisnet/trellis/internal/flow/collect"
	"github.com/trellisnet/trellis/internal/flow/nflog"
	"github.com/trellisnet/trellis/internal/model"
	"github.com/trellisnet/trellis/internal/policy"
)

// Flow logging defaults.
const (
	DefaultFlowInterval  = 15 * time.Second
	DefaultFlowStoreSize = 10000
)

// FlowReader reads the flow-log NFLOG group (nflog.Reader).
type FlowReader interface {
	Run(ctx context.Context, fn func(nflog.Packet)) error
	Stats() nflog.Stats
	Close() error
}

// flowLog is the agent's flow logging: the reader of the NFLOG group the table logs
// verdicts to, the collector, and every interval a flush into the store (served on
// /api/v1/flows), the JSON-lines file and the aggregator.
type flowLog struct {
	cfg       Config
	log       *slog.Logger
	collector *collect.Collector
	store     *flow.Store
	names     *endpointNames
	file      *flow.FileWriter
	push      *flow.Client
	counters  func() ([]collect.ConnCounters, error) // nil: no packet and byte counts
	reader    FlowReader                             // set by run
	mu        sync.Mutex
	pushErrs  uint64
	countErrs uint64
	// The staged view (policy.Options.Staged) of the same inputs, built only while staged
	// policies exist (they are rare; a second calculation of everything is not): inputs
	// holds every input the calculation has (shared pointers, a map entry each), replayed
	// into a new staged calculator when the first staged policy arrives.
	node       string
	inputs     map[policy.Key]policy.Resource
	staged     *policy.Calculator // nil without staged policies
	stagedKeys map[policy.Key]bool
}

func newFlowLog(cfg Config, log *slog.Logger, reg prometheus.Registerer, counters func() ([]collect.ConnCounters, error), services collect.Services) *flowLog {
	f := &flowLog{cfg: cfg, log: log, names: newEndpointNames(), store: flow.NewStore(cfg.FlowStoreSize), counters: counters}
	f.collector = collect.New(collect.Config{Node: cfg.NodeName, Counters: counters != nil}, f.names, services, time.Now())
	if cfg.FlowLogFile != "" {
		f.file = &flow.FileWriter{Path: cfg.FlowLogFile, MaxBytes: cfg.FlowLogFileMaxBytes, Keep: cfg.FlowLogFileKeep}
	}
	if cfg.FlowAggregator != "" {
		f.push = &flow.Client{Base: cfg.FlowAggregator}
	}
	counter := func(name, help string, v func() float64) {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, v))
	}
	stat := func(pick func(collect.Stats) uint64) func() float64 {
		return func() float64 { return float64(pick(f.collector.Stats())) }
	}
	counter("trellis_flow_packets_logged_total", "Logged packets turned into flow records.", stat(func(s collect.Stats) uint64 { return s.Observed }))
	counter("trellis_flow_unknown_prefix_total", "Logged packets whose prefix no rule of the programmed table has.", stat(func(s collect.Stats) uint64 { return s.UnknownPrefix }))
	counter("trellis_flow_dropped_total", "Flow observations dropped beyond the per-interval key bound.", stat(func(s collect.Stats) uint64 { return s.DroppedFlows }))
	reader := func(pick func(nflog.Stats) uint64) func() float64 {
		return func() float64 {
			f.mu.Lock()
			defer f.mu.Unlock()
			if f.reader == nil {
				return 0
			}
			return float64(pick(f.reader.Stats()))
		}
	}
	counter("trellis_flow_log_lost_total", "Log messages the kernel dropped because the agent fell behind.", reader(func(s nflog.Stats) uint64 { return s.Lost }))
	counter("trellis_flow_log_messages_total", "Log messages read: one per allowed connection and node (both verdicts of a node in one), one per denied packet.",
		reader(func(s nflog.Stats) uint64 { return s.Packets }))
	return f
}

// programmed tells the collector what the table just programmed logs (its prefixes and
// the flow IDs its egress allows write into marks), and the staged view when staged
// policies exist.
func (f *flowLog) programmed(st *policy.State, marks nft.FlowMarks) {
	var sv *policy.State
	if f.staged != nil {
		sv = f.staged.State()
	}
	f.collector.Update(nft.FlowRules(st), marks, st, sv)
}

// reset forgets every input (a new snapshot of the datastore).
func (f *flowLog) reset(node string) {
	f.node, f.inputs, f.staged, f.stagedKeys = node, map[policy.Key]policy.Resource{}, nil, map[policy.Key]bool{}
}

// stagedUpdate records an input the calculation was given.
func (f *flowLog) stagedUpdate(r policy.Resource) {
	k := r.Key()
	f.inputs[k] = r
	if in, ok := r.(*policy.PolicyInput); ok && in.Staged {
		f.stagedKeys[k] = true
		if f.staged == nil {
			// The first staged policy: the staged view of everything so far.
			f.staged = policy.NewCalculator(policy.Options{Node: f.node, Staged: true})
			for _, in := range f.inputs {
				f.staged.Update(in)
			}
			return
		}
	} else {
		delete(f.stagedKeys, k)
	}
	if f.staged != nil {
		f.staged.Update(r)
	}
}

// stagedDelete records an input deleted from the calculation; the staged view goes with
// the last staged policy.
func (f *flowLog) stagedDelete(k policy.Key) {
	delete(f.inputs, k)
	delete(f.stagedKeys, k)
	if f.staged == nil {
		return
	}
	if len(f.stagedKeys) == 0 {
		f.staged = nil
		return
	}
	f.staged.Delete(k)
}

// run reads the group and flushes every interval until ctx ends.
func (f *flowLog) run(ctx context.Context, open func(group uint16) (FlowReader, error)) {
	r, err := open(f.cfg.FlowLogGroup)
	if err != nil {
		f.log.Error("flow logs off: cannot read the flow-log group", "group", f.cfg.FlowLogGroup, "err", err)
		return
	}
	f.mu.Lock()
	f.reader = r
	f.mu.Unlock()
	defer r.Close()
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() {
		if err := r.Run(ctx, func(p nflog.Packet) { f.collector.Observe(p) }); err != nil {
			f.log.Error("flow-log reader stopped", "err", err)
		}
	})
	t := time.NewTicker(f.cfg.FlowInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			f.flush(context.WithoutCancel(ctx), time.Now())
			if f.file != nil {
				_ = f.file.Close()
			}
			return
		case now := <-t.C:
			f.flush(ctx, now)
		}
	}
}

func (f *flowLog) flush(ctx context.Context, now time.Time) {
	if f.counters != nil {
		taken := time.Now()
		entries, err := f.counters()
		if err != nil {
			f.countErrs++
			f.log.Warn("read conntrack counters failed", "err", err, "failures", f.countErrs)
		} else {
			f.collector.Counters(entries, taken)
		}
	}
	flows := f.collector.Flush(now)
	if len(flows) == 0 {
		return
	}
	f.store.Add(flows...)
	if f.file != nil {
		if err := f.file.Write(flows); err != nil {
			f.log.Warn("write flow log failed", "err", err)
		}
	}
	if f.push != nil {
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		if err := f.push.Push(pctx, flows); err != nil {
			f.pushErrs++
			f.log.Warn("push flows to the aggregator failed; they stay in this agent's store", "err", err, "failures", f.pushErrs)
		}
	}
}

// endpointNames maps every workload address in the cluster to its namespace and pod,
// from the WorkloadEndpoints the agent watches.
type endpointNames struct {
	mu     sync.RWMutex
	byAddr map[netip.Addr][2]string
	byKey  map[objKey][]netip.Addr
}

func newEndpointNames() *endpointNames {
	return &endpointNames{byAddr: map[netip.Addr][2]string{}, byKey: map[objKey][]netip.Addr{}}
}

// Lookup implements collect.Names.
func (n *endpointNames) Lookup(ip netip.Addr) (string, string, bool) {
	n.mu.RLock()
	defer n.mu.RUnlock()
	v, ok := n.byAddr[ip.Unmap()]
	return v[0], v[1], ok
}

// update records a WorkloadEndpoint (nil: deleted) and ignores other objects.
func (n *endpointNames) update(k objKey, obj model.Object) {
	wep, isWEP := obj.(*model.WorkloadEndpoint)
	if obj != nil && !isWEP {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, a := range n.byKey[k] {
		delete(n.byAddr, a)
	}
	delete(n.byKey, k)
	if wep == nil {
		return
	}
	name := wep.Spec.Pod
	if name == "" {
		name = wep.Name
	}
	var addrs []netip.Addr
	for _, s := range wep.Spec.IPNetworks {
		if p, err := netip.ParsePrefix(s); err == nil {
			addrs = append(addrs, p.Addr().Unmap())
			n.byAddr[p.Addr().Unmap()] = [2]string{wep.Namespace, name}
		}
	}
	n.byKey[k] = addrs
}
