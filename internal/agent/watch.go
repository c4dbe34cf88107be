package agent

import (
	"context"
	"fmt"
	"sync"

	"github.com/trellisnet/trellis/internal/model"
	"github.com/trellisnet/trellis/internal/runner"
	"github.com/trellisnet/trellis/internal/store"
)

// watchLoop lists every calculation kind, hands the snapshot to the runner, then watches
// all kinds from the first list's revision, recording changes. It lists again whenever the
// watch reports EventResync or ends unexpectedly. Watching from the first (oldest) list
// revision may replay changes a later list already saw; replaying them in order ends in
// the same state, so nothing is lost and nothing is wrong.
func (a *Agent) watchLoop(ctx context.Context) {
	for ctx.Err() == nil {
		rev, err := a.listAll(ctx)
		if err != nil {
			a.reach.Observe(err)
			a.log.Warn("list datastore failed; retrying", "endpoint", a.cfg.DatastoreEndpoint, "err", err)
			a.metrics.storeErrors.Inc()
			if !runner.Sleep(ctx, a.cfg.RetryPeriod) {
				return
			}
			continue
		}
		w, err := a.st.Watch(ctx, nil, store.WatchOptions{Revision: rev})
		if err != nil {
			a.reach.Observe(err)
			a.log.Warn("watch datastore failed; listing again", "endpoint", a.cfg.DatastoreEndpoint, "err", err)
			a.metrics.storeErrors.Inc()
			if !runner.Sleep(ctx, a.cfg.RetryPeriod) {
				return
			}
			continue
		}
		a.consume(ctx, w)
		w.Stop()
	}
}

// listAll lists every calculation kind and records the snapshot; it returns the revision
// of the first list.
func (a *Agent) listAll(ctx context.Context) (string, error) {
	var items []model.Object
	first := ""
	for i, k := range a.kinds {
		res, err := a.st.List(ctx, k, store.ListOptions{})
		if err != nil {
			return "", fmt.Errorf("list %s: %w", k.Resource(), err)
		}
		if i == 0 {
			first = res.Revision
		}
		items = append(items, res.Items...)
	}
	a.rec.setSnapshot(items)
	if a.routing != nil {
		// Changes between the routing loop's own list and this watch are not reported:
		// after every (re)list the routing loop lists its kinds again too.
		a.routing.Relisted()
	}
	a.log.Info("datastore listed", "objects", len(items), "revision", first)
	a.poke()
	return first, nil
}

// consume records watch events until the watch ends (EventResync, closed channel, the
// datastore answering again after being unreachable, or the end of ctx).
func (a *Agent) consume(ctx context.Context, w store.Watch) {
	back := a.reach.Back()
	for {
		select {
		case <-ctx.Done():
			return
		case <-back:
			return // the monitor logged it; list again and re-watch
		case ev, ok := <-w.Events():
			if !ok {
				if ctx.Err() == nil {
					a.log.Warn("datastore watch ended; listing again")
				}
				return
			}
			if ev.Type == store.EventResync {
				a.reach.Observe(ev.Err)
				a.log.Info("datastore watch lost history; listing again", "err", ev.Err)
				return
			}
			a.record(ev)
		}
	}
}

// record keeps the latest state of one object and wakes the runner; it does no other work.
func (a *Agent) record(ev store.Event) {
	if ev.Object == nil {
		return
	}
	k, ok := keyOf(ev.Object)
	if ok && a.routing != nil {
		a.routing.Changed(k.kind)
	}
	if !ok || !a.wanted[k.kind] {
		return
	}
	if ev.Type == store.EventDeleted {
		a.rec.set(k, nil)
	} else {
		a.rec.set(k, ev.Object)
	}
	a.metrics.events.Inc()
	a.poke()
}

// recorder holds what the watch goroutine recorded for the policy loop: the latest state of
// each changed object, or a complete (re)list that supersedes them. Safe for concurrent use.
type recorder struct {
	mu       sync.Mutex
	pending  map[objKey]model.Object // nil: deleted
	snapshot []model.Object          // a complete (re)list, superseding pending
	newSnap  bool
}

func newRecorder() *recorder { return &recorder{pending: map[objKey]model.Object{}} }

// setSnapshot records a complete list, dropping the changes recorded before it.
func (r *recorder) setSnapshot(items []model.Object) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.snapshot, r.newSnap = items, true
	r.pending = map[objKey]model.Object{}
}

// set records the latest state of one object (nil: deleted).
func (r *recorder) set(k objKey, obj model.Object) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pending[k] = obj
}

// take returns what was recorded since the last call.
func (r *recorder) take() (snap []model.Object, newSnap bool, pending map[objKey]model.Object) {
	r.mu.Lock()
	defer r.mu.Unlock()
	snap, newSnap, pending = r.snapshot, r.newSnap, r.pending
	r.snapshot, r.newSnap = nil, false
	r.pending = map[objKey]model.Object{}
	return snap, newSnap, pending
}
