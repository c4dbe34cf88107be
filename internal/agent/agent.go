package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"

	"sigs.k8s.io/knftables"

	"github.com/trellisnet/trellis/internal/agent/routing"
	"github.com/trellisnet/trellis/internal/flow/collect"
	"github.com/trellisnet/trellis/internal/ipam/ipamstore"
	"github.com/trellisnet/trellis/internal/model"
	"github.com/trellisnet/trellis/internal/policy"
	"github.com/trellisnet/trellis/internal/store"
	"github.com/trellisnet/trellis/internal/store/reach"
)

// MonitorReport receives what Dataplane.Monitor sees.
type MonitorReport struct {
	Changed func(gen uint32)
	Clean   func(gen uint32)
}

// Dataplane is the agent's access to its nftables table.
type Dataplane struct {
	// NFT is bound to the owned inet table (the real nft, possibly inside a namespace, or
	// knftables.Fake in unit tests).
	NFT knftables.Interface
	// Counters reads the rule counters of the table for /metrics; nil: no rule metrics.
	Counters CounterReader
	// Monitor, when set, runs until ctx ends and reports each committed nftables
	// transaction: Changed with the generation of one that touched the table (0: unknown),
	// Clean with one seen whole that did not (no notification lost since the previous
	// one). Together with Generation it lets the agent repair foreign changes within a
	// second instead of at the next periodic resync, and lets a full sync skip reading the
	// kernel after changes to other tables only.
	Monitor func(ctx context.Context, r MonitorReport) error
	// Generation reads the kernel's nftables generation (its count of committed
	// transactions); the agent reads it around each of its own transactions to tell their
	// echo from foreign changes. Monitor is used only when Generation is set.
	Generation func() (uint32, error)
	// Services reaches the node's namespace for the service proxy (health-check node
	// ports, conntrack); zero: those features are off.
	Services ServiceHost
	// FlowLog opens the reader of an NFLOG group in the node's namespace; nil: flow logs
	// are not available (Config.FlowLogGroup is then ignored with a warning).
	FlowLog func(group uint16) (FlowReader, error)
	// FlowCounters dumps the node namespace's conntrack table with its counters (for the
	// packets and bytes of allowed flows); nil: allowed flows report none.
	FlowCounters func() ([]collect.ConnCounters, error)
}

// CounterReader reads the counters of the table's rules.
type CounterReader func(ctx context.Context) ([]RuleCounter, error)

// RuleCounter is the counter of one nft rule, identified by the comment the renderer gave it.
type RuleCounter struct {
	Comment string
	Packets uint64
	Bytes   uint64
}

// objKey identifies a stored object.
type objKey struct {
	kind      *model.Kind
	namespace string
	name      string
}

// Agent is one node agent. Create it with New and start it with Run. It owns the watch,
// health, metrics and the status server, and runs the loops: policy (with the service
// proxy), routing and the IPAM leak collector.
type Agent struct {
	cfg     Config
	st      store.Store
	dp      Dataplane
	log     *slog.Logger
	kinds   []*model.Kind        // listed and watched for the calculation
	wanted  map[*model.Kind]bool // the same, as a set
	metrics *metrics
	health  health

	reach   *reach.Monitor  // is the datastore reachable
	rec     *recorder       // written by the watch goroutine, read by the policy loop
	policy  *policyLoop     // policy and services: the nftables table
	routing *routing.Router // nil when Config.Routing is RoutingOff
}

// New returns an agent for cfg over the store and the dataplane. It does no I/O and starts
// no goroutines.
func New(cfg Config, st store.Store, dp Dataplane, log *slog.Logger) *Agent {
	cfg = cfg.withDefaults()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	a := &Agent{cfg: cfg, st: st, dp: dp, log: log, wanted: map[*model.Kind]bool{}, rec: newRecorder()}
	a.kinds = append(calculationKinds(), serviceKinds()...)
	felix := felixKind()
	for _, k := range []*model.Kind{felix, model.KindIPPool} { // FelixConfiguration; IPPool for natOutgoing
		if k != nil && !slices.Contains(a.kinds, k) {
			a.kinds = append(a.kinds, k)
		}
	}
	for _, k := range a.kinds {
		a.wanted[k] = true
	}
	a.reach = reach.New(reach.Config{Endpoint: cfg.DatastoreEndpoint}, st, log.With("component", "datastore"))
	a.metrics = newMetrics(a)
	a.policy = newPolicyLoop(cfg, st, dp, log, a.metrics, &a.health, a.rec)
	a.policy.felix, a.policy.wep = felix, wepKind(a.kinds)
	if cfg.Routing != RoutingOff {
		a.routing = routing.New(routing.Config{NodeName: cfg.NodeName, ResyncPeriod: cfg.ResyncPeriod,
			RateLimit: cfg.RateLimit, RetryPeriod: cfg.RetryPeriod, Name: loopRouting, Observer: a.metrics.loops},
			st, log.With("component", "routing"))
		a.metrics.loops.Declare(loopRouting)
	}
	a.metrics.loops.Declare(loopPolicy)
	return a
}

// The agent's loop names in trellis_loop_* metrics.
const (
	loopPolicy  = "policy"
	loopRouting = "routing"
)

// calculationKinds are the registered kinds policy.FromObject converts, except Pod: the
// agent enforces WorkloadEndpoints (written by the CNI plugin), and a Pod converts to the
// same endpoint key as its WorkloadEndpoint.
func calculationKinds() []*model.Kind {
	var out []*model.Kind
	for _, k := range model.Default.Kinds() {
		if k.Group == "" && k.Kind == "Pod" {
			continue
		}
		if policy.Reads(k) {
			out = append(out, k)
		}
	}
	return out
}

// Run lists, watches, calculates and programs until ctx ends. It serves health, metrics
// and status while it runs. The nftables table stays when Run returns (fail static).
func (a *Agent) Run(ctx context.Context) error {
	if a.cfg.NodeName == "" {
		return errors.New("run node agent: node name is required")
	}
	if a.policy.status == nil {
		return errors.New("run node agent: kind EndpointStatus is not registered")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	srv, err := a.serve(ctx)
	if err != nil {
		return err
	}
	defer srv.close()
	a.log.Info("node agent starting", "node", a.cfg.NodeName, "table", a.cfg.TableName,
		"resyncPeriod", a.cfg.ResyncPeriod, "rateLimit", a.cfg.RateLimit,
		"healthAddr", srv.tcpAddr(), "metricsAddr", srv.metricsAddr(), "statusSocket", srv.socketPath())
	var wg sync.WaitGroup
	wg.Go(func() { a.reach.Run(ctx) })
	wg.Add(1)
	go func() {
		defer wg.Done()
		a.watchLoop(ctx)
	}()
	if a.cfg.IPAMLeakGrace > 0 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			collector := ipamstore.NewCollector(a.st, a.cfg.IPAMLeakGrace, ipamstore.DefaultLeakInterval, a.log.With("component", "ipam-leak-collector"))
			if err := collector.Run(ctx); err != nil && ctx.Err() == nil {
				a.log.Error("ipam leak collector stopped", "err", err)
			}
		}()
	}
	if a.cfg.BGPIPv4Address != "" {
		wg.Go(func() { a.registerLoop(ctx) })
	}
	if a.routing != nil {
		wg.Go(func() { a.routing.Run(ctx) })
	}
	if a.dp.Monitor != nil && a.policy.gens != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a.policy.monitorLoop(ctx)
		}()
	}
	if a.policy.flows != nil {
		if a.dp.FlowLog == nil {
			a.log.Warn("flow logs off: this dataplane cannot read an NFLOG group", "group", a.cfg.FlowLogGroup)
		} else {
			wg.Go(func() { a.policy.flows.run(ctx, a.dp.FlowLog) })
		}
	}
	a.policy.runLoop(ctx)
	a.policy.svc.stop()
	cancel()
	wg.Wait()
	a.log.Info("node agent stopped; nftables table left in place", "table", a.cfg.TableName)
	return nil
}

// poke wakes the policy loop without blocking.
func (a *Agent) poke() { a.policy.runner.Trigger() }

func keyOf(obj model.Object) (objKey, bool) {
	k, ok := model.KeyOf(obj)
	if !ok {
		return objKey{}, false
	}
	return objKey{kind: k.Kind, namespace: k.Namespace, name: k.Name}, true
}

func (k objKey) String() string {
	if k.namespace == "" {
		return fmt.Sprintf("%s %s", k.kind.Kind, k.name)
	}
	return fmt.Sprintf("%s %s/%s", k.kind.Kind, k.namespace, k.name)
}
