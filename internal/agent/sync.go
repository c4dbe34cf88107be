package agent

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/trellisnet/trellis/internal/dataplane/nft"
	"github.com/trellisnet/trellis/internal/model"
	"github.com/trellisnet/trellis/internal/policy"
	"github.com/trellisnet/trellis/internal/runner"
	"github.com/trellisnet/trellis/internal/store"
)

// policyLoop is the agent's policy loop: it feeds what the watch recorded to the policy
// calculation, the service proxy and IPPool natOutgoing, renders the node's table, applies it in one
// transaction and writes EndpointStatus. Everything but the atomics and the recorder is
// owned by its runner's goroutine.
type policyLoop struct {
	flows   *flowLog // nil when flow logs are off
	cfg     Config
	st      store.Store
	dp      Dataplane
	log     *slog.Logger
	metrics *metrics
	health  *health
	rec     *recorder
	runner  *runner.Runner
	applier *nft.Applier
	// renderer renders incrementally: unchanged policies and sets reuse last sync's objects.
	renderer *nft.Renderer
	status   *model.Kind // EndpointStatus
	wep      *model.Kind // WorkloadEndpoint

	calc       *policy.Calculator
	applied    map[objKey]policy.Key
	localWEPs  map[objKey]string // local WorkloadEndpoints: UID
	statuses   map[objKey]string // EndpointStatus written by this node: endpoint UID
	loadedStat bool
	needFull   bool
	statRetry  bool
	// programmed publishes localWEPs after each successful sync (/endpoint); derived: the
	// store keeps Calico's Kubernetes data model, where no EndpointStatus is written.
	programmed *programmed
	derived    bool
	// Drift: foreign changes of the table reported by the monitor (drift.go).
	gens      *ownGens
	drifted   atomic.Bool // set by foreignChange, consumed by the runner
	lastDrift time.Time   // the last full sync for drift
	driftWake bool        // a trigger is scheduled for the end of driftMinInterval

	svc *serviceProxy // Services and EndpointSlices
	nat *natOutgoing  // IPPools: natOutgoing

	// FelixConfiguration: logPrefix by object name, the effective prefix (felix.go).
	felix       *model.Kind
	logPrefixes map[string]string
	logPrefix   string
}

func newPolicyLoop(cfg Config, st store.Store, dp Dataplane, log *slog.Logger, m *metrics, h *health, rec *recorder) *policyLoop {
	p := &policyLoop{cfg: cfg, st: st, dp: dp, log: log, metrics: m, health: h, rec: rec,
		// The policy loop's runner: a sync when woken (coalescing everything recorded
		// meanwhile, at most once per RateLimit), every ResyncPeriod (full) and after a
		// failure (full, after RetryPeriod).
		runner: runner.New(runner.Config{MinInterval: cfg.RateLimit, Resync: cfg.ResyncPeriod, Retry: cfg.RetryPeriod,
			Name: loopPolicy, Observer: m.loops}),
		renderer: nft.NewRenderer(nft.Config{IfPrefix: cfg.WorkloadPrefix, LogPrefix: cfg.LogPrefix, FlowLogGroup: cfg.FlowLogGroup,
			FlowMarkMask: cfg.FlowMarkMask}),
	}
	p.svc = newServiceProxy(cfg, dp.Services, m.reg, log)
	if cfg.FlowLogGroup != 0 {
		p.flows = newFlowLog(cfg, log.With("component", "flows"), m.reg, dp.FlowCounters, p.svc.frontends)
	}
	p.status = model.KindEndpointStatus
	p.programmed, p.derived = newProgrammed(), store.DerivedEndpoints(st)
	nftIf := dp.NFT
	if dp.Generation != nil {
		p.gens = &ownGens{gen: dp.Generation, onForeign: p.foreignChange, onBroken: p.brokenGens}
		nftIf = nft.WithRunHook(dp.NFT, p.gens.run)
	}
	p.applier = nft.NewApplier(nftIf)
	if p.gens != nil && dp.Monitor != nil {
		p.applier.SetVoucher(p.gens.vouch)
	}
	p.nat = newNATOutgoing(cfg, log)
	return p
}

// runLoop runs the policy loop until ctx ends.
func (p *policyLoop) runLoop(ctx context.Context) {
	p.runner.Run(ctx, func(ctx context.Context, why runner.Reason) error {
		if why == runner.Resync {
			p.needFull = true
		}
		p.health.busy(time.Now())
		defer p.health.idle()
		if !p.syncOnce(ctx) {
			return errRetry
		}
		return nil
	})
}

// errRetry tells the runner to retry a sync whose failure syncOnce has logged.
var errRetry = errors.New("sync failed")

// syncOnce feeds recorded changes to the calculation and, once in sync, programs the
// dataplane and reports endpoint status. It returns false when something must be retried.
func (p *policyLoop) syncOnce(ctx context.Context) bool {
	snap, newSnap, pending := p.rec.take()
	if newSnap {
		p.calc = policy.NewCalculator(policy.Options{Node: p.cfg.NodeName})
		if p.flows != nil {
			p.flows.reset(p.cfg.NodeName)
		}
		p.applied = map[objKey]policy.Key{}
		p.localWEPs = map[objKey]string{}
		p.loadedStat = false
		p.needFull = true
		p.svc.reset()
		p.nat.reset()
		p.logPrefixes = nil
		p.applyLogPrefix()
		for _, obj := range snap {
			if k, ok := keyOf(obj); ok {
				p.update(k, obj)
			}
		}
	}
	for k, obj := range pending {
		p.update(k, obj)
	}
	if p.calc == nil {
		return true // not in sync yet: program nothing
	}
	p.takeDrift()
	if !newSnap && len(pending) == 0 && !p.needFull && !p.statRetry && p.applier.Applied() != nil {
		return true
	}
	if !p.program(ctx) {
		return false
	}
	p.programmed.set(p.localWEPs)
	if p.derived {
		return true // the CNI plugin asks /endpoint instead of reading EndpointStatus
	}
	if err := p.syncStatuses(ctx); err != nil {
		p.log.Warn("write endpoint status failed; will retry", "err", err)
		p.metrics.storeErrors.Inc()
		p.statRetry = true
		return false
	}
	p.statRetry = false
	return true
}

// update applies one recorded object (nil: deleted) to the calculator.
func (p *policyLoop) update(k objKey, obj model.Object) {
	// A FelixConfiguration sets the log prefix here and the failsafe ports in the
	// calculation below: it must reach both.
	p.felixUpdate(k, obj)
	if p.flows != nil {
		p.flows.names.update(k, obj)
	}
	if p.svc.update(k, obj) {
		return
	}
	if p.nat.update(k, obj) {
		return
	}
	old, had := p.applied[k]
	if obj == nil {
		if had {
			p.calcDelete(old)
			delete(p.applied, k)
		}
		delete(p.localWEPs, k)
		return
	}
	r, err := policy.FromObject(obj)
	if err != nil || r == nil {
		if err != nil {
			p.log.Warn("ignoring object the calculation cannot read", "object", k.String(), "err", err)
			p.metrics.convertErrors.Inc()
		}
		if had {
			p.calcDelete(old)
			delete(p.applied, k)
		}
		delete(p.localWEPs, k)
		return
	}
	pk := r.Key()
	if had && old != pk {
		p.calcDelete(old)
	}
	p.calcUpdate(r)
	p.applied[k] = pk
	if wep, ok := obj.(*model.WorkloadEndpoint); ok && wep.Spec.Node == p.cfg.NodeName {
		p.localWEPs[k] = string(wep.UID)
	} else {
		delete(p.localWEPs, k)
	}
}

// program renders the calculator's state and applies it: a full sync when needed, a
// partial one otherwise. It reports success.
func (p *policyLoop) program(ctx context.Context) bool {
	start := time.Now()
	full := p.needFull || p.applier.Applied() == nil
	if d := p.calc.Changes(); !full && !d.All && len(d.Endpoints) == 0 && len(d.IPSets) == 0 && !p.svc.changed() && !p.nat.changed() {
		return true // nothing local changed (e.g. a remote endpoint no set selects)
	}
	st := p.calc.State()
	calcTook := time.Since(start)
	table := p.renderer.Render(st)
	if err := table.Merge(p.svc.render()); err != nil {
		p.needFull = true
		p.health.failed(err)
		p.log.Error("merge service proxy table failed", "err", err)
		return false
	}
	if err := table.Merge(p.nat.render()); err != nil {
		p.needFull = true
		p.health.failed(err)
		p.log.Error("merge nat outgoing table failed", "err", err)
		return false
	}
	renderTook := time.Since(start) - calcTook
	var res nft.Result
	var err error
	if full {
		res, err = p.applier.FullSync(ctx, table)
	} else {
		res, err = p.applier.Apply(ctx, table)
	}
	took := time.Since(start)
	p.metrics.phaseDuration.WithLabelValues("calculate").Observe(calcTook.Seconds())
	p.metrics.phaseDuration.WithLabelValues("render").Observe(renderTook.Seconds())
	p.metrics.phaseDuration.WithLabelValues("apply").Observe((took - calcTook - renderTook).Seconds())
	kind := "partial"
	if full {
		kind = "full"
	}
	p.metrics.observeSync(kind, took, err)
	if err != nil {
		p.needFull = true
		p.health.failed(err)
		if ctx.Err() == nil {
			p.log.Error("sync nftables failed; full sync after retry period", "sync", kind, "err", err)
		}
		return false
	}
	p.needFull = false
	if p.flows != nil {
		p.flows.programmed(st, p.renderer.FlowMarks())
	}
	p.svc.programmed(ctx)
	if full {
		p.loadedStat = false // re-read statuses too: rewrite any that were deleted behind our back
	}
	tiers := map[string]string{}
	for _, pol := range st.Policies {
		tiers[pol.ID.Short()] = pol.Tier
	}
	snap := syncSnapshot{
		at: start, took: took, kind: kind, operations: res.Operations,
		endpoints: len(st.Endpoints), policies: len(st.Policies), stats: res.Table, tiers: tiers,
		services: p.svc.counts,
	}
	p.health.succeeded(snap)
	p.metrics.observeState(snap)
	p.log.Debug("synced nftables", "sync", kind, "operations", res.Operations, "took", took,
		"calculate", calcTook, "render", renderTook, "nft", res.Duration,
		"endpoints", snap.endpoints, "policies", snap.policies)
	return true
}

// calcUpdate feeds an input to the calculation, and to the staged view when flow logs
// keep one.
func (p *policyLoop) calcUpdate(r policy.Resource) {
	p.calc.Update(r)
	if p.flows != nil {
		p.flows.stagedUpdate(r)
	}
}

// calcDelete removes an input from the calculation and the staged view.
func (p *policyLoop) calcDelete(key policy.Key) {
	p.calc.Delete(key)
	if p.flows != nil {
		p.flows.stagedDelete(key)
	}
}
