package agent

import (
	"context"
	"errors"
	"time"

	"github.com/trellisnet/trellis/internal/dataplane/nft"
	"github.com/trellisnet/trellis/internal/model"
	"github.com/trellisnet/trellis/internal/policy"
	"github.com/trellisnet/trellis/internal/runner"
)

// newRunner is the policy loop's runner: a sync when woken (coalescing everything recorded
// meanwhile, at most once per RateLimit), every ResyncPeriod (full) and after a failure
// (full, after RetryPeriod).
func newRunner(cfg Config) *runner.Runner {
	return runner.New(runner.Config{MinInterval: cfg.RateLimit, Resync: cfg.ResyncPeriod, Retry: cfg.RetryPeriod})
}

// runLoop runs the policy loop until ctx ends.
func (a *Agent) runLoop(ctx context.Context) {
	a.runner.Run(ctx, func(ctx context.Context, why runner.Reason) error {
		if why == runner.Resync {
			a.needFull = true
		}
		a.health.busy(time.Now())
		defer a.health.idle()
		if !a.syncOnce(ctx) {
			return errRetry
		}
		return nil
	})
}

// errRetry tells the runner to retry a sync whose failure syncOnce has logged.
var errRetry = errors.New("sync failed")

// takeRecorded returns what the watch goroutine recorded since the last call.
func (a *Agent) takeRecorded() (snap []model.Object, newSnap bool, pending map[objKey]model.Object) {
	a.mu.Lock()
	defer a.mu.Unlock()
	snap, newSnap, pending = a.snapshot, a.newSnap, a.pending
	a.snapshot, a.newSnap = nil, false
	a.pending = map[objKey]model.Object{}
	return snap, newSnap, pending
}

// syncOnce feeds recorded changes to the calculation and, once in sync, programs the
// dataplane and reports endpoint status. It returns false when something must be retried.
func (a *Agent) syncOnce(ctx context.Context) bool {
	snap, newSnap, pending := a.takeRecorded()
	if newSnap {
		a.calc = policy.NewCalculator(policy.Options{Node: a.cfg.NodeName})
		a.applied = map[objKey]policy.Key{}
		a.localWEPs = map[objKey]string{}
		a.loadedStat = false
		a.needFull = true
		a.svc.reset()
		a.logPrefixes = nil
		a.applyLogPrefix()
		for _, obj := range snap {
			if k, ok := keyOf(obj); ok {
				a.update(k, obj)
			}
		}
	}
	for k, obj := range pending {
		a.update(k, obj)
	}
	if a.calc == nil {
		return true // not in sync yet: program nothing
	}
	if a.checkDrift.Swap(false) && !a.needFull && a.applier.Applied() != nil {
		a.detectDrift(ctx)
	}
	if !newSnap && len(pending) == 0 && !a.needFull && !a.statRetry && a.applier.Applied() != nil {
		return true
	}
	if !a.program(ctx) {
		return false
	}
	if err := a.syncStatuses(ctx); err != nil {
		a.log.Warn("write endpoint status failed; will retry", "err", err)
		a.metrics.storeErrors.Inc()
		a.statRetry = true
		return false
	}
	a.statRetry = false
	return true
}

// update applies one recorded object (nil: deleted) to the calculator.
func (a *Agent) update(k objKey, obj model.Object) {
	if a.felixUpdate(k, obj) {
		return
	}
	if a.svc.update(k, obj) {
		return
	}
	old, had := a.applied[k]
	if obj == nil {
		if had {
			a.calc.Delete(old)
			delete(a.applied, k)
		}
		delete(a.localWEPs, k)
		return
	}
	r, err := policy.FromObject(obj)
	if err != nil || r == nil {
		if err != nil {
			a.log.Warn("ignoring object the calculation cannot read", "object", k.String(), "err", err)
			a.metrics.convertErrors.Inc()
		}
		if had {
			a.calc.Delete(old)
			delete(a.applied, k)
		}
		delete(a.localWEPs, k)
		return
	}
	pk := r.Key()
	if had && old != pk {
		a.calc.Delete(old)
	}
	a.calc.Update(r)
	a.applied[k] = pk
	if wep, ok := obj.(*model.WorkloadEndpoint); ok && wep.Spec.Node == a.cfg.NodeName {
		a.localWEPs[k] = string(wep.UID)
	} else {
		delete(a.localWEPs, k)
	}
}

// program renders the calculator's state and applies it: a full sync when needed, a
// partial one otherwise. It reports success.
func (a *Agent) program(ctx context.Context) bool {
	start := time.Now()
	full := a.needFull || a.applier.Applied() == nil
	if d := a.calc.Changes(); !full && !d.All && len(d.Endpoints) == 0 && len(d.IPSets) == 0 && !a.svc.changed() {
		return true // nothing local changed (e.g. a remote endpoint no set selects)
	}
	st := a.calc.State()
	calcTook := time.Since(start)
	table := a.renderer.Render(st)
	if err := table.Merge(a.svc.render()); err != nil {
		a.needFull = true
		a.health.failed(err)
		a.log.Error("merge service proxy table failed", "err", err)
		return false
	}
	renderTook := time.Since(start) - calcTook
	var res nft.Result
	var err error
	a.applying.Store(true)
	if full {
		res, err = a.applier.FullSync(ctx, table)
	} else {
		res, err = a.applier.Apply(ctx, table)
	}
	a.ownUntil.Store(time.Now().Add(ownEventGrace).UnixNano())
	a.applying.Store(false)
	took := time.Since(start)
	a.metrics.phaseDuration.WithLabelValues("calculate").Observe(calcTook.Seconds())
	a.metrics.phaseDuration.WithLabelValues("render").Observe(renderTook.Seconds())
	a.metrics.phaseDuration.WithLabelValues("apply").Observe((took - calcTook - renderTook).Seconds())
	kind := "partial"
	if full {
		kind = "full"
	}
	a.metrics.observeSync(kind, took, err)
	if err != nil {
		a.needFull = true
		a.health.failed(err)
		if ctx.Err() == nil {
			a.log.Error("sync nftables failed; full sync after retry period", "sync", kind, "err", err)
		}
		return false
	}
	a.needFull = false
	a.svc.programmed(ctx)
	if full {
		a.loadedStat = false // re-read statuses too: rewrite any that were deleted behind our back
	}
	tiers := map[string]string{}
	for _, p := range st.Policies {
		tiers[p.ID.Short()] = p.Tier
	}
	snap := syncSnapshot{
		at: start, took: took, kind: kind, operations: res.Operations,
		endpoints: len(st.Endpoints), policies: len(st.Policies), stats: res.Table, tiers: tiers,
		services: a.svc.counts,
	}
	a.health.succeeded(snap)
	a.metrics.observeState(snap)
	a.log.Debug("synced nftables", "sync", kind, "operations", res.Operations, "took", took,
		"calculate", calcTook, "render", renderTook, "nft", res.Duration,
		"endpoints", snap.endpoints, "policies", snap.policies)
	return true
}
